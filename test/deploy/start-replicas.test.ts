import Docker from "dockerode";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildFunctionImage } from "../../src/deploy/build-function-image.js";
import { goLive, liveFunctions } from "../../src/deploy/go-live.js";
import { startReplicas } from "../../src/deploy/start-replicas.js";
import { EserveslessError } from "../../src/errors.js";
import { loadRuntimeTemplates } from "../../src/image/build-context.js";
import type { Manifest } from "../../src/manifest/manifest-schema.js";
import { readManifest } from "../../src/manifest/read-manifest.js";
import { ContainerPool } from "../../src/run/container-pool.js";
import type { Pool } from "../../src/run/pool.js";
import { LABEL } from "../../src/run/sandbox.js";
import { SourceTree } from "../../src/source/extract-tarball.js";
import { testImages } from "../support/start-eserveless.js";
import { deploymentTestbed } from "../support/deployment-testbed.js";
import { testBuildSandbox, testNetworks } from "../support/test-networks.js";

const testbed = deploymentTestbed();

// The replicas of a deployment start before it goes live; any that a failed
// deployment started must not stay behind on the engine.

const RUNTIMES = fileURLToPath(new URL("../../runtimes", import.meta.url));
const INSTANCE = "test-start-replicas";
const docker = new Docker();
const networks = testNetworks(docker, INSTANCE);

const FILES = {
  "package.json": '{ "name": "start-replicas", "private": true }\n',
  "functions.js": "module.exports = { API: (req, res) => res.end('ok'), Ticker: () => {}, Second: (req, res) => res.end('second'), ...Object.fromEntries([1, 2, 3, 4, 5].map((i) => ['F' + i, (req, res) => res.end('f' + i)])) };\n",
};
const source = new SourceTree(Object.entries(FILES).map(([path, text]) => ({ type: "file" as const, path, mode: 0o644, content: Buffer.from(text) })));
const manifestOf = async (functions: string) => (await readManifest(`runtime: node\nfunctions:\n${functions}`, source)).manifest;
const API = "  - { name: API, type: http }\n";
const TICKER = "  - { name: Ticker, type: cron, schedule: '0 0 1 1 *' }\n";
const MISSING = "  - { name: Missing, type: http }\n";
const SECOND = "  - { name: Second, type: http }\n";

let pool: ContainerPool;
let image: string;

beforeAll(async () => {
  pool = new ContainerPool({ docker, instance: INSTANCE, log: pino({ level: "silent" }), networks });
  const build = testbed.deployment();
  image = await buildFunctionImage(
    build.deployment,
    { docker, instance: INSTANCE, templates: await loadRuntimeTemplates(RUNTIMES), images: { node: testImages.ESERVELESS_NODE_IMAGE, golang: testImages.ESERVELESS_GO_IMAGE }, build: testBuildSandbox(networks) },
    source,
    await manifestOf(API + TICKER),
  );
}, 120_000);

afterAll(async () => {
  await pool?.close();
  if (image) await docker.getImage(image).remove({ force: true });
  await networks.removeAll();
});

/** The containers of a deployment still on the engine, whatever their state. */
const containersOf = (deploymentId: string) => docker.listContainers({ all: true, filters: { label: [`${LABEL}.deployment=${deploymentId}`] } });

/** A deployment of `manifest` on the built image, with its live functions. */
function deploymentOf(manifest: Manifest, signal?: AbortSignal) {
  const test = testbed.deployment({ signal });
  return { test, live: liveFunctions(test.deployment.job, manifest, image) };
}

