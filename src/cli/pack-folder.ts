import { lstat, readdir, readFile, readlink, realpath, stat } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import ignore, { type Ignore } from "ignore";
import { pack as tarPack, type Header } from "tar-stream";
import { defaultLimits } from "../default-limits.js";
import { CliError } from "./errors.js";

/** Never uploaded, whatever the ignore files say. */
const ALWAYS_EXCLUDED = new Set([".git", "node_modules"]);

/**
 * Every entry carries this time, so that the same files pack to the same
 * bytes: the server hashes the upload into the deployment's "commit".
 */
const FIXED_MTIME = new Date("2000-01-01T00:00:00Z");

export interface PackOptions {
  /** The single top folder of the archive, as in GitHub's tarballs. */
  topFolder: string;
  /** Refuse a folder past this many bytes of files (after ignores). */
  maxBytes?: number;
  /** Refuse a folder past this many files and links (after ignores). */
  maxFiles?: number;
}

export interface PackedFolder {
  /** The .tar.gz. */
  tarball: Buffer;
  /** Paths packed (files and symlinks), POSIX, relative to the folder, sorted. */
  files: string[];
  /** Sum of the file sizes. */
  bytes: number;
  /** Entries left out that no ignore rule named, and why (sockets, FIFOs, devices). */
  skipped: Array<{ path: string; why: string }>;
}

type Entry = { path: string; mode: number } & ({ type: "file"; content: Buffer } | { type: "symlink"; target: string });

/** The `.gitignore` of one folder: its patterns apply to paths below `base`. */
interface IgnoreFile {
  base: string;
  rules: Ignore;
}

/**
 * Packs a project folder into an in-memory .tar.gz under one top folder. It
 * leaves out `.git` and `node_modules` everywhere, and whatever the folder's
 * `.gitignore` files (each applying below its own folder, deeper ones
 * winning, as in git) or its root `.dockerignore` (patterns anchored at the
 * root, as in Docker) exclude. Files keep their permission bits; a symlink is
 * kept as a link when it stays inside the folder and refused otherwise.
 * Entries are sorted and timestamps fixed, so equal folders pack to equal bytes.
 */
export async function packFolder(folder: string, options: PackOptions): Promise<PackedFolder> {
  const maxBytes = options.maxBytes ?? defaultLimits.sourceBytes;
  const maxFiles = options.maxFiles ?? defaultLimits.sourceFiles;
  const info = await stat(folder).catch(() => undefined);
  if (!info?.isDirectory()) throw new CliError(`${folder} is not a folder`);
  const root = await realpath(folder);

  const dockerignore = await readIgnoreFile(join(root, ".dockerignore"));
  const docker = dockerignore === undefined ? undefined : ignore().add(anchorDockerPatterns(dockerignore));
  const entries: Entry[] = [];
  const skipped: PackedFolder["skipped"] = [];
  let bytes = 0;

  const excluded = (path: string, isDirectory: boolean, gitignores: IgnoreFile[]): boolean => {
    const name = path.slice(path.lastIndexOf("/") + 1);
    if (ALWAYS_EXCLUDED.has(name)) return true;
    const asked = isDirectory ? `${path}/` : path;
    if (docker?.ignores(asked)) return true;
    // The last matching rule wins, and deeper files come later: a nested !rule re-includes.
    let ignored = false;
    for (const file of gitignores) {
      const result = file.rules.test(file.base === "" ? asked : asked.slice(file.base.length + 1));
      if (result.ignored) ignored = true;
      else if (result.unignored) ignored = false;
    }
    return ignored;
  };

  const walk = async (dir: string, inherited: IgnoreFile[]): Promise<void> => {
    const absolute = dir === "" ? root : join(root, dir);
    const gitignore = await readIgnoreFile(join(absolute, ".gitignore"));
    const gitignores = gitignore === undefined ? inherited : [...inherited, { base: dir, rules: ignore().add(gitignore) }];
    const names = (await readdir(absolute)).sort(byCodePoint);
    for (const name of names) {
      const path = dir === "" ? name : `${dir}/${name}`;
      const full = join(absolute, name);
      const entry = await lstat(full);
      if (excluded(path, entry.isDirectory(), gitignores)) continue;
      if (entry.isDirectory()) {
        await walk(path, gitignores);
      } else if (entry.isFile()) {
        if (entries.length >= maxFiles) throw tooMany(folder, maxFiles);
        bytes += entry.size;
        if (bytes > maxBytes) throw tooBig(folder, path, maxBytes);
        entries.push({ type: "file", path, mode: entry.mode & 0o777, content: await readFile(full) });
      } else if (entry.isSymbolicLink()) {
        if (entries.length >= maxFiles) throw tooMany(folder, maxFiles);
        entries.push({ type: "symlink", path, mode: 0o777, target: await linkTarget(root, full, path) });
      } else {
        skipped.push({ path, why: entry.isSocket() ? "a socket" : entry.isFIFO() ? "a named pipe" : "a device" });
      }
    }
  };
  await walk("", []);

  return { tarball: await tarGz(options.topFolder, entries), files: entries.map((e) => e.path), bytes, skipped };
}

