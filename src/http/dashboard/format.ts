/** Paths and refs as the dashboard pages show them (times and shas: src/format.ts). */

/** The dashboard page of a project. */
export function projectPath(repository: string): string {
  return `/dashboard/projects/${repository.split("/").map(encodeURIComponent).join("/")}`;
}

/** `main` for `refs/heads/main`, `v1.2` for `refs/tags/v1.2`; other refs as they are. */
export function shortRef(ref: string): string {
  return ref.replace(/^refs\/(heads|tags)\//, "");
}
