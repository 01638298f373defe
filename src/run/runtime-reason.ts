/** The prefix of the lines in which a runtime says itself why a function failed. */
export const RUNTIME_PREFIX = "eserveless: ";

/**
 * Why a function's container failed, in one line: the runtime's own last
 * `eserveless: ` line (a module that cannot load, with its error and
 * file:line:column; an export it cannot serve). Undefined when the runtime
 * said nothing. Never a line the function printed itself: the reason becomes
 * a public description and commit status, and such a line may hold a secret.
 */
export function runtimeReason(logs: string[]): string | undefined {
  return logs.findLast((line) => line.startsWith(RUNTIME_PREFIX))?.slice(RUNTIME_PREFIX.length);
}
