import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const FIXTURES = fileURLToPath(new URL("../fixtures", import.meta.url));

/** The files of a fixture project, keyed by relative path, ready for `emulator.commit`. */
export function readFixture(name: string): Record<string, { content: Buffer; mode: number }> {
  const root = join(FIXTURES, name);
  const files: Record<string, { content: Buffer; mode: number }> = {};
  for (const entry of readdirSync(root, { recursive: true, encoding: "utf8" })) {
    const path = join(root, entry);
    const info = statSync(path);
    if (info.isFile()) files[relative(root, path)] = { content: readFileSync(path), mode: info.mode & 0o777 };
  }
  return files;
}

/** The folder of a fixture project on disk, as `eserveless deploy DIR` takes it. */
export function fixtureDir(name: string): string {
  return join(FIXTURES, name);
}
