import { describe, expect, it } from "vitest";
import { readProjectManifest } from "../../src/deploy/read-project-manifest.js";
import { SourceError } from "../../src/errors.js";
import { SourceTree } from "../../src/source/extract-tarball.js";
import { deploymentTestbed } from "../support/deployment-testbed.js";

const testbed = deploymentTestbed();

/** A source tree holding `files`. */
const tree = (files: Record<string, string>) =>
  new SourceTree(Object.entries(files).map(([path, text]) => ({ type: "file" as const, path, mode: 0o644, content: Buffer.from(text) })));

const NODE = { "package.json": "{}", "functions.js": "module.exports = {};" };
const TWO = "runtime: node\nfunctions:\n  - { name: API, type: http }\n  - { name: Ticker, type: cron, schedule: '0 * * * *' }\n";

describe("readProjectManifest", () => {
  it("reads .eserveless.yaml and says what it declares", async () => {
    const test = testbed.deployment();
    const manifest = await readProjectManifest(test.deployment, tree({ ...NODE, ".eserveless.yaml": TWO }));
    expect(manifest?.functions.map((fn) => fn.name)).toEqual(["API", "Ticker"]);
    expect(test.lines()).toEqual(["Manifest: runtime node, 2 functions (API: http, Ticker: cron)"]);
    expect(test.recorded().warnings).toEqual([]);
  });

  it("reads .eserveless.yml when there is no .eserveless.yaml, and prefers .eserveless.yaml when there are both", async () => {
    const one = (name: string) => `runtime: node\nfunctions:\n  - { name: ${name}, type: http }\n`;
    const yml = testbed.deployment();
    expect((await readProjectManifest(yml.deployment, tree({ ...NODE, ".eserveless.yml": one("FromYml") })))?.functions[0]?.name).toBe("FromYml");
    expect(yml.lines()).toEqual(["Manifest: runtime node, 1 function (FromYml: http)"]);
    const both = testbed.deployment();
    const manifest = await readProjectManifest(both.deployment, tree({ ...NODE, ".eserveless.yml": one("FromYml"), ".eserveless.yaml": one("FromYaml") }));
    expect(manifest?.functions[0]?.name).toBe("FromYaml");
  });

  it("says and records the manifest's warnings, naming the file they are about", async () => {
    const test = testbed.deployment();
    await readProjectManifest(test.deployment, tree({ ...NODE, ".eserveless.yml": "runtime: node\nfunctions:\n  - { name: API, type: http, memroy: 64 }\n" }));
    const { warnings } = test.recorded();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^\.eserveless\.yml line 3: .*"memroy"/);
    expect(test.lines()).toEqual([`warning: ${warnings[0]}`, "Manifest: runtime node, 1 function (API: http)"]);
  });

  it("finds nothing in a commit without a manifest, and says nothing", async () => {
    const test = testbed.deployment();
    expect(await readProjectManifest(test.deployment, tree({ ...NODE, "eserveless.yaml": TWO, "sub/.eserveless.yaml": TWO }))).toBeUndefined();
    expect(test.lines()).toEqual([]);
  });

  it("throws the manifest's errors before saying or recording anything", async () => {
    const test = testbed.deployment();
    await expect(readProjectManifest(test.deployment, tree({ ...NODE, ".eserveless.yaml": "runtime: node\nfunctions: []\n" }))).rejects.toThrow(SourceError);
    expect(test.lines()).toEqual([]);
    expect(test.recorded().warnings).toEqual([]);
  });
});
