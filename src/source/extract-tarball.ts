import { posix } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { extract as tarExtract, type Extract, type ExtractEvents } from "tar-stream";
import { defaultLimits } from "../default-limits.js";
import { SourceError } from "../errors.js";

/** Limits on what a tarball may unpack to. */
export const defaultExtractLimits = { maxBytes: defaultLimits.sourceBytes, maxFiles: defaultLimits.sourceFiles, maxFileBytes: defaultLimits.sourceFileBytes };

/** `maxBytes`: sum of file sizes; `maxFiles`: tar entries (files, links and folders); `maxFileBytes`: one file. */
export type ExtractLimits = typeof defaultExtractLimits;

/**
 * One file of a source tree. Paths are POSIX, relative, normalized, no leading "./". A symlink's
 * `target` is as in the tarball, proven to stay inside the tree.
 */
export type SourceEntry =
  | { type: "file"; path: string; mode: number; content: Buffer }
  | { type: "symlink"; path: string; mode: number; target: string };

/** The unpacked commit, in memory only. */
export class SourceTree {
  readonly #byPath: Map<string, SourceEntry>;
  /** Number of entries (files and symlinks). */
  readonly size: number;
  /** Sum of the file sizes. */
  readonly totalBytes: number;

  constructor(entries: Iterable<SourceEntry>) {
    const byPath = new Map<string, SourceEntry>();
    for (const entry of entries) byPath.set(entry.path, entry); // the later one wins, as in tar
    this.#byPath = new Map([...byPath].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    this.size = this.#byPath.size;
    this.totalBytes = 0;
    for (const entry of this.#byPath.values()) if (entry.type === "file") this.totalBytes += entry.content.length;
  }

  /** The entry at exactly `path`, without following symlinks. */
  get(path: string): SourceEntry | undefined {
    return this.#byPath.get(path);
  }

  /** Whether an entry sits at exactly `path`. */
  has(path: string): boolean {
    return this.#byPath.has(path);
  }

  /** UTF-8 text of a regular file, or undefined (follows in-tree symlinks to files). */
  text(path: string): string | undefined {
    return this.bytes(path)?.toString("utf8");
  }

  /** The content of a regular file, or undefined (follows in-tree symlinks to files); measure it before decoding it. */
  bytes(path: string): Buffer | undefined {
    const real = resolveInTree(path, this.#byPath);
    const entry = real === undefined ? undefined : this.#byPath.get(real);
    return entry?.type === "file" ? entry.content : undefined;
  }

  /** All entries, sorted by path so that builds are deterministic. */
  entries(): IterableIterator<SourceEntry> {
    return this.#byPath.values();
  }
}

/** Unpacks a GitHub-style .tar.gz (or plain .tar) in memory, enforcing the safety rules; never touches the disk. */
export async function extractTarball(
  input: Buffer | AsyncIterable<Uint8Array> | NodeJS.ReadableStream,
  limits: Partial<ExtractLimits> = {},
): Promise<SourceTree> {
  // Field by field, so that a limit passed as `undefined` keeps its default rather than switching the cap off.
  const builder = new TreeBuilder({
    maxBytes: limits.maxBytes ?? defaultExtractLimits.maxBytes,
    maxFiles: limits.maxFiles ?? defaultExtractLimits.maxFiles,
    maxFileBytes: limits.maxFileBytes ?? defaultExtractLimits.maxFileBytes,
  });
  const extract = tarExtract();
  // The first failure is the cause; stopping both the parser and the input makes the other side end too.
  let failure: { error: unknown } | undefined;
  const fail = (error: unknown) => {
    if (failure) return;
    failure = { error };
    extract.destroy();
    if ("destroy" in input && typeof input.destroy === "function") input.destroy();
  };
  const reading = (async () => {
    for await (const entry of extract) await builder.add(entry);
  })().catch(fail);
  const feeding = feed(input, extract, (total) => builder.checkTarBytes(total)).catch((error: unknown) => {
    // Once the parser is gone the feed fails only as a consequence; the parser's own error is the cause.
    if (!extract.destroyed) fail(error);
  });
  await Promise.all([reading, feeding]);
  if (failure) throw asSourceError(failure.error);
  return builder.finish();
}

type Entry = ExtractEvents["entry"][1];

/** Bytes of tar headers, padding and pax records allowed on top of the file contents, base and per entry. */
const HEADER_SLACK = 1024 * 1024;
const ENTRY_SLACK = 4 * 1024;
/** Input is cut into slices this big so the bomb guard sees bytes as they arrive. */
const SLICE = 64 * 1024;
/** Linux gives up after 40 symlinks in one lookup; so do we. */
const MAX_LINK_HOPS = 40;

/** Checks entries as tar-stream yields them and collects the tree. */
class TreeBuilder {
  readonly #limits: ExtractLimits;
  readonly #entries = new Map<string, SourceEntry>();
  #top: string | undefined;
  #count = 0;
  #bytes = 0;

  constructor(limits: ExtractLimits) {
    this.#limits = limits;
  }

  /**
   * Refuses decompressed tar data past the file bytes allowed plus room for headers of the entries
   * seen so far: a gzip bomb of zeros or junk headers is stopped long before it is inflated in full.
   */
  checkTarBytes(total: number): void {
    const { maxBytes } = this.#limits;
    if (total <= maxBytes + HEADER_SLACK + this.#count * ENTRY_SLACK) return;
    throw new SourceError(
      `The tarball inflates past ${formatBytes(maxBytes)} of source (ESERVELESS_MAX_SOURCE_BYTES=${maxBytes}), ` +
        `a gzip bomb or an oversized commit; shrink the repository or raise ESERVELESS_MAX_SOURCE_BYTES`,
      { code: "tarball_too_large" },
    );
  }

  async add(entry: Entry): Promise<void> {
    const { header } = entry;
    // GitHub's archives start with a pax global header carrying the commit sha. tar-stream consumes it;
    // tars written by tools that did not know the type hold it as a plain file of that name.
    if (header.name === "pax_global_header") return drain(entry);
    const path = this.#relative(header.name);
    if (path === "" && header.type === "directory") return drain(entry); // the top folder itself
    if (path === "") throw notUnderTop(header.name, undefined);

    const limits = this.#limits;
    if (++this.#count > limits.maxFiles) {
      throw new SourceError(
        `Tarball entry ${q(path)} is one more than the ${limits.maxFiles} entries (files, links and folders) a commit may hold; ` +
          `remove files from the repository or raise ESERVELESS_MAX_SOURCE_FILES`,
        { code: "tarball_too_many_files" },
      );
    }
    // Refused from the header alone, so a huge entry is never read into memory.
    this.#countBytes(path, header.size);
    const mode = header.mode & 0o777;

    switch (header.type) {
      case "file": {
        const chunks: Buffer[] = [];
        for await (const chunk of entry) chunks.push(chunk as Buffer);
        this.#entries.set(path, { type: "file", path, mode, content: Buffer.concat(chunks) });
        return;
      }
      case "directory": // implicit in the file paths
        return drain(entry);
      case "symlink": {
        const target = header.linkname;
        const resolved = posix.join(posix.dirname(path), target);
        const why = unsafePath(target, true) ?? (resolved === ".." || resolved.startsWith("../") ? "leads above the project folder" : undefined);
        if (why) throw linkEscape("Symlink", path, target, why);
        this.#entries.set(path, { type: "symlink", path, mode, target });
        return drain(entry);
      }
      case "link": {
        // Hard links name the target by its archive path, top folder included.
        const raw = header.linkname;
        const segments = normalSegments(raw);
        const why = unsafePath(raw, false) ?? (segments[0] !== this.#top ? "not under the top folder" : undefined);
        if (why) throw linkEscape("Hard link", path, raw, why);
        const source = this.#entries.get(segments.slice(1).join("/"));
        if (source?.type !== "file") {
          throw new SourceError(
            `Hard link ${q(path)} points to ${q(raw)}, which is not a regular file earlier in the tarball; replace the link with a copy of the file`,
            { code: "tarball_invalid" },
          );
        }
        this.#countBytes(path, source.content.length);
        this.#entries.set(path, { type: "file", path, mode, content: Buffer.from(source.content) });
        return drain(entry);
      }
      default:
        throw new SourceError(
          `Tarball entry ${q(path)} is a ${header.type ?? "entry of unknown type"}, which eserveless does not accept; remove it from the repository`,
          { code: "tarball_unsupported_entry" },
        );
    }
  }

  /** Checks that the collected entries form a tree no path or symlink can leave, and returns it. */
  finish(): SourceTree {
    if (this.#top === undefined) throw new SourceError("The tarball holds no entries; push a commit with files", { code: "tarball_invalid" });
    for (const entry of this.#entries.values()) {
      // Checked on the final tree, so the order of entries cannot sneak a path through a symlink.
      for (let slash = entry.path.indexOf("/"); slash !== -1; slash = entry.path.indexOf("/", slash + 1)) {
        const parent = this.#entries.get(entry.path.slice(0, slash));
        if (parent?.type === "symlink") {
          throw new SourceError(
            `Tarball entry ${q(entry.path)} lies inside the symlink ${q(parent.path)}, which could redirect it anywhere; ` +
              `store the file under its real folder`,
            { code: "tarball_link_escape" },
          );
        }
        if (parent) {
          throw new SourceError(`Tarball entry ${q(entry.path)} lies inside ${q(parent.path)}, which is a file; rename one of them`, {
            code: "tarball_invalid",
          });
        }
      }
      if (entry.type === "symlink" && resolveInTree(entry.path, this.#entries) === undefined) {
        throw linkEscape("Symlink", entry.path, entry.target, "leads above the project folder through other symlinks, or loops");
      }
    }
    return new SourceTree(this.#entries.values());
  }

  #countBytes(path: string, size: number): void {
    const limits = this.#limits;
    if (size > limits.maxFileBytes) {
      throw new SourceError(
        `Tarball entry ${q(path)} is ${formatBytes(size)}, more than the ${formatBytes(limits.maxFileBytes)} one file may have; ` +
          `remove it from the repository and fetch it at build time instead`,
        { code: "tarball_file_too_large" },
      );
    }
    this.#bytes += size;
    if (this.#bytes > limits.maxBytes) {
      throw new SourceError(
        `Tarball entry ${q(path)} brings the commit past ${formatBytes(limits.maxBytes)} unpacked ` +
          `(ESERVELESS_MAX_SOURCE_BYTES=${limits.maxBytes}); shrink the repository or raise ESERVELESS_MAX_SOURCE_BYTES`,
        { code: "tarball_too_large" },
      );
    }
  }

  /** The entry's path below the single top folder ("" for the folder itself). */
  #relative(raw: string): string {
    const why = unsafePath(raw, false);
    if (why) {
      throw new SourceError(`Tarball entry ${q(raw)} escapes the project folder (${why}); remove it from the repository`, {
        code: "tarball_path_traversal",
      });
    }
    const [top, ...rest] = normalSegments(raw);
    this.#top ??= top;
    if (top === undefined || top !== this.#top) throw notUnderTop(raw, this.#top);
    return rest.join("/");
  }
}

/** Why a raw tar path is unsafe, checked before normalizing so that "a/../../b" cannot hide; undefined when safe. */
function unsafePath(raw: string, dotDotAllowed: boolean): string | undefined {
  if (raw.includes("\0")) return "NUL byte";
  if (raw.includes("\\")) return "backslash, a Windows path separator";
  if (raw.startsWith("/")) return "absolute path";
  if (/^[A-Za-z]:/.test(raw)) return "drive letter";
  if (!dotDotAllowed && raw.split("/").includes("..")) return '".." segment';
  return undefined;
}

/** Path segments without the empty and "." ones ("./a//b/" → ["a", "b"]). */
function normalSegments(raw: string): string[] {
  return raw.split("/").filter((segment) => segment !== "" && segment !== ".");
}

/**
 * Where `path` really leads, following symlinks in any of its segments the way the kernel would
 * (a lexical check alone misses "link/.." when the link points elsewhere); undefined when it
 * climbs above the root or loops.
 */
function resolveInTree(path: string, entries: ReadonlyMap<string, SourceEntry>): string | undefined {
  const pending = path.split("/").reverse(); // next segment last
  const resolved: string[] = [];
  let hops = 0;
  for (let segment = pending.pop(); segment !== undefined; segment = pending.pop()) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      if (resolved.pop() === undefined) return undefined;
      continue;
    }
    resolved.push(segment);
    const entry = entries.get(resolved.join("/"));
    if (entry?.type !== "symlink") continue;
    if (++hops > MAX_LINK_HOPS || entry.target.startsWith("/")) return undefined;
    resolved.pop();
    pending.push(...entry.target.split("/").reverse());
  }
  return resolved.join("/");
}

/**
 * Feeds the tar bytes (gunzipped when the input starts with the gzip magic) to the parser, with
 * backpressure, handing the running total to `checkTarBytes` as it inflates.
 */
async function feed(
  input: Buffer | AsyncIterable<Uint8Array> | NodeJS.ReadableStream,
  extract: Extract,
  checkTarBytes: (total: number) => void,
): Promise<void> {
  const source = slices(input);
  let head: Buffer = Buffer.alloc(0);
  while (head.length < 2) {
    const next = await source.next();
    if (next.done) break;
    head = head.length === 0 ? next.value : Buffer.concat([head, next.value]);
  }
  const replay = (async function* () {
    if (head.length > 0) yield head;
    yield* { [Symbol.asyncIterator]: () => source };
  })();

  const sink = async (tar: AsyncIterable<Buffer>) => {
    let total = 0;
    for await (const chunk of tar) {
      checkTarBytes((total += chunk.length));
      if (!extract.write(chunk) && !extract.destroyed) await drainedOrClosed(extract);
      if (extract.destroyed) return;
    }
    extract.end(undefined);
  };
  if (head[0] === 0x1f && head[1] === 0x8b) await pipeline(replay, createGunzip(), sink);
  else await sink(replay);
}

/** Marks an error of the caller's input (a dropped download, say): rethrown as is, not blamed on the tarball. */
class InputFailure extends Error {
  constructor(readonly original: unknown) {
    super("the tarball input failed", { cause: original });
  }
}

/** The input as Buffers of at most SLICE bytes. */
async function* slices(input: Buffer | AsyncIterable<Uint8Array> | NodeJS.ReadableStream): AsyncGenerator<Buffer, void, undefined> {
  const chunks = (Buffer.isBuffer(input) ? [input] : input) as Iterable<Uint8Array> | AsyncIterable<Uint8Array | string>;
  try {
    for await (const chunk of chunks) {
      if (typeof chunk === "string") throw new TypeError("extractTarball needs bytes; read the stream without an encoding");
      const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      for (let at = 0; at < bytes.length; at += SLICE) yield bytes.subarray(at, at + SLICE);
    }
  } catch (error) {
    throw new InputFailure(error);
  }
}

function drainedOrClosed(extract: Extract): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      extract.off("drain", done).off("close", done);
      resolve();
    };
    extract.on("drain", done).on("close", done);
  });
}

