import { readFileSync } from "node:fs";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { pack, type Header } from "tar-stream";
import { describe, expect, it } from "vitest";
import { SourceError } from "../../src/errors.js";
import { SourceTree, extractTarball, type ExtractLimits } from "../../src/source/extract-tarball.js";

const TOP = "octo-hello-1a2b3c4";
const SHA = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";

interface Spec {
  name: string;
  content?: string | Buffer;
  type?: Header["type"];
  linkname?: string;
  mode?: number;
}

/** A 512-byte ustar header written by hand, for shapes tar-stream's packer will not produce. */
function ustarHeader(name: string, typeflag: string, size: number): Buffer {
  const block = Buffer.alloc(512);
  block.write(name, 0);
  block.write("0000644\0", 100);
  block.write("0000000\0", 108);
  block.write("0000000\0", 116);
  block.write(`${size.toString(8).padStart(11, "0")}\0`, 124);
  block.write("00000000000\0", 136);
  block.write(typeflag, 156);
  block.write("ustar\0" + "00", 257);
  block.fill(" ", 148, 156); // the checksum is summed with its own field as spaces
  const sum = block.reduce((total, byte) => total + byte, 0);
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  return block;
}

/** The pax global header `git archive` (and so GitHub) starts with: the commit sha as a comment. */
function paxGlobalHeader(sha: string): Buffer {
  let record = ` comment=${sha}\n`;
  record = `${record.length + String(record.length + 3).length}${record}`;
  const body = Buffer.alloc(Math.ceil(record.length / 512) * 512);
  body.write(record);
  return Buffer.concat([ustarHeader("pax_global_header", "g", record.length), body]);
}

