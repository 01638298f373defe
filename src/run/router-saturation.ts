import { performance } from "node:perf_hooks";

/**
 * Whether the router's own event loop is the bottleneck: its utilization
 * over the last `windowMs` is at or above `threshold`. When it is, requests
 * wait for a slot because the router cannot move them faster, and another
 * container of the function would only take CPU from it.
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
    saturated = performance.eventLoopUtilization(current, since).utilization >= threshold;
    since = current;
    sampledAt = at;
    return saturated;
  };
}
