import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { gunzipSync } from "node:zlib";
import { extract as tarExtract } from "tar-stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { anchorDockerPatterns, packFolder } from "../../src/cli/pack-folder.js";
import { extractTarball, type SourceTree } from "../../src/source/extract-tarball.js";

let root: string;
let outside: string;

/** Writes files (and their folders) under the test folder; a number in the tuple is the mode. */
function files(tree: Record<string, string | [string, number]>): void {
  for (const [path, value] of Object.entries(tree)) {
    const full = join(root, path);
    mkdirSync(dirname(full), { recursive: true });
    const [content, mode] = typeof value === "string" ? [value, 0o644] : value;
    writeFileSync(full, content);
    chmodSync(full, mode);
  }
}

/** The archive as the server reads it. */
async function unpack(tarball: Buffer): Promise<SourceTree> {
  return extractTarball(tarball);
}

const paths = (tree: SourceTree) => [...tree.entries()].map((entry) => entry.path);

/** The raw tar headers, to see the top folder and the timestamps. */
async function headers(tarball: Buffer) {
  const extract = tarExtract();
  const seen: Array<{ name: string; type: string | null | undefined; mtime?: Date; uid?: number }> = [];
  const done = (async () => {
    for await (const entry of extract) {
      seen.push({ name: entry.header.name, type: entry.header.type, mtime: entry.header.mtime, uid: entry.header.uid });
      entry.resume();
    }
  })();
  extract.end(gunzipSync(tarball));
  await done;
  return seen;
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "eserveless-pack-"));
  outside = mkdtempSync(join(tmpdir(), "eserveless-outside-"));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

