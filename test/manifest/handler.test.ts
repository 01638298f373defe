import { describe, expect, it } from "vitest";
import { SourceError } from "../../src/errors.js";
import { containerEnvironment } from "../../src/manifest/function-environment.js";
import { type ManifestSource, readManifest } from "../../src/manifest/read-manifest.js";

const node: ManifestSource = { has: (path) => path === "package.json" };
const go: ManifestSource = { has: (path) => path === "go.mod" };
const read = (text: string, source = node) => readManifest(text, source);

describe("handler: how a node http function is called", () => {
  it("is absent by default and reaches the container as auto", async () => {
    const { manifest } = await read("runtime: node\nfunctions: [{ name: API, type: http }]\n");
    expect(manifest.functions[0]).not.toHaveProperty("handler");
    expect(containerEnvironment(manifest.functions[0]!, manifest)).toEqual({ ESERVELESS_ENTRY: "functions.js", ESERVELESS_HANDLER: "auto" });
  });

  it("reads node and fetch, case-insensitively", async () => {
    const { manifest } = await read("runtime: node\nfunctions:\n  - { name: A, type: http, handler: Fetch }\n  - { name: B, type: http, handler: node }\n");
    expect(manifest.functions.map((fn) => containerEnvironment(fn, manifest).ESERVELESS_HANDLER)).toEqual(["fetch", "node"]);
  });

  it("refuses other values and cron functions, with the line", async () => {
    const problems = async (text: string) => {
      try {
        await read(text);
      } catch (error) {
        expect(error).toBeInstanceOf(SourceError);
        return (error as Error).message;
      }
      throw new Error("accepted");
    };
    expect(await problems("runtime: node\nfunctions:\n  - name: A\n    type: http\n    handler: express\n")).toContain(
      '.eserveless.yaml line 5: functions[0].handler must be "node" (a (req, res) handler) or "fetch" (a (request) => Response handler), got "express"',
    );
    expect(await problems("runtime: node\nfunctions:\n  - name: T\n    type: cron\n    schedule: '* * * * *'\n    handler: fetch\n")).toContain(
      "line 6: functions[0].handler is only allowed for http functions",
    );
  });

  it("is ignored with a warning for golang", async () => {
    const { warnings } = await read("runtime: golang\nfunctions:\n  - name: A\n    type: http\n    handler: fetch\n", go);
    expect(warnings).toEqual([
      ".eserveless.yaml line 5: functions[0].handler is ignored for golang: a Go http function is a func(http.ResponseWriter, *http.Request) or an http.Handler",
    ]);
  });

  it("sets no handler variable for cron functions", async () => {
    const { manifest } = await read("runtime: node\nfunctions: [{ name: T, type: cron, schedule: '* * * * *' }]\n");
    expect(containerEnvironment(manifest.functions[0]!, manifest)).toEqual({ ESERVELESS_ENTRY: "functions.js" });
  });
});

describe("meta keys that eserveless's own variables override", () => {
  it("warn, since the function would not see them", async () => {
    const { manifest, warnings } = await read("runtime: node\nfunctions:\n  - name: A\n    type: http\n    meta:\n      entry: mine\n      color: red\n");
    expect(warnings).toEqual([
      '.eserveless.yaml line 6: functions[0].meta["entry"] becomes ESERVELESS_ENTRY, which eserveless sets itself: the function sees eserveless\'s value, not this one — rename the key',
    ]);
    expect(containerEnvironment(manifest.functions[0]!, manifest)).toMatchObject({ ESERVELESS_ENTRY: "functions.js", ESERVELESS_COLOR: "red" });
  });
});
