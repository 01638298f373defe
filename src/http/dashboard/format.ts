/** Formatting shared by the dashboard pages. */

/** A moment as `2025-01-31 14:05:09 UTC`: the same for every reader, whatever their zone. */
export function when(ms: number): string {
  return `${new Date(ms).toISOString().replace("T", " ").slice(0, 19)} UTC`;
}

/** `812 ms`, `4.2 s`, `3 min 5 s`. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

/** The short form of a commit sha (a content hash for local deployments). */
export function shortSha(sha: string): string {
  return sha.slice(0, 7);
}

/** The dashboard page of a project. */
export function projectPath(repository: string): string {
  return `/dashboard/projects/${repository.split("/").map(encodeURIComponent).join("/")}`;
}

/** `main` for `refs/heads/main`, `v1.2` for `refs/tags/v1.2`; other refs as they are. */
export function shortRef(ref: string): string {
  return ref.replace(/^refs\/(heads|tags)\//, "");
}
