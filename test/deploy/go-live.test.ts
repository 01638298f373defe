import Docker from "dockerode";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { goLive, liveFunctions } from "../../src/deploy/go-live.js";
import { readManifest } from "../../src/manifest/read-manifest.js";
import { ContainerPool } from "../../src/run/container-pool.js";
import { deploymentTestbed } from "../support/deployment-testbed.js";
import { testNetworks } from "../support/test-networks.js";

const testbed = deploymentTestbed();

const NODE = { has: (path: string) => ["package.json", "functions.js"].includes(path) };
const { manifest } = await readManifest(
  "runtime: node\nentry: src/index.js\nfunctions:\n  - { name: API, type: http, memory: 128 }\n  - { name: Ticker, type: cron, schedule: '0 * * * *' }\n",
  NODE,
);

// Switching touches no container: a Docker client that cannot connect proves it.
const pools: ContainerPool[] = [];
const newPool = () => {
  const noDocker = new Docker({ socketPath: join(tmpdir(), "no-docker-here.sock") });
  const pool = new ContainerPool({ docker: noDocker, instance: "test-go-live", log: pino({ level: "silent" }), networks: testNetworks(noDocker, "test-go-live") });
  pools.push(pool);
  return pool;
};

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

describe("liveFunctions", () => {
  it("makes one live function per manifest function, with the manifest-wide settings in its spec", () => {
    const { deployment } = testbed.deployment();
    const live = liveFunctions(deployment.job, manifest, "eserveless/octo-org/hello:abc");
    expect(live.map(({ name, type, repository, deploymentId, commit, image }) => ({ name, type, repository, deploymentId, commit, image }))).toEqual(
      manifest.functions.map((fn) => ({
        name: fn.name,
        type: fn.type,
        repository: deployment.job.repository,
        deploymentId: deployment.job.deploymentId,
        commit: deployment.job.commit,
        image: "eserveless/octo-org/hello:abc",
      })),
    );
    expect(live.map((fn) => fn.spec)).toEqual(manifest.functions.map((fn) => ({ ...fn, entry: "src/index.js", runtime: "node" })));
  });
});

describe("goLive", () => {
  it("makes the deployment's functions the live ones and returns the image it replaced", () => {
    const { store } = testbed;
    const pool = newPool();
    const request = { repository: "octo-org/switch" };
    const rows = (repository: string) => store.liveFunctions(repository).map((fn) => [fn.name, fn.image, fn.deploymentId]);

    const first = testbed.deployment({ request }).deployment;
    const firstLive = liveFunctions(first.job, manifest, "image:one");
    expect(goLive(first, { store, pool }, "image:one", firstLive, [])).toEqual({ previousImage: undefined, coldStartMs: 0 });
    expect(rows(first.job.repository)).toEqual([
      ["API", "image:one", first.job.deploymentId],
      ["Ticker", "image:one", first.job.deploymentId],
    ]);

    const second = testbed.deployment({ request }).deployment;
    const secondLive = liveFunctions(second.job, { ...manifest, functions: manifest.functions.slice(0, 1) }, "image:two");
    expect(goLive(second, { store, pool }, "image:two", secondLive, [])).toEqual({ previousImage: "image:one", coldStartMs: 0 });
    expect(rows(second.job.repository)).toEqual([["API", "image:two", second.job.deploymentId]]);
  });
});
