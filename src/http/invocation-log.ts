import type { Invocation } from "../contract/invocation.js";

/** How far back the request counts of the dashboard look. */
export const STATS_WINDOW_MS = 60 * 60 * 1000;
const BUCKET_MS = 60 * 1000;
const BUCKETS = STATS_WINDOW_MS / BUCKET_MS;

/** A function's requests in the last hour: how many, and how many answered 5xx (its own errors, timeouts, crashes). */
export interface RequestStats {
  requests: number;
  errors: number;
}

/** One counter per minute in a ring: exact counts at a fixed cost per function, however busy. */
interface Buckets {
  minute: number[];
  requests: number[];
  errors: number[];
}

/**
 * The latest invocations of each function, in memory and bounded: enough to
 * see what a function answered lately, not an access log (pino has that);
 * and per function, exact request and error counts over the last hour.
 */
export function createInvocationLog(perFunction = 50) {
  const byFunction = new Map<string, Invocation[]>();
  const counts = new Map<string, Buckets>();
  return {
    record(fn: string, invocation: Invocation): void {
      const key = fn.toLowerCase();
      const list = byFunction.get(key) ?? [];
      list.push(invocation);
      if (list.length > perFunction) list.shift();
      byFunction.set(key, list);

      let buckets = counts.get(key);
      if (!buckets) counts.set(key, (buckets = { minute: new Array<number>(BUCKETS).fill(-1), requests: new Array<number>(BUCKETS).fill(0), errors: new Array<number>(BUCKETS).fill(0) }));
      const minute = Math.floor(invocation.at / BUCKET_MS);
      const slot = minute % BUCKETS;
      if (buckets.minute[slot] !== minute) {
        buckets.minute[slot] = minute;
        buckets.requests[slot] = 0;
        buckets.errors[slot] = 0;
      }
      buckets.requests[slot]! += 1;
      if (invocation.status >= 500) buckets.errors[slot]! += 1;
    },
    /** Newest first. */
    recent(fn: string): Invocation[] {
      return [...(byFunction.get(fn.toLowerCase()) ?? [])].reverse();
    },
    /** Requests and 5xx answers of `fn` in the hour before `now`. */
    stats(fn: string, now: number): RequestStats {
      const buckets = counts.get(fn.toLowerCase());
      const stats = { requests: 0, errors: 0 };
      if (!buckets) return stats;
      const current = Math.floor(now / BUCKET_MS);
      for (let slot = 0; slot < BUCKETS; slot++) {
        const minute = buckets.minute[slot]!;
        if (minute > current - BUCKETS && minute <= current) {
          stats.requests += buckets.requests[slot]!;
          stats.errors += buckets.errors[slot]!;
        }
      }
      return stats;
    },
  };
}

export type InvocationLog = ReturnType<typeof createInvocationLog>;
