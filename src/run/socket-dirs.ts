import { randomBytes } from "node:crypto";
import { watch } from "node:fs";
import { chmod, lstat, mkdir, readdir, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";

/** Where a function container sees its socket folder; its runtime listens on {@link SOCKET_FILE} there (ESERVELESS_SOCKET). */
export const SOCKET_MOUNT = "/run/eserveless";
/** The folder of socket folders in DATA_DIR. */
export const SOCKETS_DIR = "sockets";
/** The runtime's socket in its folder. */
export const SOCKET_FILE = "http.sock";

const ID = /^[0-9a-f]{16}$/;
/** The longest path a Unix socket may have on Linux (sun_path, less its NUL). */
const MAX_SOCKET_PATH_BYTES = 107;

/** Why sockets cannot live under `root`, or undefined when they can: a path too long to connect to. */
export function socketRootProblem(root: string): string | undefined {
  const longest = Buffer.byteLength(join(resolve(root), "0123456789abcdef", SOCKET_FILE));
  if (longest <= MAX_SOCKET_PATH_BYTES) return undefined;
  return `its sockets' paths would be ${longest} bytes long, past the ${MAX_SOCKET_PATH_BYTES} a Unix socket's path may have`;
}

/** A socket folder that holds something else than the runtime's socket, or that its container could change back. */
export class SocketDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SocketDirError";
  }
}

/**
 * The folders under `root` (DATA_DIR/sockets) where function runtimes listen
 * on a Unix socket, one folder per container, mounted into it alone at
 * {@link SOCKET_MOUNT}. A folder is open for the container's user to create
 * its socket in, then sealed: this process's alone (0700), so the container
 * can neither swap the socket for a link that sends the router elsewhere nor
 * write anything more into it. The router connects only once it is sealed.
 */
export class SocketDirs {
  readonly root: string;

  constructor(root: string) {
    // Docker binds absolute paths only.
    this.root = resolve(root);
  }

  /** Makes a new folder for one container: writable by any user until {@link seal}ed; `root` (0700) keeps other users of this machine out. */
  async create(): Promise<string> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    await chmod(this.root, 0o700);
    const dir = join(this.root, randomBytes(8).toString("hex"));
    await mkdir(dir, { mode: 0o700 });
    // The container's user (nobody, or a user namespace's) creates its socket here: mkdir's mode is cut by the umask, chmod's is not.
    await chmod(dir, 0o777);
    return dir;
  }

  /**
   * Calls `changed` whenever something is created or removed in `dir` (the
   * runtime's socket appearing), so the router seals and probes at once
   * instead of at its next poll. Returns what stops watching. Only a wake-up:
   * {@link seal} does every check. Where the folder cannot be watched (no
   * inotify left), nothing calls back and polling alone finds the socket.
   */
  watch(dir: string, changed: () => void): () => void {
    try {
      const watcher = watch(dir, { persistent: false }, () => changed());
      // A folder removed under it (the container's removal) ends the watch; polling goes on.
      watcher.on("error", () => watcher.close());
      return () => watcher.close();
    } catch {
      return () => undefined;
    }
  }

  /** The socket of a folder, as this process reaches it. */
  socketPath(dir: string): string {
    return join(dir, SOCKET_FILE);
  }

  /**
   * Once the runtime's socket appeared in `dir`: takes the folder from the
   * container (0700), then checks that it holds that socket and nothing else.
   * Resolves false while no socket is there yet; throws a
   * {@link SocketDirError} when the folder holds anything else (a link, a
   * file) or its socket's user owns the folder (and could open it again). Sealing again is
   * harmless (an adopted container's).
   */
  async seal(dir: string): Promise<boolean> {
    try {
      await lstat(this.socketPath(dir));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw error;
    }
    // First the seal, then the checks: nothing changes in between.
    await chmod(dir, 0o700);
    const entries = await readdir(dir);
    const socket = await lstat(this.socketPath(dir));
    if (entries.length !== 1 || !socket.isSocket()) {
      const found = entries.length === 1 && socket.isSymbolicLink() ? "a symbolic link" : `${entries.length} entries`;
      throw new SocketDirError(`The function's socket folder holds ${found} instead of the runtime's socket alone (${SOCKET_MOUNT}/${SOCKET_FILE}); it is eserveless's, leave it alone`);
    }
    const owner = (await stat(dir)).uid;
    // Whoever owns a folder can open it again: the container's user must be another than its owner.
    if (socket.uid === owner) {
      throw new SocketDirError(`The function runs as eserveless's own user (uid ${owner}), so its socket folder cannot be kept from it; run eserveless as another user, or set ESERVELESS_TRANSPORT=tcp`);
    }
    return true;
  }

  /** The socket folder of a container from its mounts, when it is one of this root's. */
  fromMounts(mounts: ReadonlyArray<{ Type?: string; Source?: string; Destination?: string }> | undefined): string | undefined {
    const mount = mounts?.find((m) => m.Destination === SOCKET_MOUNT && m.Type === "bind");
    if (!mount?.Source) return undefined;
    const dir = resolve(mount.Source);
    return dirname(dir) === this.root && ID.test(basename(dir)) ? dir : undefined;
  }

  /** Removes a container's folder, once the container is gone. */
  async remove(dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true });
  }

  /** Removes every folder but those in `keep` (those of containers left behind by a crash or removed from outside). */
  async prune(keep: ReadonlySet<string>): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return 0;
      throw error;
    }
    const stale = names.filter((name) => ID.test(name) && !keep.has(join(this.root, name)));
    await Promise.all(stale.map((name) => this.remove(join(this.root, name))));
    return stale.length;
  }
}
