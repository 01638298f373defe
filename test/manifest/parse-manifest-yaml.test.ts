import { describe, expect, it } from "vitest";
import { LineCounter, parseDocument } from "yaml";
import { MAX_MANIFEST_ALIASES, MAX_MANIFEST_DEPTH, MAX_MANIFEST_NODES, parseManifestYaml } from "../../src/manifest/parse-manifest-yaml.js";

/** The errors of `text` as "line:column message", as readManifest shows them. */
async function errorsOf(text: string): Promise<string[]> {
  const parsed = await parseManifestYaml(text);
  return parsed.errors.map((error) => {
    const { line, col } = parsed.lineCounter.linePos(error.offset);
    return `${line}:${col} ${error.message}`;
  });
}

/** What yaml itself reports, with its quadratic check on: the reference for duplicate keys. */
function yamlErrorsOf(text: string): string[] {
  const lineCounter = new LineCounter();
  return parseDocument(text, { lineCounter, prettyErrors: false }).errors.map((error) => {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    return `${line}:${col} ${error.message}`;
  });
}

describe("parseManifestYaml: duplicate keys, checked in linear time", () => {
  it.each([
    ["block mapping", "runtime: node\nruntime: golang\nfunctions: []\n"],
    ["flow mapping", "functions: [{ name: A, type: http, name: B }]\n"],
    ["nested mapping", "functions:\n  - name: A\n    meta:\n      a: 1\n      b: 2\n      a: 3\n"],
    ["keys equal as values", "1: a\n0x1: b\n'1': c\n"],
    ["several", "a: 1\nb: 2\na: 3\nb: 4\na: 5\n"],
    ["a mapping as a key is never equal", "? [a]\n: 1\n? [a]\n: 2\n"],
  ])("reports them where yaml does (%s)", async (_what, text) => {
    expect(await errorsOf(text)).toEqual(yamlErrorsOf(text));
  });

  it("keeps yaml's other errors, in the order of the text", async () => {
    // Errors whose wording says what to do; others get a hint added (read-manifest.test.ts).
    const text = "a: 1\na: 2\nb: [1, 2\n";
    expect(await errorsOf(text)).toEqual(yamlErrorsOf(text));
  });
});

describe("parseManifestYaml: shapes that would stall or crash the server", () => {
  it(`refuses nesting deeper than ${MAX_MANIFEST_DEPTH} levels as it reads, with the line`, async () => {
    const nested = (depth: number) => `functions: []\nx: ${"[".repeat(depth)}${"]".repeat(depth)}\n`;
    // `x:` is one level in the mapping at the root: depth - 1 lists fit.
    expect(await errorsOf(nested(MAX_MANIFEST_DEPTH - 1))).toEqual([]);
    const [problem, ...others] = await errorsOf(nested(100_000));
    expect(others).toEqual([]);
    expect(problem).toMatch(new RegExp(`^2:\\d+ Nested more than ${MAX_MANIFEST_DEPTH} levels deep; a manifest needs four`));
  });

  it.each([
    ["block lists on one line", "- ".repeat(50_000) + "x\n"],
    ["explicit keys", "? ".repeat(50_000) + "x\n"],
    ["flow mappings", "{a: ".repeat(20_000) + "}".repeat(20_000) + "\n"],
  ])("refuses deep %s without overflowing the stack", async (_what, text) => {
    expect(await errorsOf(text)).toEqual([expect.stringContaining(`Nested more than ${MAX_MANIFEST_DEPTH} levels deep`)]);
  });

  it(`refuses more than ${MAX_MANIFEST_NODES} keys, values and list items, saying where`, async () => {
    const pairs = (count: number) => Array.from({ length: count }, (_, i) => `k${i}: ${i}`).join("\n");
    // A pair is three: its key, its value and the ":" between them.
    expect(await errorsOf(pairs(Math.floor(MAX_MANIFEST_NODES / 3)))).toEqual([]);
    const errors = await errorsOf(pairs(MAX_MANIFEST_NODES));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(new RegExp(`^${Math.ceil(MAX_MANIFEST_NODES / 3)}:\\d+ More than ${MAX_MANIFEST_NODES} keys, values and list items`));
  });

  it(`refuses more than ${MAX_MANIFEST_ALIASES} aliases, naming the first one too many`, async () => {
    const aliases = (count: number) => `a: &a x\nb:\n${Array.from({ length: count }, () => "  - *a").join("\n")}\n`;
    expect(await errorsOf(aliases(MAX_MANIFEST_ALIASES))).toEqual([]);
    expect(await errorsOf(aliases(MAX_MANIFEST_ALIASES + 50))).toEqual([
      `${MAX_MANIFEST_ALIASES + 3}:5 More than ${MAX_MANIFEST_ALIASES} aliases (*a): write the values out instead`,
    ]);
  });

  it("refuses a second document, saying how to fix it", async () => {
    expect(await errorsOf("runtime: node\n---\nruntime: golang\n")).toEqual([
      "2:1 A second YAML document starts here: a manifest is one document, so remove the `---` line or what follows it",
    ]);
  });

  it("returns the document of an empty text", async () => {
    const parsed = await parseManifestYaml("");
    expect(parsed.errors).toEqual([]);
    expect(parsed.doc?.contents).toBeNull();
  });
});
