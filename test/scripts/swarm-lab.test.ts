import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { Readable } from "node:stream";
import Docker from "dockerode";
import { pack } from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { buildEservelessImage, mainProcessIds, runScript } from "../support/eserveless-image.js";
import { nodeDocker, swarmLabDown, swarmLabLoad, swarmLabUp, type SwarmLab } from "../support/swarm-lab.js";
import { testImages } from "../support/wire-app.js";

// scripts/swarm-lab.sh on the host's engine: a manager, two workers and a
// registry as docker-in-docker nodes, the eserveless image that
// `npm run docker:build` makes running on the manager, and `down` leaving
// nothing of the lab behind, whatever happened before it.

const suffix = randomBytes(4).toString("hex");
const name = `lab-test-${suffix}`;
const image = `eserveless-test-lab:${suffix}`;
const host = new Docker();
let lab: SwarmLab;
let manager: Docker;

/** Everything on the host's engine whose name starts with the lab's prefix. */
async function leftovers(): Promise<string[]> {
  const prefix = `${name}-`;
  const containers = (await host.listContainers({ all: true })).flatMap((c) => c.Names.map((n) => n.replace(/^\//, "")));
  const volumes = (await host.listVolumes()).Volumes.map((v) => v.Name);
  const networks = (await host.listNetworks()).map((n) => n.Name);
  return [...containers, ...volumes, ...networks].filter((n) => n.startsWith(prefix));
}

function followProgress(docker: Docker, stream: NodeJS.ReadableStream): Promise<Array<{ error?: string; aux?: { Digest?: string } }>> {
  return new Promise((resolve, reject) => docker.modem.followProgress(stream, (error: Error | null, events: Array<{ error?: string; aux?: { Digest?: string } }>) => (error ? reject(error) : resolve(events))));
}

/**
 * A server that answers with its container's hostname and its NoNewPrivs flag,
 * built on the manager from a context of one Dockerfile.
 */
async function buildHello(docker: Docker, tag: string): Promise<void> {
  const tar = pack();
  const server =
    `require("http").createServer((q, s) => s.end(require("os").hostname() + " " + /NoNewPrivs:\\s*(\\d)/.exec(require("fs").readFileSync("/proc/self/status", "utf8"))[1])).listen(8080)`;
  tar.entry({ name: "Dockerfile" }, `FROM ${testImages.ESERVELESS_NODE_IMAGE}\nUSER 65534:65534\nCMD ["node", "-e", ${JSON.stringify(server)}]\n`);
  tar.finalize();
  const events = await followProgress(docker, await docker.buildImage(Readable.from(tar), { t: tag }));
  const failure = events.find((e) => e.error);
  if (failure) throw new Error(`build failed: ${failure.error}`);
}

async function push(docker: Docker, repository: string, tag: string): Promise<string> {
  const events = await followProgress(docker, await docker.getImage(`${repository}:${tag}`).push({ tag, authconfig: {} }));
  const failure = events.find((e) => e.error);
  if (failure) throw new Error(`push failed: ${failure.error}`);
  const digest = events.find((e) => e.aux?.Digest)?.aux?.Digest;
  if (!digest) throw new Error("the push reported no digest");
  return digest;
}

/** The sh block of the README's "A lab on one machine" that starts eserveless on the manager. */
function readmeLabRun(): string {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const section = readme.split(/^### A lab on one machine$/m)[1]?.split(/^##/m)[0] ?? "";
  const block = [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]!).find((b) => b.includes("docker run"));
  if (!block) throw new Error('README.md has no ```sh block with "docker run" under "### A lab on one machine"');
  return block;
}

/** Runs a README block in bash with `env` added; resolves with its stdout. */
function runReadmeBlock(block: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("bash", ["-euo", "pipefail", "-c", block], { env: { ...process.env, ...env }, timeout: 60_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`the README's block failed: ${stderr}`)) : resolve(stdout),
    );
  });
}

beforeAll(async () => {
  await buildEservelessImage(image);
  lab = await swarmLabUp(name);
  manager = nodeDocker(lab.managerSocket);
  // Function builds on the manager start from the base images; nothing can be pulled.
  await swarmLabLoad(name, [image, testImages.ESERVELESS_NODE_IMAGE]);
});

afterAll(async () => {
  await swarmLabDown(name);
  await host.getImage(image).remove({ force: true }).catch(() => undefined);
});

