import type { Invocation } from "../contract/invocation.js";

/**
 * The latest invocations of each function, in memory and bounded: enough to
 * see what a function answered lately, not an access log (pino has that).
 */
export function createInvocationLog(perFunction = 50) {
  const byFunction = new Map<string, Invocation[]>();
  return {
    record(fn: string, invocation: Invocation): void {
      const key = fn.toLowerCase();
      const list = byFunction.get(key) ?? [];
      list.push(invocation);
      if (list.length > perFunction) list.shift();
      byFunction.set(key, list);
    },
    /** Newest first. */
    recent(fn: string): Invocation[] {
      return [...(byFunction.get(fn.toLowerCase()) ?? [])].reverse();
    },
  };
}

export type InvocationLog = ReturnType<typeof createInvocationLog>;
