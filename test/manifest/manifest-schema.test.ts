import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "valibot";
import { describe, expect, it } from "vitest";
import { StoredSpecSchema, storedSpec } from "../../src/manifest/manifest-schema.js";
import { readManifest, type ManifestSource } from "../../src/manifest/read-manifest.js";
import { readFixture } from "../support/fixtures.js";

// A live function's spec is what readManifest made of its entry, plus the
// manifest's entry and runtime, kept as JSON. StoredSpecSchema reads it back.

/** The fixture projects with a valid manifest (node-bad-manifest is refused on purpose). */
const FIXTURES = readdirSync(fileURLToPath(new URL("../fixtures", import.meta.url))).filter((name) => name !== "node-bad-manifest");

/** Every key set, in the spellings the manifest schema turns into another value. */
const EVERY_KEY = `runtime: NodeJS
entry: " src/app.js "
functions:
  - name: Api
    type: HTTP
    memory: 1g
    env: { COUNT: 3, DEBUG: true, EMPTY: }
    meta: { api-key: k, region: eu }
    concurrency: 4
    minReplicas: 1
    maxReplicas: 8
    idleTimeout: 12.5
    timeout: 2
    handler: " Fetch "
  - name: Nightly
    type: cron
    memory: 64
    schedule: " */10 * * * * * "
    timezone: europe/paris
    timeout: 600
`;

const roundTrip = async (text: string, source: ManifestSource) => {
  const { manifest } = await readManifest(text, source);
  return manifest.functions.map((fn) => {
    const spec = storedSpec(fn, manifest);
    return { spec, read: parse(StoredSpecSchema, JSON.parse(JSON.stringify(spec))) };
  });
};

describe("StoredSpecSchema", () => {
  it.each(FIXTURES)("reads back the spec of every function of %s as it was stored", async (name) => {
    const files = readFixture(name);
    const text = files[".eserveless.yaml"]!.content.toString("utf8");
    const specs = await roundTrip(text, { has: (path) => path in files });
    expect(specs.length).toBeGreaterThan(0);
    for (const { spec, read } of specs) expect(read).toEqual(spec);
  });

  it("reads back a spec that sets every key, in spellings the manifest normalises", async () => {
    const specs = await roundTrip(EVERY_KEY, { has: (path) => ["package.json", "src/app.js"].includes(path) });
    for (const { spec, read } of specs) expect(read).toEqual(spec);
    // The manifest's conversions happened once, when it was read, and not again.
    expect(specs.map(({ read }) => read)).toEqual([
      expect.objectContaining({ type: "http", memory: 1024 ** 3, handler: "fetch", idleTimeout: 12.5, entry: "src/app.js", runtime: "node", env: { COUNT: "3", DEBUG: "true", EMPTY: "" } }),
      expect.objectContaining({ type: "cron", memory: 64 * 1024 ** 2, schedule: "*/10 * * * * *", timezone: "Europe/Paris", timeout: 600 }),
    ]);
  });
});

describe("secrets:", () => {
  const source: ManifestSource = { has: (path) => path === "package.json" };
  const problem = async (functionYaml: string) =>
    readManifest(`runtime: node\nfunctions:\n  - name: API\n    type: http\n${functionYaml}`, source).then(
      () => "accepted",
      (error: Error) => error.message,
    );

  it("is optional, empty in specs stored before it existed, and kept in a spec", async () => {
    const { manifest } = await readManifest("runtime: node\nfunctions:\n  - name: API\n    type: http\n    secrets: [STRIPE_KEY, DB_URL]\n  - name: Other\n    type: http\n", source);
    expect(manifest.functions.map((fn) => fn.secrets)).toEqual([["STRIPE_KEY", "DB_URL"], []]);
    const { secrets: _secrets, ...older } = storedSpec(manifest.functions[0]!, manifest);
    expect(parse(StoredSpecSchema, older).secrets).toEqual([]);
  });

  it("refuses bad and reserved names, twice the same name, a name of env and more than 100, saying why", async () => {
    expect(await problem("    secrets: [lower]\n")).toMatch(/secrets\[0\] is not a secret name: use A-Z.*got "lower"/);
    expect(await problem("    secrets: [PORT, HOME, PATH, ESERVELESS_X]\n")).toMatch(/secrets\[0\] is reserved.*secrets\[1\] is reserved.*secrets\[2\] is reserved.*secrets\[3\] is reserved: ESERVELESS_/s);
    expect(await problem("    secrets: [A, A]\n")).toMatch(/secrets\[1\] lists A twice/);
    expect(await problem("    env: { DB_URL: x }\n    secrets: [DB_URL]\n")).toMatch(/secrets lists DB_URL, which is also a key of env/);
    expect(await problem(`    secrets: [${Array.from({ length: 101 }, (_, i) => `S${i}`).join(", ")}]\n`)).toMatch(/at most 100 secrets, got 101/);
    expect(await problem("    secrets: STRIPE_KEY\n")).toMatch(/must be a list of secret names/);
  });
});