describe("scripts/swarm-lab.sh", () => {
  it("makes a swarm of a manager and two workers, all Ready", async () => {
    const nodes = await manager.listNodes();
    expect(nodes.map((n) => n.Status?.State)).toEqual(["ready", "ready", "ready"]);
    expect(nodes.map((n) => n.Spec?.Role).sort()).toEqual(["manager", "worker", "worker"]);
    expect(nodes.map((n) => n.Description?.Hostname).sort()).toEqual([lab.managerContainer, ...lab.workerContainers].sort());
    for (const socket of [lab.managerSocket, ...lab.workerSockets]) expect((await nodeDocker(socket).info()).Swarm.LocalNodeState).toBe("active");
  });

  it("refuses a second lab of the same name, and leaves the first one running", async () => {
    const error = await runScript("swarm-lab.sh", ["up", "--name", name]).catch((e: Error) => e);
    expect((error as Error).message).toContain(`a lab named '${name}' exists`);
    expect((await manager.listNodes()).filter((n) => n.Status?.State === "ready")).toHaveLength(3);
  });

  it("has a registry every node pulls from: 3 replicas by digest, dnsrr on the overlay, spread over nodes, answering, without new privileges", async () => {
    const repository = `${lab.registry}/lab-hello`;
    await buildHello(manager, `${repository}:1`);
    const digest = await push(manager, repository, "1");
    const service = await manager.createService({
      Name: `lab-hello-${suffix}`,
      TaskTemplate: { ContainerSpec: { Image: `${repository}@${digest}` }, Networks: [{ Target: lab.overlay }] },
      Mode: { Replicated: { Replicas: 3 } },
      EndpointSpec: { Mode: "dnsrr" },
    });
    const tasks = await eventually(
      "3 running tasks",
      async () => {
        const running = (await manager.listTasks({ filters: { service: [service.id], "desired-state": ["running"] } })).filter((t) => t.Status?.State === "running");
        return running.length === 3 ? running : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    expect(new Set(tasks.map((t) => t.NodeID)).size).toBeGreaterThanOrEqual(2);

    // From a container on the manager joined to the overlay, each task's address answers with its own
    // name; each runs with no_new_privs, which services only get from the node's dockerd flag.
    const addresses = tasks.map((t) => (t.NetworksAttachments as Array<{ Addresses: string[] }>).flatMap((a) => a.Addresses)[0]!.split("/")[0]!);
    const probe = `Promise.all(${JSON.stringify(addresses)}.map((a) => fetch("http://" + a + ":8080/", { signal: AbortSignal.timeout(5000) }).then((r) => r.text()))).then((names) => console.log(JSON.stringify(names)))`;
    const container = await manager.createContainer({ Image: testImages.ESERVELESS_NODE_IMAGE, Cmd: ["node", "-e", probe], HostConfig: { NetworkMode: lab.overlay } });
    try {
      await container.start();
      expect((await container.wait()).StatusCode).toBe(0);
      const output = (await container.logs({ stdout: true, stderr: true })).toString("utf8");
      const answers = JSON.parse(/\[.*\]/.exec(output)![0]) as string[];
      expect(new Set(answers.map((a) => a.split(" ")[0])).size).toBe(3);
      expect(answers.map((a) => a.split(" ")[1])).toEqual(["1", "1", "1"]);
    } finally {
      await container.remove({ force: true });
      await manager.getService(service.id).remove();
    }
  });

  it("runs eserveless from the docker:build image on the manager as the README says, answering on the published 127.0.0.1 port as a user other than root", async () => {
    // The README's lab runs the image as eserveless:latest; this one is that name inside the lab only.
    await manager.getImage(image).tag({ repo: "eserveless", tag: "latest" });
    const id = await runReadmeBlock(readmeLabRun(), {
      SWARM_LAB_DOCKER_HOST: `unix://${lab.managerSocket}`,
      SWARM_LAB_DOCKER_GID: lab.dockerGid,
      SWARM_LAB_REGISTRY: lab.registry,
      SWARM_LAB_SERVER_URL: lab.serverUrl,
      ESERVELESS_ADMIN_TOKEN: randomBytes(16).toString("hex"),
    });
    const container = manager.getContainer(id.trim());
    expect((await container.inspect()).HostConfig.RestartPolicy?.Name).toBe("unless-stopped");
    expect(new URL(lab.serverUrl).hostname).toBe("127.0.0.1");
    const health = await eventually(
      "eserveless's /healthz through the manager's published port",
      async () => {
        const response = await fetch(`${lab.serverUrl}/healthz`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
        return response && { status: response.status, body: (await response.json()) as Record<string, unknown> };
      },
      { timeoutMs: 30_000 },
    );
    expect(health).toEqual({ status: 200, body: expect.objectContaining({ docker: "ok" }) });
    expect((await mainProcessIds(container)).uid).not.toBe(0);
  });

  it("down removes every container, volume and network of the lab", async () => {
    expect(await leftovers()).not.toEqual([]);
    await swarmLabDown(name);
    expect(await leftovers()).toEqual([]);
  });
});
