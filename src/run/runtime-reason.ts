/** The prefix of the lines in which a runtime says itself why a function failed. */
const OWN = "eserveless: ";

/**
 * Why a function's container failed, in one line, from what it printed: the
 * runtime's own last `eserveless: ` line (a module that cannot load, with its
 * error and file:line:column; an export it cannot serve), else a Go panic's
 * first line, else the last line. `own` says whether the runtime gave it.
 */
export function runtimeReason(logs: string[]): { reason: string; own: boolean } | undefined {
  const own = logs.findLast((line) => line.startsWith(OWN));
  if (own) return { reason: own.slice(OWN.length), own: true };
  const hint = logs.find((line) => line.startsWith("panic: ")) ?? logs.at(-1);
  return hint === undefined ? undefined : { reason: hint, own: false };
}
