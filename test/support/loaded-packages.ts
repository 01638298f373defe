import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";

// Preloaded (`node --import tsx --import ./test/support/loaded-packages.ts …`)
// into a process under test: as it exits, it writes the npm packages its
// CommonJS module cache holds, as JSON, to LOADED_PACKAGES_FILE. Nothing in
// the process under test changes.

/** The npm packages (scoped as "@scope/name") that files under node_modules belong to, sorted. */
export function packagesOf(files: readonly string[]): string[] {
  const names = new Set<string>();
  for (const file of files) {
    const parts = file.split(/[\\/]node_modules[\\/]/);
    if (parts.length < 2) continue;
    const [first, second] = parts.at(-1)!.split(/[\\/]/);
    names.add(first!.startsWith("@") ? `${first}/${second}` : first!);
  }
  return [...names].sort();
}

const out = process.env.LOADED_PACKAGES_FILE;
if (out !== undefined) {
  const { cache } = createRequire(import.meta.url);
  process.once("exit", () => writeFileSync(out, JSON.stringify(packagesOf(Object.keys(cache)))));
}