describe("startReplicas", () => {
  it("starts one ready replica per http function, checking the cron functions in the first", async () => {
    const { test, live } = deploymentOf(await manifestOf(API + TICKER));
    const started = await startReplicas(test.deployment, pool, live);
    try {
      expect(started.map((f) => [f.target.name, f.replicas.length])).toEqual([["API", 1]]);
      const [replica] = started[0]!.replicas;
      expect((await fetch(`http://${replica!.host}:${replica!.port}/`)).status).toBe(200);
      expect(test.lines()).toEqual(["Starting API…", "Ticker can run on schedule (checked in API's container)", `API answered HTTP after ${replica!.coldStartMs} ms`]);
      expect(goLive(test.deployment, { store: testbed.store, pool }, image, live, started).coldStartMs).toBe(replica!.coldStartMs);
    } finally {
      await pool.discard(started.flatMap((f) => f.replicas));
    }
  });

  it("fails naming the function that did not start, with its output in the log, and removes the replicas it started", async () => {
    const { test, live } = deploymentOf(await manifestOf(API + MISSING));
    const error: unknown = await startReplicas(test.deployment, pool, live).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EserveslessError);
    expect(error).toMatchObject({ code: "not_ready", blame: "user" });
    expect((error as Error).message).toBe("Missing: functions.js does not export Missing (it exports: API, Ticker, Second, F1, F2, F3, F4, F5). Export it, e.g. module.exports = { Missing } or export function Missing(…).");
    const lines = test.lines();
    expect(lines.slice(0, 2)).toEqual(["Starting API…", "Starting Missing…"]);
    expect(lines).toContain("  Missing | eserveless: functions.js does not export Missing (it exports: API, Ticker, Second, F1, F2, F3, F4, F5). Export it, e.g. module.exports = { Missing } or export function Missing(…).");
    // API's replica, ready or not when Missing failed: nothing of the deployment is left.
    expect(await containersOf(test.deployment.job.deploymentId)).toEqual([]);
  });

  it("starts the http functions side by side, so several take about as long as one", async () => {
    const { test, live } = deploymentOf(await manifestOf(API + SECOND));
    const started = await startReplicas(test.deployment, pool, live);
    try {
      const replicas = started.flatMap((f) => f.replicas);
      expect(replicas).toHaveLength(2);
      const startedAt = await Promise.all(replicas.map(async (r) => Date.parse((await r.container.inspect()).State.StartedAt)));
      // One after the other, the second container would start only once the first answered HTTP: a cold start later.
      expect(Math.abs(startedAt[1]! - startedAt[0]!)).toBeLessThan(Math.min(...replicas.map((r) => r.coldStartMs)) / 2);
    } finally {
      await pool.discard(started.flatMap((f) => f.replicas));
    }
  });

  it("starts a project of many functions a few at a time, so the engine never gets scores of containers joining one network at once", async () => {
    const many = API + SECOND + [1, 2, 3, 4, 5].map((i) => `  - { name: F${i}, type: http }\n`).join("");
    const { test, live } = deploymentOf(await manifestOf(many));
    let starting = 0;
    let most = 0;
    // The real pool, with its starts counted while they run.
    const counted = {
      start: async (...args: Parameters<Pool["start"]>) => {
        most = Math.max(most, ++starting);
        try {
          return await pool.start(...args);
        } finally {
          starting--;
        }
      },
      discard: (replicas: Parameters<Pool["discard"]>[0]) => pool.discard(replicas),
    } as unknown as Pool;
    const started = await startReplicas(test.deployment, counted, live);
    try {
      expect(started.map((f) => f.target.name)).toEqual(["API", "Second", "F1", "F2", "F3", "F4", "F5"]);
      expect(most).toBeGreaterThan(1);
      expect(most).toBeLessThanOrEqual(4);
    } finally {
      await pool.discard(started.flatMap((f) => f.replicas));
    }
  });

  it("starts nothing for a deployment cut short", async () => {
    const controller = new AbortController();
    const reason = new Error("superseded");
    controller.abort(reason);
    const { test, live } = deploymentOf(await manifestOf(API), controller.signal);
    await expect(startReplicas(test.deployment, pool, live)).rejects.toBe(reason);
    expect(test.lines()).toEqual([]);
    expect(await containersOf(test.deployment.job.deploymentId)).toEqual([]);
  });
});