/** Reads an ignore file; undefined when there is none. */
async function readIgnoreFile(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT" || (error as NodeJS.ErrnoException).code === "EISDIR") return undefined;
    throw error;
  }
}

/**
 * Docker matches `.dockerignore` patterns from the root of the context
 * (`*.md` is only the root's, `**\/*.md` any), unlike gitignore where a
 * pattern without a slash matches at any depth: anchoring each at "/" gives
 * Docker's meaning with gitignore's matcher.
 */
export function anchorDockerPatterns(text: string): string[] {
  const patterns: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const negated = line.startsWith("!");
    const pattern = (negated ? line.slice(1) : line).replace(/^(\.\/|\/)+/, "");
    if (pattern === "") continue;
    patterns.push(`${negated ? "!" : ""}/${pattern}`);
  }
  return patterns;
}

/**
 * The target to store for a symlink: as written when it stays inside the
 * folder (an absolute one made relative), refused when it leads outside,
 * by its path or, when it exists, by where it really ends.
 */
async function linkTarget(root: string, full: string, path: string): Promise<string> {
  const target = await readlink(full);
  const lexical = resolve(dirname(full), target);
  const real = await realpath(full).catch(() => undefined);
  if (!inside(root, lexical) || (real !== undefined && !inside(root, real))) {
    throw new CliError(
      `${path} is a symlink to ${target}, outside the project folder: eserveless uploads only what is inside it. ` +
        `Copy the file in instead, or list the link in .gitignore`,
    );
  }
  return isAbsolute(target) ? toPosix(relative(dirname(full), lexical)) || "." : toPosix(target);
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

const toPosix = (path: string) => path.split(sep).join("/");

/** Plain code-point order, the same on every machine (no locale). */
const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

async function tarGz(top: string, entries: Entry[]): Promise<Buffer> {
  const tar = tarPack();
  const chunks: Buffer[] = [];
  const collecting = pipeline(tar, createGzip({ level: 9 }), async (gzipped: AsyncIterable<Buffer>) => {
    for await (const chunk of gzipped) chunks.push(chunk);
  });
  const common = { mtime: FIXED_MTIME, uid: 0, gid: 0, uname: "", gname: "" } satisfies Partial<Header>;
  tar.entry({ ...common, name: `${top}/`, type: "directory", mode: 0o755 });
  for (const entry of entries) {
    const name = `${top}/${entry.path}`;
    if (entry.type === "file") tar.entry({ ...common, name, type: "file", mode: entry.mode, size: entry.content.length }, entry.content);
    else tar.entry({ ...common, name, type: "symlink", mode: entry.mode, linkname: entry.target });
  }
  tar.finalize();
  await collecting;
  return Buffer.concat(chunks);
}

function tooMany(folder: string, maxFiles: number): CliError {
  return new CliError(
    `${folder} holds more than ${maxFiles} files after .gitignore and .dockerignore: ` +
      `is it the right folder? list build output and data in .gitignore or .dockerignore`,
  );
}

function tooBig(folder: string, path: string, maxBytes: number): CliError {
  return new CliError(
    `${folder} holds more than ${Math.round(maxBytes / 1024 / 1024)} MiB after .gitignore and .dockerignore (reached at ${path}): ` +
      `list large files in .gitignore or .dockerignore`,
  );
}
