import Docker from "dockerode";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContainerPool, type FunctionTarget } from "../../src/run/container-pool.js";
import type { Replica } from "../../src/run/function-pool.js";
import { SOCKET_LABEL } from "../../src/run/sandbox.js";
import { SOCKET_MOUNT, SocketDirs } from "../../src/run/socket-dirs.js";
import { deploymentTestbed } from "../support/deployment-testbed.js";
import { buildTestImage, getThrough } from "../support/pool-replicas.js";
import { testNetworks } from "../support/test-networks.js";

// The router reaches a function over a Unix socket in a folder of its own
// (or over TCP where sockets cannot be shared). The function is untrusted:
// it must not send the router anywhere else, nor reach another's socket.

const testbed = deploymentTestbed();
const INSTANCE = "test-container-pool";
const docker = new Docker();
const networks = testNetworks(docker, INSTANCE);
const silent = pino({ level: "silent" });

const FUNCTIONS = String.raw`
const fs = require("node:fs");
const http = require("node:http");
const net = require("node:net");
const SOCK = "/run/eserveless/http.sock";

if (process.env.ATTACK === "link") {
  // Serve on another socket of the folder and leave, where the router connects, a link to a
  // socket of the host: a router that followed it would send callers' requests there.
  const listen = http.Server.prototype.listen;
  http.Server.prototype.listen = function (path, ...rest) {
    fs.symlinkSync(process.env.CANARY, SOCK);
    return listen.call(this, "/run/eserveless/real.sock", ...rest);
  };
}

const attempt = (fn) => {
  try {
    return fn() ?? "done";
  } catch (error) {
    return error.code;
  }
};

module.exports = {
  API: (req, res) => {
    const peer = new URL(req.url, "http://x").searchParams.get("peer");
    const result = {
      pid: process.pid,
      list: attempt(() => fs.readdirSync("/run/eserveless")),
      unlink: attempt(() => fs.unlinkSync(SOCK)),
      link: attempt(() => fs.symlinkSync(process.env.CANARY || "/nowhere", "/run/eserveless/other.sock")),
      chmod: attempt(() => fs.chmodSync("/run/eserveless", 0o777)),
    };
    if (!peer) return res.end(JSON.stringify(result));
    const socket = net.connect(peer);
    socket.on("connect", () => {
      socket.destroy();
      res.end(JSON.stringify({ ...result, peer: "connected" }));
    });
    socket.on("error", (error) => res.end(JSON.stringify({ ...result, peer: error.code })));
  },
};
`;


let image: string;
let root: string;
/** A socket on the host that no function may make the router connect to; it counts who tries. */
let canary: { path: string; server: Server; connections: number };

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "eserveless-pool-"));
  canary = { path: join(root, "canary.sock"), server: createServer(), connections: 0 };
  // It answers HTTP, as the Docker API would: a router sent there would find it "ready".
  canary.server.on("connection", (socket) => {
    canary.connections++;
    socket.end("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
  });
  await new Promise<void>((resolve) => canary.server.listen(canary.path, resolve));
  image = await buildTestImage({
    docker,
    instance: INSTANCE,
    networks,
    testbed,
    files: { ".eserveless.yaml": "runtime: node\nfunctions:\n  - { name: API, type: http }\n", "package.json": '{ "name": "container-pool", "private": true }\n', "functions.js": FUNCTIONS },
  });
}, 180_000);

/** Replicas started outside a function pool: its close() leaves them, afterAll removes them. */
const started: Replica[] = [];

afterAll(async () => {
  await Promise.all(started.map((replica) => replica.container.remove({ force: true }).catch(() => undefined)));
  canary?.server.close();
  if (image) await docker.getImage(image).remove({ force: true }).catch(() => undefined);
  await networks.removeAll();
  if (root) rmSync(root, { recursive: true, force: true });
});

function target(env: Record<string, string> = {}): FunctionTarget {
  return {
    repository: "octo-org/pool",
    name: "API",
    image,
    commit: "0123456789abcdef0123456789abcdef01234567",
    deploymentId: "d-pool",
    env: { CANARY: canary.path, ...env },
    scaling: { concurrency: 10, minReplicas: 0, maxReplicas: 2, idleTimeoutMs: 600_000 },
  };
}

