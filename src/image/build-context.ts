import { readdir, readFile, stat } from "node:fs/promises";
import { join, posix } from "node:path";
import { Readable } from "node:stream";
import { pack } from "tar-stream";
import { SourceError } from "../errors.js";
import type { Manifest } from "../manifest/manifest-schema.js";
import type { SourceTree } from "../source/extract-tarball.js";
import { checkGoProject, generateGoFunctions, GO_FUNCTIONS_FILE } from "./golang-dispatcher.js";

/** The files of one runtime template folder (`runtimes/<name>/`), read once at start. */
export interface RuntimeTemplate {
  name: string;
  dockerfile: Buffer;
  /** Files copied to `.eserveless/runtime/` in the build context. */
  files: Array<{ path: string; mode: number; content: Buffer }>;
  /** Project files copied to `.eserveless/deps/` so their layer is cached on code-only pushes. */
  dependencyFiles: string[];
}

const DEPENDENCY_FILES: Record<string, string[]> = {
  node: ["package.json", "package-lock.json", "npm-shrinkwrap.json"],
  golang: ["go.mod", "go.sum"],
};

/** Reads every runtime template below `dir` (one folder each). */
export async function loadRuntimeTemplates(dir: string): Promise<Map<string, RuntimeTemplate>> {
  const templates = new Map<string, RuntimeTemplate>();
  for (const name of await readdir(dir)) {
    const folder = join(dir, name);
    if (!(await stat(folder)).isDirectory()) continue;
    const files: RuntimeTemplate["files"] = [];
    for (const file of (await readdir(folder, { recursive: true })).sort()) {
      const info = await stat(join(folder, file));
      if (!info.isFile() || file === "Dockerfile" || file === "README.md") continue;
      files.push({ path: file, mode: info.mode & 0o777, content: await readFile(join(folder, file)) });
    }
    templates.set(name, {
      name,
      dockerfile: await readFile(join(folder, "Dockerfile")),
      files,
      dependencyFiles: DEPENDENCY_FILES[name] ?? [],
    });
  }
  return templates;
}

/**
 * Appends the labels as ONE instruction: Docker's `labels` build option
 * adds a step per label to every build, cached or not.
 */
function withLabels(dockerfile: Buffer, labels: Record<string, string>): Buffer {
  const pairs = Object.entries(labels).map(([key, value]) => `${JSON.stringify(key)}=${JSON.stringify(value)}`);
  return pairs.length === 0 ? dockerfile : Buffer.concat([dockerfile, Buffer.from(`\nLABEL ${pairs.join(" ")}\n`)]);
}

// A fixed mtime keeps the context byte-identical for identical sources.
const MTIME = new Date("2000-01-01T00:00:00Z");

/** A file eserveless writes into the build context, relative to `.eserveless/`. */
interface GeneratedFile {
  path: string;
  content: string;
}

/**
 * Checks the project against its manifest before anything is built, and
 * returns the files its runtime needs generated: for golang, the `main`
 * package's functions_gen.go (in `.eserveless/main/`, which the golang
 * Dockerfile copies). Throws SourceError with the reason.
 */
function generatedFiles(source: SourceTree, manifest: Manifest): GeneratedFile[] {
  if (manifest.runtime === "golang") {
    const modulePath = checkGoProject(source, manifest);
    return [{ path: `main/${GO_FUNCTIONS_FILE}`, content: generateGoFunctions(modulePath, manifest.functions.map((fn) => fn.name)) }];
  }
  const entry = posix.normalize(manifest.entry);
  if (!source.has(entry)) {
    throw new SourceError(
      `${entry} is not in the repository: a node project exports its functions from ${entry === "functions.js" ? "functions.js at the root" : entry}; add it or set \`entry:\` in .eserveless.yaml to the module that exports them`,
      { code: "entry_missing" },
    );
  }
  return [];
}

/**
 * Packs a Docker build context in memory: the runtime's Dockerfile and
 * templates, the project's dependency manifests, the files generated from
 * the manifest and the project itself under `app/`.
 * Nothing touches the disk. Throws SourceError when the project cannot be
 * built as its manifest says (see {@link generatedFiles}).
 */
export function createBuildContext(source: SourceTree, template: RuntimeTemplate, manifest: Manifest, labels: Record<string, string> = {}): Readable {
  const generated = generatedFiles(source, manifest);
  const tar = pack();
  const file = (name: string, content: Buffer, mode = 0o644) => tar.entry({ name, mode, mtime: MTIME, uid: 0, gid: 0 }, content);
  const dir = (name: string) => tar.entry({ name, type: "directory", mode: 0o755, mtime: MTIME, uid: 0, gid: 0 });

  file("Dockerfile", withLabels(template.dockerfile, labels));
  dir(".eserveless/runtime/");
  for (const f of template.files) file(`.eserveless/runtime/${f.path}`, f.content, f.mode);
  dir(".eserveless/deps/");
  for (const name of template.dependencyFiles) {
    const entry = source.get(name);
    if (entry?.type === "file") file(`.eserveless/deps/${name}`, entry.content, entry.mode);
  }
  const generatedDirs = new Set(generated.map((g) => posix.dirname(g.path)).filter((d) => d !== "."));
  for (const d of [...generatedDirs].sort()) dir(`.eserveless/${d}/`);
  for (const g of generated) file(`.eserveless/${g.path}`, Buffer.from(g.content));
  dir("app/");
  for (const entry of source.entries()) {
    if (entry.type === "file") file(`app/${entry.path}`, entry.content, entry.mode);
    else tar.entry({ name: `app/${entry.path}`, type: "symlink", linkname: entry.target, mode: 0o777, mtime: MTIME, uid: 0, gid: 0 });
  }
  tar.finalize();
  // tar-stream packs with streamx; a Node Readable is what dockerode pipes.
  return Readable.from(tar);
}
