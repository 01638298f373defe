import { ContainerFailedError, EserveslessError } from "../errors.js";
import type { FunctionTarget } from "../run/container-pool.js";
import type { Pool } from "../run/pool.js";
import type { Replica } from "../run/function-pool.js";
import type { LiveFunction } from "../store/live-function-store.js";
import type { DeploymentContext } from "./deployment-context.js";
import { functionTarget } from "./function-target.js";

/** The replicas started for one http function, ready to go live. */
export interface StartedFunction {
  target: FunctionTarget;
  replicas: Replica[];
}

/**
 * Starts one replica of each http function of `live` and waits until it
 * answers HTTP. The first one also checks the cron functions, so they need no
 * container of their own. On failure the function's logs go to the deployment
 * log, the replicas already started are removed, and the error names the
 * function.
 */
export async function startReplicas(deployment: DeploymentContext, pool: Pool, live: LiveFunction[]): Promise<StartedFunction[]> {
  const { say, output, signal } = deployment;
  const started: StartedFunction[] = [];
  const cronNames = live.filter((f) => f.type === "cron").map((f) => f.name);
  try {
    for (const [index, fn] of live.filter((f) => f.type === "http").entries()) {
      signal.throwIfAborted();
      say(`Starting ${fn.name}…`);
      const target = functionTarget(fn);
      const checking = index === 0 && cronNames.length > 0;
      const startTarget = checking ? { ...target, env: { ...target.env, ESERVELESS_CHECK_CRON: cronNames.join(",") } } : target;
      try {
        const replica = await pool.start(startTarget, signal);
        if (checking) say(`${cronNames.join(", ")} can run on schedule (checked in ${fn.name}'s container)`);
        started.push({ target, replicas: [replica] });
        say(`${fn.name} answered HTTP after ${replica.coldStartMs} ms`);
      } catch (error) {
        if (error instanceof ContainerFailedError) for (const line of error.logs) output(`  ${fn.name} | ${line}`);
        if (error instanceof EserveslessError) {
          // "API: …", unless the runtime's reason names the function already.
          const message = error.message.startsWith(`${fn.name} `) ? error.message : `${fn.name}: ${error.message}`;
          throw new EserveslessError(message, { status: error.status, blame: error.blame, code: error.code, cause: error });
        }
        throw error;
      }
    }
    return started;
  } catch (error) {
    // None of them goes live: do not leave them running.
    await pool.discard(started.flatMap((f) => f.replicas));
    throw error;
  }
}