/** A pool over `transport`; its socket folders under their own root. */
function poolOf(transport: "unix" | "tcp") {
  const sockets = transport === "unix" ? new SocketDirs(mkdtempSync(join(root, "sockets-"))) : undefined;
  const pool = new ContainerPool({ docker, instance: INSTANCE, log: silent, networks, sockets, reapIntervalMs: 3_600_000 });
  return { pool, sockets };
}

/** One GET through the router's proxy to `replica`, parsed. */
const get = async (replica: Replica, path = "/"): Promise<Record<string, unknown>> => JSON.parse(await getThrough(replica, path)) as Record<string, unknown>;

const inspect = (replica: Replica) => docker.getContainer(replica.container.id).inspect();

describe.each(["unix", "tcp"] as const)("ContainerPool over %s", (transport) => {
  it("serves a started function, published on loopback over tcp and nowhere over unix, and removes what it made", async () => {
    const { pool, sockets } = poolOf(transport);
    try {
      const replica = await pool.start(target());
      started.push(replica);
      const info = await inspect(replica);
      const published = Object.values(info.NetworkSettings.Ports ?? {}).flat().filter(Boolean);
      const mounts = info.Mounts.map((m) => ({ type: m.Type, source: m.Source, destination: m.Destination, rw: m.RW }));
      if (transport === "unix") {
        expect(replica.socketPath).toMatch(new RegExp(`^${sockets!.root}/[0-9a-f]{16}/http\\.sock$`));
        expect(published).toEqual([]);
        expect(info.HostConfig.PortBindings ?? {}).toEqual({});
        // Its own folder alone, where a peer (such as the benchmark's) finds the socket: Mounts[].Source.
        expect(mounts).toEqual([{ type: "bind", source: sockets!.root + replica.socketPath!.slice(sockets!.root.length, -"/http.sock".length), destination: SOCKET_MOUNT, rw: true }]);
        expect(info.Config.Env).toContain(`ESERVELESS_SOCKET=${SOCKET_MOUNT}/http.sock`);
      } else {
        expect(replica.socketPath).toBeUndefined();
        expect(published).toEqual([{ HostIp: "127.0.0.1", HostPort: String(replica.port) }]);
        expect(mounts).toEqual([]);
      }
      const answer = await get(replica);
      expect(answer.pid).toEqual(expect.any(Number));
      await pool.discard([replica]);
      await expect(replica.container.inspect()).rejects.toMatchObject({ statusCode: 404 });
      if (sockets) expect(readdirSync(sockets.root)).toEqual([]);
    } finally {
      await pool.close();
    }
  });

  it("pauses an idle replica and serves the next request from it, unpaused", async () => {
    // A pool on a clock of its own: idle time passes at once.
    let now = Date.now();
    const sockets = transport === "unix" ? new SocketDirs(mkdtempSync(join(root, "sockets-"))) : undefined;
    const paused = new ContainerPool({ docker, instance: INSTANCE, log: silent, networks, sockets, pauseAfterMs: 1_000, reapIntervalMs: 3_600_000, now: () => now });
    try {
      const first = await paused.acquire(target());
      const before = await get(first.replica);
      first.release();
      now += 2_000;
      await paused.reap();
      expect((await inspect(first.replica)).State.Paused).toBe(true);
      expect(paused.stats().paused).toBe(1);
      const second = await paused.acquire(target());
      expect(second.replica).toBe(first.replica);
      const after = await get(second.replica);
      second.release();
      expect(after.pid).toBe(before.pid);
      expect((await inspect(second.replica)).State.Paused).toBe(false);
    } finally {
      await paused.close();
    }
  });

  it("adopts a running replica after a restart, reached as before, and removes what nobody runs any more", async () => {
    const sockets = transport === "unix" ? new SocketDirs(mkdtempSync(join(root, "sockets-"))) : undefined;
    const before = new ContainerPool({ docker, instance: INSTANCE, log: silent, networks, sockets, reapIntervalMs: 3_600_000 });
    const lease = await before.acquire(target());
    const served = await get(lease.replica);
    lease.release();
    await before.close({ keepContainers: true });
    // A folder whose container went while no eserveless ran.
    const stale = await sockets?.create();

    const after = new ContainerPool({ docker, instance: INSTANCE, log: silent, networks, sockets: sockets && new SocketDirs(sockets.root), reapIntervalMs: 3_600_000 });
    try {
      expect(await after.adopt([target()])).toEqual({ adopted: 1, removed: 0 });
      const again = await after.acquire(target());
      expect(again.replica.container.id).toBe(lease.replica.container.id);
      expect(again.replica.socketPath).toBe(lease.replica.socketPath);
      expect((await get(again.replica)).pid).toBe(served.pid);
      again.release();
      if (stale) expect(existsSync(stale)).toBe(false);
      // The next start's adoption of a function no longer live removes its container and folder.
      await after.close({ keepContainers: true });
      const next = new ContainerPool({ docker, instance: INSTANCE, log: silent, networks, sockets: sockets && new SocketDirs(sockets.root), reapIntervalMs: 3_600_000 });
      expect(await next.adopt([])).toEqual({ adopted: 0, removed: 1 });
      await expect(lease.replica.container.inspect()).rejects.toMatchObject({ statusCode: 404 });
      if (sockets) expect(readdirSync(sockets.root)).toEqual([]);
      await next.close();
    } finally {
      await after.close();
    }
  });
});

