import Docker from "dockerode";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImagePusher, pushImage, splitReference } from "../../src/image/push-image.js";
import { UpstreamError } from "../../src/errors.js";

// The host's real engine pushing to a "registry" on 127.0.0.1 that is not one:
// a port that refuses, and a server that closes every connection.

const docker = new Docker();
const suffix = randomBytes(4).toString("hex");
const image = `eserveless-test-push/${suffix}:v1`;
const base = process.env.ESERVELESS_NODE_IMAGE ?? "eserveless-local/node:20";
let closer: Server;
let refusedPort = 0;
const made: string[] = [image];

beforeAll(async () => {
  await docker.getImage(base).tag({ repo: `eserveless-test-push/${suffix}`, tag: "v1" });
  closer = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => closer.listen(0, "127.0.0.1", resolve));
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  refusedPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
});

afterAll(async () => {
  closer.close();
  for (const name of made) await docker.getImage(name).remove({ noprune: true }).catch(() => undefined);
});

describe("pushImage", () => {
  it("fails with an UpstreamError naming the image and ESERVELESS_REGISTRY when the registry cannot be reached", async () => {
    for (const registry of [`127.0.0.1:${refusedPort}`, `127.0.0.1:${(closer.address() as AddressInfo).port}`]) {
      made.push(`${registry}/eserveless-test-push/${suffix}:v1`);
      const error = await pushImage(docker, image, registry).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(UpstreamError);
      expect((error as UpstreamError).code).toBe("push_failed");
      expect((error as Error).message).toContain(`Could not push ${image} to the registry ${registry} (ESERVELESS_REGISTRY): `);
    }
  });

  it("tries again after a failed push instead of remembering the failure", async () => {
    const registry = `127.0.0.1:${refusedPort}`;
    const pusher = new ImagePusher(docker, registry);
    await expect(pusher.reference(image)).rejects.toThrow(/Could not push/);
    await expect(pusher.reference(image)).rejects.toThrow(/Could not push/);
    expect(await pusher.reference(`${registry}/x@sha256:${"0".repeat(64)}`)).toBe(`${registry}/x@sha256:${"0".repeat(64)}`);
  });

  it("splits a reference at its tag, not at a registry's port", () => {
    expect(splitReference("eserveless/o/r:abc-1")).toEqual({ repository: "eserveless/o/r", tag: "abc-1" });
    expect(splitReference("registry.internal:5000/o/r")).toEqual({ repository: "registry.internal:5000/o/r", tag: "latest" });
  });
});
