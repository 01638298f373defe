import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { extract, type Header } from "tar-stream";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createBuildContext, loadRuntimeTemplates, type RuntimeTemplate } from "../../src/image/build-context.js";
import { readManifest } from "../../src/manifest/read-manifest.js";
import { SourceTree, type SourceEntry } from "../../src/source/extract-tarball.js";

const RUNTIMES = fileURLToPath(new URL("../../runtimes", import.meta.url));

interface TarEntry {
  name: string;
  type: Header["type"];
  mode: number | undefined;
  linkname: string | null | undefined;
  mtime: Date | undefined;
  uid: number | undefined;
  gid: number | undefined;
  content: Buffer;
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** Reads a tar back entry by entry with tar-stream's extract(). */
async function untar(tar: Buffer): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  const ex = extract();
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(Buffer.from(chunk as Uint8Array));
      const h = entry.header;
      entries.push({ name: h.name, type: h.type, mode: h.mode, linkname: h.linkname, mtime: h.mtime, uid: h.uid, gid: h.gid, content: Buffer.concat(chunks) });
    }
  })();
  ex.end(tar);
  await done;
  return entries;
}

/** Packs `source` with its manifest, as the deployer does, and returns the tar's bytes. */
async function pack(source: SourceTree, runtime: RuntimeTemplate): Promise<Buffer> {
  const { manifest } = await readManifest(`runtime: ${runtime.name}\nfunctions:\n  - name: Hello\n    type: http\n`, source);
  return collect(createBuildContext(source, runtime, manifest));
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

const file = (path: string, content: string, mode = 0o644): SourceEntry => ({ type: "file", path, mode, content: Buffer.from(content) });
const symlink = (path: string, target: string): SourceEntry => ({ type: "symlink", path, mode: 0o777, target });

/** A small template, independent of the real runtimes/ folder. */
const template: RuntimeTemplate = {
  name: "node",
  dockerfile: Buffer.from("FROM node:20-alpine\nCOPY app/ /app/\n"),
  files: [
    { path: "install-deps.sh", mode: 0o755, content: Buffer.from("#!/bin/sh\nnpm ci\n") },
    { path: "lib/server.cjs", mode: 0o644, content: Buffer.from("module.exports = 1;\n") },
  ],
  dependencyFiles: ["package.json", "package-lock.json", "npm-shrinkwrap.json"],
};

const PACKAGE_JSON = '{"name":"hello","dependencies":{"left-pad":"1.3.0"}}\n';
const LOCKFILE = '{"lockfileVersion":3}\n';

function project(extra: SourceEntry[] = []): SourceEntry[] {
  return [
    file("package.json", PACKAGE_JSON),
    file("functions.js", "export const hello = () => 'hi';\n"),
    file("bin/run.sh", "#!/bin/sh\nexec node .\n", 0o755),
    file("lib/util.js", "export const x = 1;\n", 0o600),
    symlink("current.js", "functions.js"),
    symlink("lib/shared", "../bin"),
    ...extra,
  ];
}

describe("loadRuntimeTemplates", () => {
  it("reads the node runtime of the repository", async () => {
    const templates = await loadRuntimeTemplates(RUNTIMES);
    const node = templates.get("node");
    expect(node).toBeDefined();
    expect(node!.name).toBe("node");
    expect(node!.dockerfile.equals(readFileSync(join(RUNTIMES, "node", "Dockerfile")))).toBe(true);
    expect(node!.dependencyFiles).toEqual(["package.json", "package-lock.json", "npm-shrinkwrap.json"]);

    const paths = node!.files.map((f) => f.path);
    expect(paths).toEqual(expect.arrayContaining(["server.cjs", "install-deps.sh"]));
    expect(paths).not.toContain("Dockerfile");
    expect(paths).not.toContain("README.md");
    for (const f of node!.files) {
      const onDisk = join(RUNTIMES, "node", f.path);
      expect(f.content.equals(readFileSync(onDisk)), f.path).toBe(true);
      expect(f.mode, f.path).toBe(statSync(onDisk).mode & 0o777);
    }
  });

  describe("on a folder of its own", () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "eserveless-runtimes-"));
      mkdirSync(join(dir, "node", "bin"), { recursive: true });
      writeFileSync(join(dir, "node", "Dockerfile"), "FROM node\n");
      writeFileSync(join(dir, "node", "README.md"), "docs");
      writeFileSync(join(dir, "node", "server.cjs"), "server");
      writeFileSync(join(dir, "node", "bin", "start.sh"), "#!/bin/sh\n");
      chmodSync(join(dir, "node", "server.cjs"), 0o640);
      chmodSync(join(dir, "node", "bin", "start.sh"), 0o755);
      mkdirSync(join(dir, "golang"));
      writeFileSync(join(dir, "golang", "Dockerfile"), "FROM golang\n");
      mkdirSync(join(dir, "python"));
      writeFileSync(join(dir, "python", "Dockerfile"), "FROM python\n");
      writeFileSync(join(dir, "NOTES.txt"), "not a runtime");
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("takes one template per folder, skipping plain files", async () => {
      const templates = await loadRuntimeTemplates(dir);
      expect([...templates.keys()].sort()).toEqual(["golang", "node", "python"]);
      expect(templates.get("golang")!.dockerfile.toString()).toBe("FROM golang\n");
      expect(templates.get("golang")!.dependencyFiles).toEqual(["go.mod", "go.sum"]);
      expect(templates.get("golang")!.files).toEqual([]);
      expect(templates.get("python")!.dependencyFiles).toEqual([]);
    });

    it("reads nested files with their modes, sorted, without the Dockerfile and README", async () => {
      const node = (await loadRuntimeTemplates(dir)).get("node")!;
      expect(node.dockerfile.toString()).toBe("FROM node\n");
      expect(node.files.map(({ path, mode, content }) => ({ path, mode, content: content.toString() }))).toEqual([
        { path: join("bin", "start.sh"), mode: 0o755, content: "#!/bin/sh\n" },
        { path: "server.cjs", mode: 0o640, content: "server" },
      ]);
    });
  });
});