describe("ContainerPool over unix, with an image built before sockets", () => {
  it("serves it over a published port, as before", async () => {
    // The same runtime under an image without the label that says it reads ESERVELESS_SOCKET.
    const stencil = await docker.createContainer({ Image: image, Labels: { [`dev.eserveless.instance`]: INSTANCE } });
    const old = await stencil.commit({ repo: `es-test-container-pool-old`, tag: randomBytes(4).toString("hex"), changes: [`LABEL ${SOCKET_LABEL}=`] });
    await stencil.remove({ force: true });
    const { pool, sockets } = poolOf("unix");
    try {
      const replica = await pool.start({ ...target(), image: old.Id });
      started.push(replica);
      expect(replica.socketPath).toBeUndefined();
      const info = await inspect(replica);
      expect(Object.values(info.NetworkSettings.Ports ?? {}).flat().filter(Boolean)).toEqual([{ HostIp: "127.0.0.1", HostPort: String(replica.port) }]);
      expect(info.Mounts).toEqual([]);
      expect((await get(replica)).pid).toEqual(expect.any(Number));
      expect(readdirSync(sockets!.root)).toEqual([]);
      await pool.discard([replica]);
    } finally {
      await pool.close();
      await docker.getImage(old.Id).remove({ force: true });
    }
  });
});

describe("a function's socket folder, against the function", () => {
  it("never lets the router follow a link the function put where its socket should be", async () => {
    const { pool, sockets } = poolOf("unix");
    const connections = canary.connections;
    try {
      const outcome = await pool.start(target({ ATTACK: "link" })).then(
        (replica) => {
          started.push(replica);
          return `started, reached at ${replica.socketPath}`;
        },
        (error: Error) => error.message,
      );
      expect(canary.connections).toBe(connections);
      expect(outcome).toMatch(/socket folder holds (a symbolic link|2 entries) instead of the runtime's socket alone/);
      // Its container and folder went with the failed start.
      expect(readdirSync(sockets!.root)).toEqual([]);
      // Only its network's holder stays (see NetworkHolders).
      const left = await docker.listContainers({ all: true, filters: { label: [`dev.eserveless.instance=${INSTANCE}`, "dev.eserveless.function"] } });
      expect(left).toEqual([]);
    } finally {
      await pool.close();
    }
  });

  it("takes the folder from a served function: it can neither swap its socket nor reach another function's", async () => {
    const { pool } = poolOf("unix");
    const connections = canary.connections;
    try {
      const [mine, theirs] = await Promise.all([pool.start(target()), pool.start(target())]);
      started.push(mine, theirs);
      const answer = await get(mine, `/?peer=${encodeURIComponent(theirs.socketPath!)}`);
      expect(answer).toMatchObject({ list: "EACCES", unlink: "EACCES", link: "EACCES", chmod: "EPERM", peer: "ENOENT" });
      // Over its own socket, through the folder it cannot open: the router still reaches each one.
      expect((await get(mine)).pid).toBe(answer.pid);
      expect((await get(theirs)).pid).toEqual(expect.any(Number));
      expect(canary.connections).toBe(connections);
    } finally {
      await pool.close();
    }
  });
});