/** Lets tar-stream move past an entry whose body we do not keep. */
function drain(entry: Entry): void {
  entry.resume();
}

function asSourceError(error: unknown): unknown {
  if (error instanceof SourceError) return error;
  if (error instanceof InputFailure) return error.original;
  const reason = error instanceof Error ? error.message : String(error);
  return new SourceError(
    `The tarball is corrupt or not a .tar/.tar.gz file (${reason}); download it again, and check that it opens with \`tar -xzf\``,
    { code: "tarball_invalid", cause: error },
  );
}

function notUnderTop(raw: string, top: string | undefined): SourceError {
  return new SourceError(
    `Tarball entry ${q(raw)} is not under the top folder${top === undefined ? "" : ` ${q(top)}`}; ` +
      `a source tarball must hold everything in exactly one top folder, as GitHub's do`,
    { code: "tarball_invalid" },
  );
}

function linkEscape(kind: string, path: string, target: string, why: string): SourceError {
  return new SourceError(
    `${kind} ${q(path)} points to ${q(target)}, outside the project folder (${why}); point it to a file inside the repository or remove it`,
    { code: "tarball_link_escape" },
  );
}

function formatBytes(bytes: number): string {
  return bytes < 1024 * 1024 ? `${bytes} bytes` : `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MiB`;
}

const q = (text: string) => JSON.stringify(text);
