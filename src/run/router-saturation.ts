import { cpus } from "node:os";
import { performance } from "node:perf_hooks";

/**
 * The default of `minIdleCores` (ESERVELESS_SCALE_UP_IDLE_CPUS): half a CPU
 * idle, room for another container to run at all.
 */
export const DEFAULT_SCALE_UP_IDLE_CPUS = 0.5;

/** Idle time of all the host's CPUs together since boot, in milliseconds. */
function hostIdleMs(): number {
  let idle = 0;
  for (const cpu of cpus()) idle += cpu.times.idle;
  return idle;
}

/**
 * Whether another container would only take CPU from what already runs:
 * the router's own event loop was busy at least `threshold` of the last
 * `windowMs` (requests wait because the router cannot move them faster), or
 * the host's CPUs together were idle less than `minIdleCores` of it
 * (requests wait because the function's container gets too little CPU, and
 * another container would share the same CPUs). On a 2-core host under load
 * the router, the function and the load take both cores: more containers of
 * a trivial function there take CPU from the router instead of adding any.
 *
 * A sample is only as good as its window: after an idle spell (no question
 * for more than two windows) the readings since the last sample are mostly
 * that idleness, and say nothing of the load that just began. The answer is
 * then "saturated" until one window of the new load has been measured, so a
 * burst of requests after a quiet period does not start containers on a
 * reading of the quiet; a pool asks again within its scale-up delay.
 */
export function routerSaturation(
  options: { threshold?: number; minIdleCores?: number; windowMs?: number; now?: () => number; idleMs?: () => number } = {},
): () => boolean {
  const threshold = options.threshold ?? 0.9;
  const minIdleCores = options.minIdleCores ?? DEFAULT_SCALE_UP_IDLE_CPUS;
  const windowMs = options.windowMs ?? 100;
  const now = options.now ?? (() => performance.now());
  const idleMs = options.idleMs ?? hostIdleMs;
  let since = performance.eventLoopUtilization();
  let idleSince = idleMs();
  let sampledAt = now();
  let saturated = false;
  return () => {
    const at = now();
    // Asked on every release under load: one sample per window is enough.
    if (at - sampledAt < windowMs) return saturated;
    const current = performance.eventLoopUtilization();
    const idle = idleMs();
    const stale = at - sampledAt > 2 * windowMs;
    saturated = stale || performance.eventLoopUtilization(current, since).utilization >= threshold || (idle - idleSince) / (at - sampledAt) < minIdleCores;
    since = current;
    idleSince = idle;
    sampledAt = at;
    return saturated;
  };
}
