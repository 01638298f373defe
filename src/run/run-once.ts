import type Docker from "dockerode";
import type { Logger } from "pino";
import { demuxDockerLog, tailText } from "./run-output.js";
import { sandboxedContainer } from "./sandbox.js";
import { statusCode } from "./docker-error.js";

/** What {@link runOnce} runs: one sandboxed container with no port, to its end. */
export interface RunOnceInput {
  image: string;
  /** The container's name; unique on the Docker engine. */
  name: string;
  env: Record<string, string>;
  /** Which keys of `env` are the function's secrets: a swarm job mounts them as Docker secrets instead. */
  secretNames?: readonly string[] | undefined;
  labels: Record<string, string>;
  /** The project's Docker network (see ProjectNetworks). */
  network: string;
  /** The sandbox's memory limit; its default when undefined. */
  memoryBytes?: number | undefined;
  /** The sandbox's CPU limit in billionths of a CPU; its default when undefined. */
  nanoCpus?: number | undefined;
  /** Past this, the container is killed (`reason: "timeout"`). */
  timeoutMs: number;
  /** Aborting kills the container (`reason: "stopped"`). */
  signal?: AbortSignal | undefined;
  /** The most output kept: its end, cut on a character boundary. */
  maxOutputBytes: number;
  /** Where a container that could not be removed is reported. */
  log?: Logger | undefined;
}

/** How a container that {@link runOnce} started ended. */
export interface RunOnceResult {
  /** `exited` on its own, killed past its `timeout`, or killed because the signal aborted (`stopped`). */
  reason: "exited" | "timeout" | "stopped";
  exitCode: number | null;
  /**
   * Why a non-zero exit happened, when Docker tells: killed for using more
   * than its memory, or its container removed from outside eserveless
   * (docker rm -f, another eserveless on this engine) while it ran.
   */
  killed?: "out_of_memory" | "removed";
  /** The end of what it printed, stdout and stderr interleaved. */
  output: string;
  /** Earlier output was dropped. */
  truncated: boolean;
  /** From its start to its exit or kill. */
  durationMs: number;
}

/** The container could not be run (created, started or waited for); it is removed. */
export class RunOnceError extends Error {
  constructor(
    cause: unknown,
    /** What it printed before that, when it started at all. */
    readonly output: { text: string; truncated: boolean },
  ) {
    super((cause as Error).message, { cause });
    this.name = "RunOnceError";
  }
}

/**
 * Runs one sandboxed container (no port published) to its end, killed past
 * `timeoutMs` or when `signal` aborts, and returns how it ended and the end
 * of its output. The container is removed afterwards, whatever happened.
 * Throws {@link RunOnceError} when Docker cannot create, start or wait for it.
 */
export async function runOnce(docker: Docker, input: RunOnceInput): Promise<RunOnceResult> {
  const signal = input.signal ?? new AbortController().signal;
  const container = await docker
    .createContainer(sandboxedContainer({ image: input.image, name: input.name, env: input.env, labels: input.labels, network: input.network, memoryBytes: input.memoryBytes, nanoCpus: input.nanoCpus }))
    .catch((cause: unknown) => {
      throw new RunOnceError(cause, { text: "", truncated: false });
    });
  let outcome: { reason: RunOnceResult["reason"]; exitCode: number | null; killed?: RunOnceResult["killed"]; durationMs: number } | undefined;
  let failure: unknown;
  try {
    signal.throwIfAborted();
    await container.start();
    const started = performance.now();
    const ended = await waitForExit(container, input.timeoutMs, signal);
    outcome = { ...ended, durationMs: performance.now() - started };
    if (ended.reason === "exited" && ended.exitCode !== 0) {
      const state = await container.inspect().then((info) => info.State, (cause: unknown) => (statusCode(cause) === 404 ? "gone" : undefined));
      if (state === "gone" || state?.Status === "removing" || state?.Status === "dead") outcome.killed = "removed";
      else if (state?.OOMKilled) outcome.killed = "out_of_memory";
    }
  } catch (cause) {
    failure = cause;
  }
  const output = await readOutput(container, input.maxOutputBytes).catch((cause: Error) => ({ text: `(output unavailable: ${cause.message})`, truncated: false }));
  await container.remove({ force: true }).catch((cause: unknown) => {
    if (statusCode(cause) !== 404) input.log?.warn({ err: cause, container: container.id }, "could not remove a run-once container; it is removed at the next start");
  });
  if (!outcome) throw new RunOnceError(failure, output);
  return { ...outcome, output: output.text, truncated: output.truncated };
}

/** Waits for the container to exit, killing it past `timeoutMs` or when `signal` aborts. */
async function waitForExit(container: Docker.Container, timeoutMs: number, signal: AbortSignal): Promise<{ reason: RunOnceResult["reason"]; exitCode: number | null }> {
  const exited = (container.wait() as Promise<{ StatusCode: number }>).then((result) => result.StatusCode);
  exited.catch(() => undefined); // Awaited below when it matters; never an unhandled rejection.
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const limit = new Promise<"timeout" | "stopped">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
    onAbort = () => resolve("stopped");
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    const first = await Promise.race([exited, limit]);
    if (typeof first === "number") return { reason: "exited", exitCode: first };
    try {
      await container.kill();
    } catch (cause) {
      // 409: it exited on its own between the deadline and the kill.
      if (statusCode(cause) === 409) return { reason: "exited", exitCode: await exited.catch(() => null) };
      if (statusCode(cause) !== 404) throw cause;
    }
    return { reason: first, exitCode: await exited.catch(() => null) };
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
}

/** The end of what the container printed, stdout and stderr interleaved, bounded. */
async function readOutput(container: Docker.Container, maxBytes: number): Promise<{ text: string; truncated: boolean }> {
  const raw = (await container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
  return tailText(demuxDockerLog(raw), maxBytes);
}
