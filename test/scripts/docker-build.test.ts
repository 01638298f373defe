import { randomBytes } from "node:crypto";
import Docker from "dockerode";
import { statSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { buildEservelessImage, mainProcessIds, runEservelessContainer, runScript } from "../support/eserveless-image.js";

// `npm run docker:build -- TAG --from-host` on this machine (no registry: the
// base is the eserveless-local/node stand-in, dist/ and node_modules/ are the
// checkout's), then the image run as the README runs it on the host's engine.

const docker = new Docker();
const suffix = randomBytes(4).toString("hex");
const tag = `eserveless-test-image:${suffix}`;
const name = `eserveless-test-image-${suffix}`;
const dataVolume = `${name}-data`;
const containers: Docker.Container[] = [];

async function health(port: string): Promise<{ status: number; body: { status?: string; docker?: string } } | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2_000) });
    return { status: response.status, body: (await response.json()) as { status?: string; docker?: string } };
  } catch {
    return undefined;
  }
}

async function publishedPort(container: Docker.Container): Promise<{ ip: string; port: string }> {
  const binding = (await container.inspect()).NetworkSettings.Ports["3000/tcp"]?.[0];
  if (!binding) throw new Error("port 3000 is not published");
  return { ip: binding.HostIp, port: binding.HostPort };
}

beforeAll(async () => {
  await buildEservelessImage(tag);
});

afterAll(async () => {
  for (const container of containers) await container.remove({ force: true, v: true }).catch(() => undefined);
  await docker.getVolume(dataVolume).remove().catch(() => undefined);
  await docker.getImage(tag).remove({ force: true }).catch(() => undefined);
});

describe("npm run docker:build", () => {
  it("makes an image that serves its health endpoint on a published 127.0.0.1 port, as a user other than root", async () => {
    const dockerGid = String(statSync("/var/run/docker.sock").gid);
    const container = await runEservelessContainer(docker, {
      image: tag,
      name,
      dataVolume,
      dockerGid,
      env: { ESERVELESS_ADMIN_TOKEN: randomBytes(16).toString("hex"), PUBLIC_URL: "http://127.0.0.1:3000" },
    });
    containers.push(container);
    const { ip, port } = await publishedPort(container);
    expect(ip).toBe("127.0.0.1");

    const answer = await eventually("the container's /healthz", () => health(port), { timeoutMs: 30_000 });
    // Docker answers through the socket's group, without root.
    expect(answer).toEqual({ status: 200, body: expect.objectContaining({ status: "ok", docker: "ok" }) });

    const ids = await mainProcessIds(container);
    expect(ids.uid).not.toBe(0);
    expect(ids.gid).not.toBe(0);
    expect(ids.groups).toContain(Number(dockerGid));
    expect((await container.inspect()).HostConfig.RestartPolicy?.Name).toBe("unless-stopped");
  });

  it("refuses a tag that is not an image name, saying so, and builds nothing", async () => {
    const error = await runScript("docker-build.sh", ["Not An Image;rm", "--from-host"]).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain("is not an image name");
  });
});
