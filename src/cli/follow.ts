import { finalStates, type Deployment, type LogLine } from "../contract/deployment.js";
import type { OutputLine } from "../contract/function-output.js";
import type { EserveslessClient } from "./client.js";
import { CliError, UnreachableError } from "./errors.js";

/** How many polls in a row may fail to reach the server before following gives up. */
const MAX_UNREACHABLE_POLLS = 10;

export interface FollowOptions {
  /** Each new log line, in order. */
  onLine: (line: LogLine) => void;
  /** The deployment after each poll. */
  onUpdate?: (deployment: Deployment) => void;
  /** Log lines already seen (0: from the start). */
  after?: number;
  intervalMs?: number;
  /** Give up (exit 1) when the deployment has not ended by then. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const isFinal = (deployment: Deployment) => finalStates.has(deployment.state);

/**
 * Polls a deployment (`GET /deployments/:id?after=N`) until it reaches a
 * final state, handing over new log lines as they come; returns it then.
 * A server that stops answering for a moment (a restart) is waited for.
 */
export async function followDeployment(client: EserveslessClient, id: string, options: FollowOptions): Promise<Deployment> {
  const intervalMs = options.intervalMs ?? 300;
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  let after = options.after ?? 0;
  let unreachable = 0;
  for (;;) {
    let answer: Awaited<ReturnType<EserveslessClient["deployment"]>> | undefined;
    try {
      answer = await client.deployment(id, after);
      unreachable = 0;
    } catch (error) {
      if (!(error instanceof UnreachableError) || ++unreachable >= MAX_UNREACHABLE_POLLS) throw error;
    }
    if (answer) {
      for (const line of answer.log) {
        if (line.seq <= after) continue;
        options.onLine(line);
        after = line.seq;
      }
      options.onUpdate?.(answer.deployment);
      if (isFinal(answer.deployment)) return answer.deployment;
    }
    if (Date.now() > deadline) {
      throw new CliError(
        `deployment ${id} has not ended after ${Math.round(options.timeoutMs! / 1000)} s (${answer?.deployment.state ?? "server unreachable"}); ` +
          `it goes on on the server: eserveless logs ${id} --follow`,
      );
    }
    await sleep(intervalMs * (unreachable > 0 ? Math.min(unreachable, 5) : 1), options.signal);
  }
}

/**
 * Polls an http function's output (`GET /api/functions/…/output?after=N`)
 * until `signal` aborts (Ctrl-C), handing over new lines as they come. A
 * server that stops answering for a moment (a restart) is waited for.
 */
export async function followFunctionOutput(
  client: EserveslessClient,
  repository: string,
  fn: string,
  options: { after: number; onLine: (line: OutputLine) => void; intervalMs?: number; signal?: AbortSignal },
): Promise<void> {
  const intervalMs = options.intervalMs ?? 500;
  let after = options.after;
  let unreachable = 0;
  for (;;) {
    try {
      for (const line of await client.functionOutput(repository, fn, after)) {
        options.onLine(line);
        after = line.seq;
      }
      unreachable = 0;
    } catch (error) {
      if (options.signal?.aborted) return;
      if (!(error instanceof UnreachableError) || ++unreachable >= MAX_UNREACHABLE_POLLS) throw error;
    }
    try {
      await sleep(intervalMs * (unreachable > 0 ? Math.min(unreachable, 5) : 1), options.signal);
    } catch (error) {
      // Ctrl-C ends following, as it should: not an error.
      if (options.signal?.aborted) return;
      throw error;
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new CliError("interrupted", { exitCode: 130 }));
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", abort);
      resolve();
    }
    function abort() {
      clearTimeout(timer);
      reject(new CliError("interrupted", { exitCode: 130 }));
    }
    signal?.addEventListener("abort", abort, { once: true });
  });
}