describe("createBuildContext", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("packs the Dockerfile, the runtime, the dependency manifests and the project under app/", async () => {
    const entries = await untar(await pack(new SourceTree(project([file("package-lock.json", LOCKFILE)])), template));
    const byName = new Map(entries.map((e) => [e.name, e]));
    expect(entries.map((e) => e.name).sort()).toEqual(
      [
        "Dockerfile",
        ".eserveless/runtime/",
        ".eserveless/runtime/install-deps.sh",
        ".eserveless/runtime/lib/server.cjs",
        ".eserveless/deps/",
        ".eserveless/deps/package.json",
        ".eserveless/deps/package-lock.json",
        "app/",
        "app/package.json",
        "app/package-lock.json",
        "app/functions.js",
        "app/bin/run.sh",
        "app/lib/util.js",
        "app/current.js",
        "app/lib/shared",
      ].sort(),
    );

    expect(byName.get("Dockerfile")!.content.equals(template.dockerfile)).toBe(true);
    expect(byName.get(".eserveless/runtime/install-deps.sh")).toMatchObject({ type: "file", mode: 0o755, content: template.files[0]!.content });
    expect(byName.get(".eserveless/runtime/lib/server.cjs")).toMatchObject({ type: "file", mode: 0o644 });
    expect(byName.get(".eserveless/deps/package.json")!.content.toString()).toBe(PACKAGE_JSON);
    expect(byName.get(".eserveless/deps/package-lock.json")!.content.toString()).toBe(LOCKFILE);
    expect(byName.get("app/functions.js")!.content.toString()).toBe("export const hello = () => 'hi';\n");
    for (const name of [".eserveless/runtime/", ".eserveless/deps/", "app/"]) expect(byName.get(name)!.type).toBe("directory");

    // Nothing of the build host leaks in: root owns everything.
    for (const e of entries) expect([e.uid, e.gid], e.name).toEqual([0, 0]);
  });

  it("leaves the lockfile out of the dependency layer when the project has none", async () => {
    const names = (await untar(await pack(new SourceTree(project()), template))).map((e) => e.name);
    expect(names).toContain(".eserveless/deps/package.json");
    expect(names.filter((n) => n.startsWith(".eserveless/deps/") && n !== ".eserveless/deps/")).toEqual([".eserveless/deps/package.json"]);
  });

  it("copies only the runtime's dependency files to .eserveless/deps/", async () => {
    const go: RuntimeTemplate = { ...template, name: "golang", dependencyFiles: ["go.mod", "go.sum"] };
    const source = new SourceTree([file("go.mod", "module x\n"), file("functions.go", "package functions\n\nfunc Hello() {}\n"), file("package.json", PACKAGE_JSON)]);
    const names = (await untar(await pack(source, go))).map((e) => e.name);
    expect(names.filter((n) => n.startsWith(".eserveless/deps/"))).toEqual([".eserveless/deps/", ".eserveless/deps/go.mod"]);
    expect(names).toContain("app/package.json");
  });

  it("keeps the modes of project files", async () => {
    const byName = new Map((await untar(await pack(new SourceTree(project()), template))).map((e) => [e.name, e]));
    expect(byName.get("app/bin/run.sh")!.mode).toBe(0o755);
    expect(byName.get("app/lib/util.js")!.mode).toBe(0o600);
    expect(byName.get("app/functions.js")!.mode).toBe(0o644);
  });

  it("keeps symlinks as symlinks with their targets", async () => {
    const byName = new Map((await untar(await pack(new SourceTree(project()), template))).map((e) => [e.name, e]));
    expect(byName.get("app/current.js")).toMatchObject({ type: "symlink", linkname: "functions.js" });
    expect(byName.get("app/lib/shared")).toMatchObject({ type: "symlink", linkname: "../bin" });
    expect(byName.get("app/current.js")!.content.length).toBe(0);
  });

  it("packs identical input to identical bytes, whenever and in whatever order it is given", async () => {
    const first = await pack(new SourceTree(project([file("package-lock.json", LOCKFILE)])), template);
    // Another day, and the entries in reverse order: the context must not change, or Docker's cache misses.
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2031-05-06T07:08:09Z"));
    const second = await pack(new SourceTree(project([file("package-lock.json", LOCKFILE)]).reverse()), template);
    expect(sha256(second)).toBe(sha256(first));

    const entries = await untar(second);
    const mtimes = new Set(entries.map((e) => e.mtime?.getTime()));
    expect(mtimes.size).toBe(1);
    expect([...mtimes][0]).not.toBe(new Date("2031-05-06T07:08:09Z").getTime());
  });

  it("packs different bytes when one file changes", async () => {
    const before = await pack(new SourceTree(project()), template);
    const after = await pack(new SourceTree(project([file("functions.js", "export const hello = () => 'bye';\n")])), template);
    expect(sha256(after)).not.toBe(sha256(before));
  });
});
