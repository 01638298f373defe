import { ContainerFailedError, EserveslessError } from "../errors.js";
import type { FunctionTarget } from "../run/container-pool.js";
import type { Pool } from "../run/pool.js";
import { Slots } from "../slots.js";
import type { Replica } from "../run/function-pool.js";
import type { LiveFunction, LiveHttpFunction } from "../store/live-function-store.js";
import type { DeploymentContext } from "./deployment-context.js";
import { functionTarget } from "./function-target.js";

/** The replicas started for one http function, ready to go live. */
export interface StartedFunction {
  target: FunctionTarget;
  replicas: Replica[];
}

/**
 * Starts one replica of each http function of `live`, side by side, and
 * waits until each answers HTTP: a deployment (or a rollback) of several
 * functions takes about one start, not one per function. The first one also
 * checks the cron functions, so they need no container of their own.
 * `onStarting` is told once Docker was asked to start them all. When one
 * fails, the others stop waiting, its logs go to the deployment log, every
 * replica started is removed, and the error names the function (the first
 * failed one in the manifest's order).
 */
export async function startReplicas(deployment: DeploymentContext, pool: Pool, live: LiveFunction[], onStarting?: () => void): Promise<StartedFunction[]> {
  const { say, output, signal } = deployment;
  signal.throwIfAborted();
  // Told once every start was asked of the engine, or ended before.
  let asking = live.filter((f) => f.type === "http").length;
  const asked = () => {
    if (--asking === 0) onStarting?.();
  };
  if (asking === 0) onStarting?.();
  const cronNames = live.filter((f) => f.type === "cron").map((f) => f.name);
  // One failure ends the others' wait: their containers go with it.
  const failed = new AbortController();
  const either = AbortSignal.any([signal, failed.signal]);
  // One start at a time per slot; see MAX_PARALLEL_STARTS.
  const startOne = async (fn: LiveHttpFunction, index: number): Promise<StartedFunction> => {
    say(`Starting ${fn.name}…`);
    const target = functionTarget(fn);
    const checking = index === 0 && cronNames.length > 0;
    const startTarget = checking ? { ...target, env: { ...target.env, ESERVELESS_CHECK_CRON: cronNames.join(",") } } : target;
    let told = false;
    const tell = () => {
      if (told) return;
      told = true;
      asked();
    };
    try {
      const replica = await pool.start(startTarget, either, tell);
      tell();
      if (checking) say(`${cronNames.join(", ")} can run on schedule (checked in ${fn.name}'s container)`);
      say(`${fn.name} answered HTTP after ${replica.coldStartMs} ms`);
      return { target, replicas: [replica] };
    } catch (error) {
      tell();
      // Its wait was ended by another's failure or by the deployment's end: that is the reason, not this.
      const cutShort = either.aborted && error === either.reason;
      failed.abort(new CutShort("another function failed to start"));
      throw cutShort ? new CutShort(`${fn.name}: stopped waiting`, { cause: error }) : named(fn.name, error, output);
    }
  };
  // A function still waiting for its slot when another fails is not started: its wait ends with the reason.
  const slots = new Slots(MAX_PARALLEL_STARTS);
  const starts = live
    .filter((f): f is LiveHttpFunction => f.type === "http")
    .map(async (fn, index): Promise<StartedFunction> => {
      const release = await slots.acquire(either);
      try {
        return await startOne(fn, index);
      } finally {
        release();
      }
    });
  const settled = await Promise.allSettled(starts);
  const started = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (!failure) return started;
  // None of them goes live: do not leave them running.
  await pool.discard(started.flatMap((f) => f.replicas));
  signal.throwIfAborted();
  // A start cut short because another failed is not the reason: the failure that cut it is.
  const reason = settled.find((s): s is PromiseRejectedResult => s.status === "rejected" && !(s.reason instanceof CutShort)) ?? failure;
  throw reason.reason;
}

/**
 * How many containers a deployment starts at once. Side by side saves time,
 * but Docker 20.10's network code can deadlock the whole engine when scores of
 * containers join and leave one network at the same moment (seen with 100
 * functions): a project of many functions starts them a few at a time.
 */
const MAX_PARALLEL_STARTS = 4;

/** A start that stopped waiting because another function's failed (or the deployment was cut short). */
class CutShort extends Error {}

/** The error of one function's start, named after it ("API: …"), its output in the deployment log. */
function named(name: string, error: unknown, output: (line: string) => void): unknown {
  if (error instanceof ContainerFailedError) for (const line of error.logs) output(`  ${name} | ${line}`);
  if (error instanceof EserveslessError) {
    // "API: …", unless the runtime's reason names the function already.
    const message = error.message.startsWith(`${name} `) ? error.message : `${name}: ${error.message}`;
    return new EserveslessError(message, { status: error.status, blame: error.blame, code: error.code, cause: error });
  }
  return error;
}
