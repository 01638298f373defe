import { performance } from "node:perf_hooks";

/**
 * Whether the router's own event loop is the bottleneck: its utilization
 * over the last `windowMs` is at or above `threshold`. When it is, requests
 * wait for a slot because the router cannot move them faster, and another
 * container of the function would only take CPU from it.
 *
 * A sample is only as good as its window: after an idle spell (no question
 * for more than two windows) the utilization since the last sample is mostly
 * that idleness, and says nothing of the load that just began. The answer is
 * then "saturated" until one window of the new load has been measured, so a
 * burst of requests after a quiet period does not start containers on a
 * reading of the quiet; a pool asks again within its scale-up delay.
 */
export function routerSaturation(options: { threshold?: number; windowMs?: number; now?: () => number } = {}): () => boolean {
  const threshold = options.threshold ?? 0.9;
  const windowMs = options.windowMs ?? 100;
  const now = options.now ?? (() => performance.now());
  let since = performance.eventLoopUtilization();
  let sampledAt = now();
  let saturated = false;
  return () => {
    const at = now();
    // Asked on every release under load: one sample per window is enough.
    if (at - sampledAt < windowMs) return saturated;
    const current = performance.eventLoopUtilization();
    saturated = at - sampledAt > 2 * windowMs || performance.eventLoopUtilization(current, since).utilization >= threshold;
    since = current;
    sampledAt = at;
    return saturated;
  };
}
