import type Docker from "dockerode";
import { PassThrough, type Readable } from "node:stream";
import type { Logger } from "pino";

/** One line a replica printed, with the replica's (container's) name and Docker's timestamp (ms). */
export interface ReplicaOutputLine {
  repository: string;
  function: string;
  replica: string;
  stream: "stdout" | "stderr";
  at: number;
  line: string;
}

/** Where collected output goes, in batches (the store's `appendOutput`). */
export type OutputSink = (lines: ReplicaOutputLine[]) => void;

/** The most of a line without a newline held in memory; the rest starts a new line. */
const MAX_PENDING_CHARS = 16_384;
/** The most lines waiting for a flush; past it lines are dropped (and counted) until the next flush. */
const MAX_BUFFERED_LINES = 2000;
/** The most lines a function may have kept per second (half its ring): a flood is dropped, not written to disk at its pace. */
export const MAX_OUTPUT_LINES_PER_SECOND = 1000;

/**
 * Gathers lines from every replica and hands them to the sink in batches
 * (every `flushMs` or `maxLines`), off the request path. A replica that
 * floods its output loses lines, never memory: the drop is recorded as a line.
 */
export class OutputCollector {
  readonly #sink: OutputSink;
  readonly #flushMs: number;
  readonly #maxLines: number;
  readonly #log: Logger;
  readonly #now: () => number;
  #lines: ReplicaOutputLine[] = [];
  /** Lines taken per function in the current second. */
  #window = { start: 0, counts: new Map<string, number>() };
  #dropped = new Map<string, { line: ReplicaOutputLine; count: number }>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: { sink: OutputSink; log: Logger; flushMs?: number; maxLines?: number; now?: () => number }) {
    this.#sink = options.sink;
    this.#now = options.now ?? Date.now;
    this.#log = options.log;
    this.#flushMs = options.flushMs ?? 250;
    this.#maxLines = options.maxLines ?? 100;
  }

  add(line: ReplicaOutputLine): void {
    const now = this.#now();
    if (now - this.#window.start >= 1000) this.#window = { start: now, counts: new Map() };
    const key = `${line.repository}/${line.function}`.toLowerCase();
    const taken = (this.#window.counts.get(key) ?? 0) + 1;
    this.#window.counts.set(key, taken);
    if (this.#lines.length >= MAX_BUFFERED_LINES || taken > MAX_OUTPUT_LINES_PER_SECOND) {
      const dropped = this.#dropped.get(line.replica);
      if (dropped) dropped.count++;
      else this.#dropped.set(line.replica, { line, count: 1 });
    } else {
      this.#lines.push(line);
    }
    if (this.#lines.length >= this.#maxLines) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), this.#flushMs);
  }

  /** Hands what is buffered to the sink now. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const lines = this.#lines;
    for (const { line, count } of this.#dropped.values()) {
      lines.push({ ...line, stream: "stderr", line: `(eserveless: ${count} lines of output dropped: the function printed faster than they are kept)` });
    }
    this.#lines = [];
    this.#dropped.clear();
    if (lines.length === 0) return;
    try {
      this.#sink(lines);
    } catch (error) {
      // The store failing (a full disk) must not take the pool down; the lines are lost, the log says so.
      this.#log.warn({ err: error, lines: lines.length }, "could not store function output");
    }
  }
}

/**
 * Follows a container's output (Docker's log stream, with timestamps) from
 * `sinceMs` on, handing each line to `onLine`. It ends when the container is
 * removed, or at `stop()`.
 */
export async function followReplicaOutput(
  /** A container, or a Swarm service (its tasks' output, through the manager). */
  container: Pick<Docker.Container, "modem"> & { logs(options: { follow: true; stdout: true; stderr: true; timestamps: true; since: number }): Promise<unknown> },
  options: { sinceMs: number; now: () => number; onLine: (stream: "stdout" | "stderr", at: number, line: string) => void; onEnd?: () => void },
): Promise<{ stop(): void }> {
  const raw = (await container.logs({ follow: true, stdout: true, stderr: true, timestamps: true, since: options.sinceMs / 1000 })) as Readable;
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  container.modem.demuxStream(raw, stdout, stderr);
  for (const [name, stream] of [["stdout", stdout], ["stderr", stderr]] as const) {
    let pending = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      pending += chunk;
      let newline: number;
      while ((newline = pending.indexOf("\n")) !== -1 || pending.length > MAX_PENDING_CHARS) {
        const end = newline === -1 ? MAX_PENDING_CHARS : newline;
        emit(name, pending.slice(0, end));
        pending = pending.slice(newline === -1 ? end : end + 1);
      }
    });
  }
  raw.on("end", () => {
    stdout.end();
    stderr.end();
  });
  raw.on("close", () => options.onEnd?.());
  // A removed container ends the stream, sometimes with an error: nothing more to read either way.
  raw.on("error", () => raw.destroy());

  function emit(stream: "stdout" | "stderr", entry: string): void {
    // "2026-12-02T17:31:19.123456789Z the line": Docker's time of the line, then the line.
    const space = entry.indexOf(" ");
    const at = space > 0 ? Date.parse(entry.slice(0, space)) : Number.NaN;
    const line = Number.isNaN(at) ? entry : entry.slice(space + 1);
    options.onLine(stream, Number.isNaN(at) ? options.now() : at, line.replace(/\r$/, ""));
  }

  return {
    stop() {
      raw.destroy();
    },
  };
}
