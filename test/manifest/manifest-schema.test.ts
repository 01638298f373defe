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