describe("packFolder", () => {
  it("packs every file under one top folder, keeping contents and modes", async () => {
    files({ ".eserveless.yaml": "runtime: node\n", "functions.js": "module.exports = {};\n", "bin/run.sh": ["#!/bin/sh\necho hi\n", 0o755], "src/deep/a.txt": "a" });
    const packed = await packFolder(root, { topFolder: "my-app" });

    expect(packed.files).toEqual([".eserveless.yaml", "bin/run.sh", "functions.js", "src/deep/a.txt"]);
    expect(packed.bytes).toBe(14 + 21 + 18 + 1);
    const tree = await unpack(packed.tarball);
    expect(paths(tree)).toEqual(packed.files);
    expect(tree.text("functions.js")).toBe("module.exports = {};\n");
    expect(tree.get("bin/run.sh")).toMatchObject({ type: "file", mode: 0o755 });
    expect(tree.get("functions.js")).toMatchObject({ type: "file", mode: 0o644 });

    const raw = await headers(packed.tarball);
    expect(raw[0]).toMatchObject({ name: "my-app/", type: "directory" });
    expect(raw.every((h) => h.name.startsWith("my-app/"))).toBe(true);
  });

  it("packs equal folders to equal bytes (the server hashes them into the commit)", async () => {
    files({ "b.txt": "b", "a.txt": "a", "c/d.txt": "d" });
    const first = await packFolder(root, { topFolder: "app" });
    await new Promise((resolve) => setTimeout(resolve, 20));
    writeFileSync(join(root, "a.txt"), "a"); // same content, new mtime
    const second = await packFolder(root, { topFolder: "app" });
    expect(second.tarball.equals(first.tarball)).toBe(true);
    expect(new Set((await headers(first.tarball)).map((h) => h.mtime?.toISOString()))).toEqual(new Set(["2000-01-01T00:00:00.000Z"]));

    writeFileSync(join(root, "a.txt"), "A");
    expect((await packFolder(root, { topFolder: "app" })).tarball.equals(first.tarball)).toBe(false);
  });

  it("always leaves out .git and node_modules, at any depth, whatever the ignore files say", async () => {
    files({
      "index.js": "",
      ".git/HEAD": "ref: refs/heads/main\n",
      "node_modules/left-pad/index.js": "",
      "packages/a/node_modules/x.js": "",
      "packages/a/index.js": "",
      "vendor/lib/.git": "gitdir: ../../.git/modules/lib\n",
      ".gitignore": "!node_modules\n!.git\n",
    });
    const packed = await packFolder(root, { topFolder: "app" });
    expect(packed.files).toEqual([".gitignore", "index.js", "packages/a/index.js"]);
  });

  it("honours .gitignore like git: globs, folders, negations, anchors, nested files", async () => {
    files({
      ".gitignore": ["# build output", "dist/", "*.log", "!keep.log", "/only-root.txt", "secret*"].join("\n"),
      "dist/bundle.js": "",
      "src/dist/inner.js": "",
      "app.log": "",
      "src/deep/debug.log": "",
      "keep.log": "",
      "only-root.txt": "",
      "src/only-root.txt": "",
      "secret.env": "",
      "src/.gitignore": "generated/\n!secret-but-public.txt\n",
      "src/generated/code.js": "",
      "src/secret-but-public.txt": "",
      "src/secret.key": "",
      "generated/kept-at-root.js": "",
      "functions.js": "",
    });
    const packed = await packFolder(root, { topFolder: "app" });
    expect(packed.files).toEqual([
      ".gitignore",
      "functions.js",
      "generated/kept-at-root.js", // src/.gitignore applies below src/ only
      "keep.log",
      "src/.gitignore",
      "src/only-root.txt",
      "src/secret-but-public.txt", // a deeper .gitignore re-includes
    ]);
  });

  it("honours the root .dockerignore with Docker's anchoring", async () => {
    files({
      ".dockerignore": ["*.md", "!README.md", "tests", "**/*.snap", "./coverage"].join("\n"),
      "CHANGES.md": "",
      "README.md": "",
      "docs/guide.md": "", // *.md is the root's only, in Docker
      "tests/a.test.js": "",
      "src/tests/kept.js": "",
      "src/__snapshots__/a.snap": "",
      "coverage/index.html": "",
      "index.js": "",
    });
    const packed = await packFolder(root, { topFolder: "app" });
    expect(packed.files).toEqual([".dockerignore", "README.md", "docs/guide.md", "index.js", "src/tests/kept.js"]);
    expect(anchorDockerPatterns("# c\n\n*.md\n!/README.md\n./x\n")).toEqual(["/*.md", "!/README.md", "/x"]);
  });

  it("keeps symlinks that stay inside, making absolute ones relative", async () => {
    files({ "real/config.json": "{}", "index.js": "" });
    symlinkSync("real/config.json", join(root, "config.json"));
    symlinkSync(join(root, "real"), join(root, "alias"));
    symlinkSync("missing.txt", join(root, "dangling"));
    const packed = await packFolder(root, { topFolder: "app" });
    const tree = await unpack(packed.tarball);
    expect(tree.get("config.json")).toMatchObject({ type: "symlink", target: "real/config.json" });
    expect(tree.get("alias")).toMatchObject({ type: "symlink", target: "real" });
    expect(tree.get("dangling")).toMatchObject({ type: "symlink", target: "missing.txt" });
    expect(tree.text("config.json")).toBe("{}");
  });

  it("refuses symlinks leading outside the folder, unless they are ignored", async () => {
    writeFileSync(join(outside, "passwd"), "secret");
    files({ "index.js": "" });
    symlinkSync(join(outside, "passwd"), join(root, "absolute-out"));
    await expect(packFolder(root, { topFolder: "app" })).rejects.toThrow(/absolute-out is a symlink to .*passwd, outside the project folder/);

    rmSync(join(root, "absolute-out"));
    symlinkSync("../../../../../../../../etc/hostname", join(root, "relative-out"));
    await expect(packFolder(root, { topFolder: "app" })).rejects.toThrow(/relative-out is a symlink to \.\.\/.*etc\/hostname, outside/);

    // Inside by its path, outside by where it really leads: through a link to a folder outside.
    rmSync(join(root, "relative-out"));
    symlinkSync(outside, join(root, "ext"));
    writeFileSync(join(root, ".gitignore"), "ext\n");
    symlinkSync("ext/passwd", join(root, "sneaky"));
    await expect(packFolder(root, { topFolder: "app" })).rejects.toThrow(/sneaky is a symlink to ext\/passwd, outside/);

    rmSync(join(root, "sneaky"));
    const packed = await packFolder(root, { topFolder: "app" });
    expect(packed.files).toEqual([".gitignore", "index.js"]);
  });

  it("refuses a folder past the limits, and a path that is not a folder", async () => {
    files({ "a.txt": "12345", "b.txt": "67890", "c.txt": "x" });
    await expect(packFolder(root, { topFolder: "app", maxBytes: 8 })).rejects.toThrow(/more than 0 MiB after .gitignore and .dockerignore \(reached at b.txt\)/);
    await expect(packFolder(root, { topFolder: "app", maxFiles: 2 })).rejects.toThrow(/more than 2 files after .gitignore and .dockerignore/);
    await expect(packFolder(join(root, "a.txt"), { topFolder: "app" })).rejects.toThrow(/is not a folder/);
    await expect(packFolder(join(root, "nope"), { topFolder: "app" })).rejects.toThrow(/is not a folder/);
  });
});
