import Docker from "dockerode";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitUntilReady } from "../../src/run/readiness.js";
import { SOCKET_FILE, SOCKET_MOUNT, SocketDirs } from "../../src/run/socket-dirs.js";
import { testImages } from "../support/start-eserveless.js";

// A cold start waits for the runtime's socket to appear: the router must
// notice it when it appears, not at its next poll, and still check the
// folder before it connects.

const docker = new Docker();
const LABEL = `dev.eserveless.test-readiness=${randomBytes(4).toString("hex")}`;
let root: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "eserveless-readiness-"));
});

afterAll(async () => {
  const left = await docker.listContainers({ all: true, filters: { label: [LABEL] } });
  await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  rmSync(root, { recursive: true, force: true });
});

/** A container, as a function's runtime would run, that listens on its folder's socket after `delayMs`; `before` runs first, in the container. */
async function runtimeListeningAfter(dir: string, delayMs: number, before = ""): Promise<Docker.Container> {
  const [key, value] = LABEL.split("=") as [string, string];
  const container = await docker.createContainer({
    Image: testImages.ESERVELESS_NODE_IMAGE,
    name: `es-test-readiness-${randomBytes(3).toString("hex")}`,
    User: "65534:65534",
    Labels: { [key]: value },
    Cmd: ["node", "-e", `${before}; setTimeout(() => { process.umask(0); require("http").createServer((q, s) => s.end("ok")).listen("${SOCKET_MOUNT}/${SOCKET_FILE}"); }, ${delayMs})`],
    HostConfig: { NetworkMode: "none", CapDrop: ["ALL"], Mounts: [{ Type: "bind", Source: dir, Target: SOCKET_MOUNT }] },
  });
  await container.start();
  return container;
}

describe("waitUntilReady over a socket", () => {
  it("probes as soon as the runtime's socket appears, not at the next poll, and only once its folder is sealed", async () => {
    const sockets = new SocketDirs(join(root, "sockets"));
    const dir = await sockets.create();
    const container = await runtimeListeningAfter(dir, 500);
    const steps: string[] = [];
    try {
      // A poll a minute apart: only the folder's watch can find the socket within the test's time.
      const ready = waitUntilReady(container, {
        socketPath: sockets.socketPath(dir),
        seal: () => sockets.seal(dir),
        watch: (changed) => sockets.watch(dir, changed),
        intervalMs: 60_000,
        timeoutMs: 120_000,
        onStep: (step) => steps.push(step),
      });
      const answered = await Promise.race([ready.then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 20_000).unref())]);
      expect(answered).toBe(true);
      expect(steps).toEqual(["socket", "probe"]);
      // Sealed: this process's alone again.
      expect(statSync(dir).mode & 0o777).toBe(0o700);
    } finally {
      await container.remove({ force: true });
      await sockets.remove(dir);
    }
  });

  it("gives a function that keeps changing its folder before it listens a few early looks, then only the poll's", async () => {
    const sockets = new SocketDirs(join(root, "sockets"));
    const dir = await sockets.create();
    // A file made and removed every millisecond for a second: each change would wake a router that followed every one.
    const churn = `const fs = require("fs"); const f = "${SOCKET_MOUNT}/churn"; const end = Date.now() + 1000; while (Date.now() < end) { fs.writeFileSync(f, "x"); fs.unlinkSync(f); }`;
    const container = await runtimeListeningAfter(dir, 0, churn);
    let looks = 0;
    try {
      await waitUntilReady(container, {
        socketPath: sockets.socketPath(dir),
        seal: () => {
          looks++;
          return sockets.seal(dir);
        },
        watch: (changed) => sockets.watch(dir, changed),
        intervalMs: 100,
        timeoutMs: 60_000,
      });
      // The churn lasts a second (longer under load): its 1000s of changes cost a look per poll and a few more, not one each.
      const inspected = await container.inspect();
      const ranMs = Date.now() - Date.parse(inspected.State.StartedAt);
      expect(looks).toBeLessThanOrEqual(Math.ceil(ranMs / 100) + 8 + 2);
    } finally {
      await container.remove({ force: true });
      await sockets.remove(dir);
    }
  });
});