async function tarOf(specs: Spec[]): Promise<Buffer> {
  const tar = pack();
  for (const { name, content, type = "file", linkname, mode } of specs) {
    const header = { name, type, linkname, mode };
    if (type === "file") tar.entry(header, content ?? "");
    else tar.entry(header);
  }
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A tarball shaped like GitHub's: pax global header, then everything under `<owner>-<repo>-<sha7>/`, gzipped. */
async function githubTarball(specs: Spec[], { gzip = true } = {}): Promise<Buffer> {
  const under = (path: string) => `${TOP}/${path}`;
  const entries: Spec[] = [{ name: `${TOP}/`, type: "directory" }];
  for (const spec of specs) entries.push({ ...spec, name: under(spec.name), linkname: spec.type === "link" && spec.linkname ? under(spec.linkname) : spec.linkname });
  const tar = Buffer.concat([paxGlobalHeader(SHA), await tarOf(entries)]);
  return gzip ? gzipSync(tar) : tar;
}

async function refusal(input: Buffer | AsyncIterable<Uint8Array>, limits?: Partial<ExtractLimits>): Promise<SourceError> {
  const error: unknown = await extractTarball(input, limits).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(SourceError);
  return error as SourceError;
}

describe("extractTarball", () => {
  it("unpacks a GitHub tarball with the top folder stripped, modes kept and nested folders", async () => {
    const deep = `src/${"very-long-folder-name/".repeat(6)}deep.ts`; // > 100 chars: carried in a pax header
    const tree = await extractTarball(
      await githubTarball([
        { name: "package.json", content: '{"name":"hello"}', mode: 0o644 },
        { name: "bin/", type: "directory" },
        { name: "bin/start.sh", content: "#!/bin/sh\necho hi\n", mode: 0o755 },
        { name: deep, content: "export {};\n" },
      ]),
    );

    expect([...tree.entries()].map((entry) => entry.path)).toEqual(["bin/start.sh", "package.json", deep]);
    expect(tree.get("bin/start.sh")).toMatchObject({ type: "file", mode: 0o755 });
    expect(tree.get("package.json")).toMatchObject({ type: "file", mode: 0o644 });
    expect(tree.text("package.json")).toBe('{"name":"hello"}');
    expect(tree.text(deep)).toBe("export {};\n");
    expect(tree.has("bin")).toBe(false); // folders are implicit
    expect(tree.has("pax_global_header")).toBe(false);
    expect(tree.size).toBe(3);
    expect(tree.totalBytes).toBe(16 + 18 + 11);
  });

  it("accepts a plain tar, a ./-prefixed one, and input as a stream of tiny chunks", async () => {
    const plain = await githubTarball([{ name: "a.txt", content: "plain" }], { gzip: false });
    expect((await extractTarball(plain)).text("a.txt")).toBe("plain");

    const dotted = await tarOf([{ name: `./${TOP}/a.txt`, content: "dotted" }]);
    expect((await extractTarball(dotted)).text("a.txt")).toBe("dotted");

    const gzipped = await githubTarball([{ name: "a.txt", content: "chunked" }]);
    const oneByteFirst = Readable.from([gzipped.subarray(0, 1), gzipped.subarray(1, 100), gzipped.subarray(100)]);
    expect((await extractTarball(oneByteFirst)).text("a.txt")).toBe("chunked");
  });

  it("keeps in-tree symlinks, and text() follows them", async () => {
    const tree = await extractTarball(
      await githubTarball([
        { name: "lib/real.txt", content: "real" },
        { name: "alias.txt", type: "symlink", linkname: "lib/real.txt", mode: 0o777 },
        { name: "lib/up", type: "symlink", linkname: ".." },
        { name: "code", type: "symlink", linkname: "lib" },
        { name: "dangling", type: "symlink", linkname: "not/there" },
      ]),
    );

    expect(tree.get("alias.txt")).toEqual({ type: "symlink", path: "alias.txt", mode: 0o777, target: "lib/real.txt" });
    expect(tree.text("alias.txt")).toBe("real");
    expect(tree.text("code/real.txt")).toBe("real");
    expect(tree.text("lib/up/alias.txt")).toBe("real");
    expect(tree.text("dangling")).toBeUndefined();
    expect(tree.text("lib")).toBeUndefined();
  });

  it("materializes an in-tree hard link as a copy of its file", async () => {
    const tree = await extractTarball(
      await githubTarball([
        { name: "run.sh", content: "#!/bin/sh\n", mode: 0o755 },
        { name: "copy.sh", type: "link", linkname: "run.sh", mode: 0o755 },
      ]),
    );

    expect(tree.get("copy.sh")).toMatchObject({ type: "file", mode: 0o755, content: Buffer.from("#!/bin/sh\n") });
    expect(tree.totalBytes).toBe(20);
  });

  it("lets the later of two entries with one path win", async () => {
    const tree = await extractTarball(
      await githubTarball([
        { name: "a.txt", content: "first" },
        { name: "a.txt", content: "second" },
      ]),
    );
    expect(tree.text("a.txt")).toBe("second");
    expect(tree.size).toBe(1);
  });

  it.each<[string, Spec[], string, RegExp]>([
    ["a ../ entry", [{ name: "../evil", content: "x" }], "tarball_path_traversal", /"octo-hello-1a2b3c4\/..\/evil" escapes the project folder \(".." segment\)/],
    ["a .. hidden mid-path", [{ name: "a/../../evil", content: "x" }], "tarball_path_traversal", /".." segment/],
    ["a backslash path", [{ name: "..\\evil", content: "x" }], "tarball_path_traversal", /backslash/],
    ["a symlink to ../../etc/passwd", [{ name: "passwd", type: "symlink", linkname: "../../etc/passwd" }], "tarball_link_escape", /Symlink "passwd" points to "..\/..\/etc\/passwd", outside the project folder/],
    ["a symlink to the parent of the tree", [{ name: "up", type: "symlink", linkname: ".." }], "tarball_link_escape", /Symlink "up"/],
    ["an absolute symlink", [{ name: "passwd", type: "symlink", linkname: "/etc/passwd" }], "tarball_link_escape", /"\/etc\/passwd", outside the project folder \(absolute path\)/],
    [
      "a symlink that climbs out through another symlink",
      [
        { name: "t", content: "x" },
        { name: "a/b/y", type: "symlink", linkname: "../../t" },
        { name: "p", type: "symlink", linkname: "a/b/y/../../.." },
      ],
      "tarball_link_escape",
      /Symlink "p" points to "a\/b\/y\/..\/..\/..", outside the project folder \(leads above the project folder through other symlinks/,
    ],
    [
      "an entry written through a symlink to a parent",
      [
        { name: "sub/a", type: "symlink", linkname: ".." },
        { name: "sub/a/x", content: "x" },
      ],
      "tarball_link_escape",
      /"sub\/a\/x" lies inside the symlink "sub\/a"/,
    ],
    [
      "an entry written through a symlink that comes later",
      [
        { name: "sub/a/x", content: "x" },
        { name: "sub/a", type: "symlink", linkname: ".." },
      ],
      "tarball_link_escape",
      /lies inside the symlink/,
    ],
    ["a hard link to a file not yet in the tree", [{ name: "h", type: "link", linkname: "later.txt" }], "tarball_invalid", /Hard link "h" points to .*not a regular file earlier/],
    ["a character device", [{ name: "dev/null", type: "character-device" }], "tarball_unsupported_entry", /"dev\/null" is a character-device/],
    ["a fifo", [{ name: "pipe", type: "fifo" }], "tarball_unsupported_entry", /"pipe" is a fifo/],
    ["a file used as a folder", [{ name: "f", content: "x" }, { name: "f/g", content: "y" }], "tarball_invalid", /"f\/g" lies inside "f", which is a file/],
  ])("refuses %s", async (_, specs, code, message) => {
    const error = await refusal(await githubTarball(specs));
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    expect(error.status).toBe(422);
  });

  it.each<[string, Spec, RegExp]>([
    ["an absolute path", { name: "/etc/passwd", content: "x" }, /"\/etc\/passwd" escapes the project folder \(absolute path\); remove it/],
    ["a drive letter", { name: "C:/evil", content: "x" }, /drive letter/],
  ])("refuses an entry with %s", async (_, spec, message) => {
    const error = await refusal(await tarOf([{ name: `${TOP}/a`, content: "ok" }, spec]));
    expect(error.code).toBe("tarball_path_traversal");
    expect(error.message).toMatch(message);
  });

  it.each(["/etc/passwd", "../outside", `${TOP}/../x`, "other-top/file"])("refuses a hard link to %s", async (linkname) => {
    const tar = await tarOf([
      { name: `${TOP}/a`, content: "ok" },
      { name: `${TOP}/h`, type: "link", linkname },
    ]);
    const error = await refusal(tar);
    expect(error.code).toBe("tarball_link_escape");
    expect(error.message).toContain(`Hard link "h" points to ${JSON.stringify(linkname)}, outside the project folder`);
  });

  it("refuses entries under two different top folders", async () => {
    const error = await refusal(
      await tarOf([
        { name: `${TOP}/a`, content: "a" },
        { name: "other-top/b", content: "b" },
      ]),
    );
    expect(error.code).toBe("tarball_invalid");
    expect(error.message).toMatch(/"other-top\/b" is not under the top folder "octo-hello-1a2b3c4"/);
  });

  it("refuses a file at the top level", async () => {
    const error = await refusal(await tarOf([{ name: "README.md", content: "hi" }]));
    expect(error.code).toBe("tarball_invalid");
    expect(error.message).toMatch(/^Tarball entry "README.md" is not under the top folder; .*exactly one top folder/);
  });

  it.each<[string, Partial<ExtractLimits>, string, RegExp]>([
    ["total bytes", { maxBytes: 100 }, "tarball_too_large", /"b" brings the commit past 100 bytes unpacked \(ESERVELESS_MAX_SOURCE_BYTES=100\); .*raise ESERVELESS_MAX_SOURCE_BYTES/],
    ["entries", { maxFiles: 1 }, "tarball_too_many_files", /"b" is one more than the 1 entries .*raise ESERVELESS_MAX_SOURCE_FILES/],
    ["one file's size", { maxFileBytes: 59 }, "tarball_file_too_large", /"a" is 60 bytes, more than the 59 bytes one file may have/],
  ])("enforces the cap on %s", async (_, limits, code, message) => {
    const tarball = await githubTarball([
      { name: "a", content: "x".repeat(60) },
      { name: "b", content: "y".repeat(60) },
    ]);
    const error = await refusal(tarball, limits);
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    // The same tarball passes when the caps are just high enough.
    await expect(extractTarball(tarball, { maxBytes: 120, maxFiles: 2, maxFileBytes: 60 })).resolves.toBeInstanceOf(SourceTree);
  });

  it("keeps the default for a limit passed as undefined", async () => {
    const tar = Buffer.concat([ustarHeader(`${TOP}/`, "5", 0), ustarHeader(`${TOP}/huge.bin`, "0", 2 ** 30)]);
    const error = await refusal(tar, { maxBytes: undefined, maxFileBytes: undefined });
    expect(error.code).toBe("tarball_file_too_large");
    expect(error.message).toContain("more than the 100 MiB one file may have");
  });

  it("counts hard-link copies against the byte cap", async () => {
    const tarball = await githubTarball([
      { name: "a", content: "x".repeat(60) },
      { name: "b", type: "link", linkname: "a" },
    ]);
    expect((await refusal(tarball, { maxBytes: 100 })).code).toBe("tarball_too_large");
  });

  it("refuses an oversized entry from its header, before reading the body", async () => {
    // The header promises 1 GiB and no body follows: only a check on the header can refuse it this way.
    const tar = Buffer.concat([ustarHeader(`${TOP}/`, "5", 0), ustarHeader(`${TOP}/huge.bin`, "0", 2 ** 30)]);
    const error = await refusal(tar);
    expect(error.code).toBe("tarball_file_too_large");
    expect(error.message).toContain('"huge.bin" is 1024 MiB');
  });

  it("stops a gzip bomb early and closes the input", async () => {
    // 200 MiB of zeros (endless empty tar blocks) as a stream of gzip members, ~1 KiB each; fed in
    // 1 KiB pieces. zlib buffers up to 16 KiB of input, so "stopped early" means a small share was read.
    const member = gzipSync(Buffer.alloc(1024 * 1024), { level: 9 });
    const head = gzipSync(await githubTarball([{ name: "a", content: "a" }], { gzip: false }));
    const bomb = Buffer.concat([head, ...Array<Buffer>(200).fill(member)]);
    expect(bomb.length).toBeLessThan(300 * 1024);

    let fed = 0;
    let closed = false;
    async function* pieces() {
      try {
        for (; fed < bomb.length; fed += 1024) yield bomb.subarray(fed, fed + 1024);
      } finally {
        closed = true;
      }
    }
    const started = Date.now();
    const error = await refusal(pieces(), { maxBytes: 1024 * 1024 });

    expect(error.code).toBe("tarball_too_large");
    expect(error.message).toMatch(/inflates past 1 MiB of source \(ESERVELESS_MAX_SOURCE_BYTES=1048576\)/);
    expect(fed).toBeLessThan(bomb.length / 5); // stopped after a few MiB inflated, not 200
    expect(closed).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("destroys a stream input when it refuses the tarball", { timeout: 5000 }, async () => {
    // After the bad entry the stream stalls, as a hung download would: only destroying it ends the read.
    const tarball = await githubTarball([{ name: "../evil", content: "x" }]);
    let sent = false;
    const stream = new Readable({
      read() {
        if (!sent) this.push(tarball);
        sent = true;
      },
    });
    expect((await refusal(stream)).code).toBe("tarball_path_traversal");
    expect(stream.destroyed).toBe(true);
  });

  it("calls corrupt data tarball_invalid and passes the input's own errors through", async () => {
    expect((await refusal(Buffer.from("this is not a tarball at all".repeat(40)))).code).toBe("tarball_invalid");
    const gzipped = await githubTarball([{ name: "a", content: "a".repeat(5000) }]);
    const truncated = await refusal(gzipped.subarray(0, gzipped.length - 20));
    expect(truncated.code).toBe("tarball_invalid");
    expect(truncated.message).toMatch(/corrupt or not a .tar\/.tar.gz/);
    expect((await refusal(Buffer.alloc(0))).code).toBe("tarball_invalid");

    const dropped = new Error("socket hang up");
    async function* failing() {
      yield gzipped.subarray(0, 100);
      throw dropped;
    }
    await expect(extractTarball(failing())).rejects.toBe(dropped);
  });

  it("never imports the file system", () => {
    const source = readFileSync(new URL("../../src/source/extract-tarball.ts", import.meta.url), "utf8");
    const imports = [...source.matchAll(/^import .* from "([^"]+)";$/gm)].map((match) => match[1]);
    expect(imports.length).toBeGreaterThan(0);
    expect(imports.filter((name) => /^(node:)?fs(\/|$)/.test(name ?? ""))).toEqual([]);
    expect(imports).toEqual(["node:path", "node:stream/promises", "node:zlib", "tar-stream", "../default-limits.js", "../errors.js"]);
    // The limits module imports nothing at all.
    expect(readFileSync(new URL("../../src/default-limits.ts", import.meta.url), "utf8")).not.toMatch(/^import /m);
  });
});

describe("SourceTree", () => {
  it("sorts entries, lets later duplicates win and sums file bytes", () => {
    const file = (path: string, text: string) => ({ type: "file" as const, path, mode: 0o644, content: Buffer.from(text) });
    const tree = new SourceTree([file("b", "bb"), file("a", "a"), { type: "symlink", path: "c", mode: 0o777, target: "a" }, file("b", "bbb")]);
    expect([...tree.entries()].map((entry) => entry.path)).toEqual(["a", "b", "c"]);
    expect(tree.text("b")).toBe("bbb");
    expect(tree.text("c")).toBe("a");
    expect(tree.size).toBe(3);
    expect(tree.totalBytes).toBe(4);
  });
});
