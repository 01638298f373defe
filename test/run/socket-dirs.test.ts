import { mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync, mkdirSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SOCKET_FILE, SOCKET_MOUNT, SocketDirError, SocketDirs } from "../../src/run/socket-dirs.js";

let root: string;
let sockets: SocketDirs;
const servers: Server[] = [];

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "eserveless-sockets-"));
  sockets = new SocketDirs(join(root, "sockets"));
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
  rmSync(root, { recursive: true, force: true });
});

/** Listens on `path` as a runtime would. */
async function listenAt(path: string): Promise<void> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(path, resolve));
}

const mode = (path: string) => statSync(path).mode & 0o777;

describe("SocketDirs", () => {
  it("makes a folder per container that any user may create its socket in, inside a root of this user's alone", async () => {
    const dir = await sockets.create();
    const other = await sockets.create();
    expect(dir).not.toBe(other);
    expect(mode(sockets.root)).toBe(0o700);
    expect(mode(dir)).toBe(0o777);
    expect(sockets.socketPath(dir)).toBe(join(dir, SOCKET_FILE));
  });

  it("seals a folder once its socket is there, and only then", async () => {
    const dir = await sockets.create();
    expect(await sockets.seal(dir)).toBe(false);
    expect(mode(dir)).toBe(0o777);
    await listenAt(sockets.socketPath(dir));
    // The socket belongs to this test's user, as the folder does: a container's would be another.
    await expect(sockets.seal(dir)).rejects.toThrow(/runs as eserveless's own user/);
    // Sealed before the check: the folder is out of the container's reach either way.
    expect(mode(dir)).toBe(0o700);
  });

  it("refuses a folder whose socket was swapped for a link, and one holding more than the socket", async () => {
    const target = join(root, "elsewhere.sock");
    await listenAt(target);
    const linked = await sockets.create();
    symlinkSync(target, sockets.socketPath(linked));
    await expect(sockets.seal(linked)).rejects.toThrow(SocketDirError);
    await expect(sockets.seal(linked)).rejects.toThrow(/holds a symbolic link instead of the runtime's socket alone/);
    expect(mode(linked)).toBe(0o700);

    const filled = await sockets.create();
    await listenAt(sockets.socketPath(filled));
    writeFileSync(join(filled, "fill"), "x".repeat(1024));
    await expect(sockets.seal(filled)).rejects.toThrow(/holds 2 entries/);

    const plain = await sockets.create();
    writeFileSync(sockets.socketPath(plain), "not a socket");
    await expect(sockets.seal(plain)).rejects.toThrow(/holds 1 entries instead of the runtime's socket/);
  });

  it("finds a container's folder from its mounts only when it is one of its own", async () => {
    const dir = await sockets.create();
    expect(sockets.fromMounts([{ Type: "bind", Source: dir, Destination: SOCKET_MOUNT }])).toBe(dir);
    expect(sockets.fromMounts([{ Type: "bind", Source: dir, Destination: "/elsewhere" }])).toBeUndefined();
    // Anywhere else on the host is not a socket folder, whatever the mount says.
    expect(sockets.fromMounts([{ Type: "bind", Source: "/var/run", Destination: SOCKET_MOUNT }])).toBeUndefined();
    expect(sockets.fromMounts([{ Type: "bind", Source: sockets.root, Destination: SOCKET_MOUNT }])).toBeUndefined();
    expect(sockets.fromMounts([{ Type: "bind", Source: join(dir, ".."), Destination: SOCKET_MOUNT }])).toBeUndefined();
    expect(sockets.fromMounts([{ Type: "volume", Source: dir, Destination: SOCKET_MOUNT }])).toBeUndefined();
    expect(sockets.fromMounts(undefined)).toBeUndefined();
  });

  it("removes the folders it is not told to keep, and nothing else in its root", async () => {
    const kept = await sockets.create();
    const stale = await sockets.create();
    mkdirSync(join(stale, "sub"));
    const stranger = join(sockets.root, "not-a-socket-folder");
    writeFileSync(stranger, "");
    expect(await sockets.prune(new Set([kept]))).toBe(1);
    expect(existsSync(kept)).toBe(true);
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(stranger)).toBe(true);
    await expect(new SocketDirs(join(root, "never-made")).prune(new Set())).resolves.toBe(0);
  });
});
