import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

// The CLI is installed on laptops (`npm i -g`): it must not load the server
// (SQLite, Docker, Hono) to talk to it. What they share is the wire contract
// and a few leaf modules.

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Every module `entry` reaches through static imports and re-exports: source files (relative to the root) and packages. */
function importGraph(entry: string): { files: string[]; packages: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const { importedFiles } = ts.preProcessFile(readFileSync(join(ROOT, file), "utf8"), true, true);
    for (const { fileName: specifier } of importedFiles) {
      if (!specifier.startsWith(".")) {
        packages.add(specifier);
        continue;
      }
      const base = join(dirname(file), specifier).replace(/\.js$/, "");
      const found = [".ts", ".tsx"].map((ext) => base + ext).find((candidate) => existsSync(join(ROOT, candidate)));
      if (!found) throw new Error(`${file} imports ${specifier}, which is not a source file`);
      visit(relative(ROOT, join(ROOT, found)));
    }
  };
  visit(entry);
  return { files: [...files].sort(), packages: [...packages].sort() };
}

describe("what the CLI loads", () => {
  it("is the CLI, the wire contract and shared leaf modules: nothing of the server", () => {
    const { files, packages } = importGraph("src/cli/main.ts");
    const shared = ["src/closest-name.ts", "src/default-limits.ts", "src/format.ts", "src/urls.ts"];
    expect(files.filter((file) => !file.startsWith("src/cli/") && !file.startsWith("src/contract/") && !shared.includes(file))).toEqual([]);
    expect(files).toEqual(expect.arrayContaining(["src/cli/client.ts", "src/contract/deployment.ts"]));
    expect(packages.filter((name) => !name.startsWith("node:"))).toEqual(["ignore", "tar-stream", "valibot"]);
  });

  it("has a contract that imports nothing but valibot and itself, and leaf modules that import nothing", () => {
    const contract = readdirSync(join(ROOT, "src/contract")).map((name) => `src/contract/${name}`);
    expect(contract.length).toBeGreaterThan(0);
    for (const file of contract) {
      const graph = importGraph(file);
      expect(graph.files.filter((reached) => !reached.startsWith("src/contract/")), file).toEqual([]);
      expect(graph.packages.filter((name) => name !== "valibot"), file).toEqual([]);
    }
    for (const leaf of ["src/format.ts", "src/closest-name.ts", "src/default-limits.ts"]) expect(importGraph(leaf)).toEqual({ files: [leaf], packages: [] });
  });
});
