/**
 * Words and numbers as the CLI and the server's pages show them. A leaf: it
 * imports nothing, so the CLI loads it without the server.
 */

/** A moment as `2025-01-31 14:05:09 UTC`: the same for every reader, whatever their zone. */
export function when(ms: number): string {
  return `${new Date(ms).toISOString().replace("T", " ").slice(0, 19)} UTC`;
}

/** A moment as the wall clock of `timeZone` shows it, named: `2026-12-03 07:00:00 Europe/Paris` (a cron function's next run, in its own zone). */
export function zonedTime(ms: number, timeZone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" })
      .formatToParts(new Date(ms))
      .map((part) => [part.type, part.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second} ${timeZone}`;
}

/** `812 ms` up to 10 s, then `42.5 s`, then `3 min 5 s`; nothing for a missing or impossible one. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return "";
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

/** `1 file`, `3 files`. */
export function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

/** The short form of a commit sha (a content hash for local deployments). */
export function shortSha(sha: string): string {
  return sha.slice(0, 7);
}

/** `1.2 s` at any length: how the deployment log and commit statuses time steps. */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
