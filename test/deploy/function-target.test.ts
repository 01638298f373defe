import { describe, expect, it } from "vitest";
import { functionTarget } from "../../src/deploy/function-target.js";
import { storedSpec } from "../../src/manifest/manifest-schema.js";
import { readManifest } from "../../src/manifest/read-manifest.js";
import { liveFunctionOf } from "../../src/store/live-function-store.js";

const MIB = 1024 ** 2;
const nodeProject = { has: (path: string) => ["package.json", "functions.js", "src/app.js"].includes(path) };
const deployment = { repository: "octo/hello", deploymentId: "dep1", commit: "a".repeat(40), image: "img:1" };

/** The pool target of the only function of a node manifest whose function has `lines`. */
async function targetOf(...lines: string[]) {
  const { manifest } = await readManifest(["runtime: node", "functions:", "  - name: Api", "    type: http", ...lines.map((line) => `    ${line}`)].join("\n"), nodeProject);
  const fn = liveFunctionOf(deployment, storedSpec(manifest.functions[0]!, manifest));
  if (fn.type !== "http") throw new Error("not an http function");
  return functionTarget(fn);
}

describe("functionTarget", () => {
  it("runs an http function that says nothing with the defaults the README documents", async () => {
    expect(await targetOf()).toEqual({
      ...deployment,
      name: "Api",
      memoryBytes: 256 * MIB,
      scaling: { concurrency: 100, minReplicas: 0, maxReplicas: 5, idleTimeoutMs: 300_000 },
      env: { ESERVELESS_ENTRY: "functions.js", ESERVELESS_HANDLER: "auto" },
      secrets: [],
      environment: "production",
    });
  });

  it("runs it with what its manifest entry says, idle time in milliseconds", async () => {
    const target = await targetOf("memory: 512m", "concurrency: 2", "minReplicas: 1", "maxReplicas: 3", "idleTimeout: 1.5", "handler: fetch", "meta: { region: eu }", "env: { MODE: fast }");
    expect(target).toMatchObject({
      memoryBytes: 512 * MIB,
      scaling: { concurrency: 2, minReplicas: 1, maxReplicas: 3, idleTimeoutMs: 1500 },
      env: { ESERVELESS_REGION: "eu", MODE: "fast", ESERVELESS_ENTRY: "functions.js", ESERVELESS_HANDLER: "fetch" },
    });
  });
});
