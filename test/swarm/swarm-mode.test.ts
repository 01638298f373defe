import Docker from "dockerode";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chunkedPost } from "../support/chunked-post.js";
import { heldFunction, runWhileHeld } from "../support/run-while-held.js";
import { eventually } from "../support/eventually.js";
import { buildEservelessImage, runEservelessContainer } from "../support/eserveless-image.js";
import { nodeDocker, swarmLabDown, swarmLabLoad, swarmLabUp, type SwarmLab } from "../support/swarm-lab.js";
import { fixtureDir } from "../support/fixtures.js";
import { runCli } from "../support/run-cli.js";

// eserveless in Swarm mode on a lab of three Docker engines on this machine
// (scripts/swarm-lab.sh: a manager, two workers and a registry, each a node
// container on a network of its own). eserveless runs on the manager from the
// image `npm run docker:build` makes, as the README says; the test reaches it
// only on 127.0.0.1, through the port the manager's node publishes.

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const host = new Docker();
const lab = `es-swarm-${randomBytes(3).toString("hex")}`;
const tag = `${lab}-eserveless:test`;
const token = randomBytes(24).toString("hex");
const nodeImage = process.env.ESERVELESS_NODE_IMAGE ?? "eserveless-local/node:20";
const home = mkdtempSync(join(tmpdir(), "swarm-test-home-"));
const source = mkdtempSync(join(tmpdir(), "swarm-test-src-"));
// The value of the secret SWARM_TOKEN, set before the first deployment, and the one a roll sets.
const secret = `tok-${randomBytes(12).toString("hex")}`;
const rolled = `tok-${randomBytes(12).toString("hex")}`;
let env: SwarmLab;
let manager: Docker;
let server: Docker.Container;
let url = "";

const cli = (args: string[]) => runCli(args, { ESERVELESS_URL: url, ESERVELESS_ADMIN_TOKEN: token, HOME: home });

/** dist/ from the sources, when older: the image is made from it. */
function buildDist(): Promise<void> {
  const built = (() => {
    try {
      return statSync(join(ROOT, "dist/run/swarm-pool.js")).mtimeMs;
    } catch {
      return 0;
    }
  })();
  const sources = readdirSync(join(ROOT, "src"), { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"));
  const newest = Math.max(...sources.map((f) => statSync(join(ROOT, "src", f)).mtimeMs));
  if (built > newest) return Promise.resolve();
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], { cwd: ROOT }, (error, stdout) => (error ? reject(new Error(stdout)) : resolve())),
  );
}

interface ServiceSpec {
  Spec: { TaskTemplate: { ContainerSpec: { Env?: string[]; Secrets?: Array<{ SecretID: string; SecretName: string; File: object }> } } };
}

/** The Docker secrets eserveless made, by id. */
async function dockerSecrets(): Promise<string[]> {
  return ((await manager.listSecrets({ filters: { label: ["dev.eserveless.secret"] } })) as Array<{ ID: string }>).map((s) => s.ID);
}

interface Task {
  ID: string;
  NodeID: string;
  DesiredState: string;
  Status: { State: string };
}

async function serviceOf(fn: string): Promise<{ ID: string; Spec: { Name: string; Mode: { Replicated?: { Replicas: number } } } } | undefined> {
  const services = (await manager.listServices({ filters: { label: [`dev.eserveless.function=${fn}`] } })) as Array<{ ID: string; Spec: { Name: string; Labels: Record<string, string>; Mode: { Replicated?: { Replicas: number } } } }>;
  return services.find((s) => s.Spec.Labels["dev.eserveless.kind"] === "function");
}

async function runningTasks(serviceId: string): Promise<Task[]> {
  const tasks = (await manager.listTasks({ filters: { service: [serviceId] } })) as Task[];
  return tasks.filter((t) => t.Status.State === "running" && t.DesiredState === "running");
}

/** One request to a function; its status (0 when it failed without one) and body. */
async function call(fn: string): Promise<{ status: number; body: string }> {
  try {
    const response = await fetch(`${url}/fn/local/swarm-hello/${fn}`, { signal: AbortSignal.timeout(15_000) });
    return { status: response.status, body: await response.text() };
  } catch (error) {
    return { status: 0, body: String(error) };
  }
}

/** Requests, two at a time, until `stop` resolves: every status seen. */
async function continuous(fn: string, stop: Promise<unknown>): Promise<Array<{ status: number; body: string }>> {
  let done = false;
  void stop.finally(() => (done = true));
  const results: Array<{ status: number; body: string }> = [];
  const worker = async () => {
    while (!done) results.push(await call(fn));
  };
  await Promise.all([worker(), worker()]);
  return results;
}

const step = (what: string) => console.log(`[swarm test] ${new Date().toISOString()} ${what}`);

beforeAll(async () => {
  step("building dist/ and the image");
  await buildDist();
  await buildEservelessImage(tag);
  step("starting the lab");
  env = await swarmLabUp(lab);
  await swarmLabLoad(lab, [tag, nodeImage]);
  manager = nodeDocker(env.managerSocket);
  await manager.createVolume({ Name: `${lab}-data` });
  // As the README runs it: its port 3000 published on the manager, which the lab publishes on 127.0.0.1.
  server = await runEservelessContainer(manager, {
    image: tag,
    name: `${lab}-eserveless`,
    dataVolume: `${lab}-data`,
    dockerGid: env.dockerGid,
    hostPort: "3000",
    env: {
      ESERVELESS_ORCHESTRATOR: "swarm",
      ESERVELESS_REGISTRY: env.registry,
      ESERVELESS_ADMIN_TOKEN: token,
      ESERVELESS_NODE_IMAGE: nodeImage,
      LOG_FORMAT: "json",
    },
  });
  url = env.serverUrl;
  step(`eserveless started on the manager, ${url}`);
  await eventually("eserveless answering on the manager", async () => ((await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined))?.ok ? true : undefined), { timeoutMs: 60_000 });
  cpSync(fixtureDir("swarm-hello"), source, { recursive: true });
  // Declared here, not in the fixture (bench/swarm deploys it without secrets): Secret and Ticker get SWARM_TOKEN.
  const manifest = join(source, ".eserveless.yaml");
  const declared = readFileSync(manifest, "utf8").replace("    timeout: 30\n", "    timeout: 30\n    secrets: [SWARM_TOKEN]\n");
  writeFileSync(manifest, `${declared}  - name: Secret\n    type: http\n    minReplicas: 1\n    maxReplicas: 1\n    secrets: [SWARM_TOKEN]\n`);
  const set = await runCli(["secrets", "set", "local/swarm-hello", "SWARM_TOKEN"], { ESERVELESS_URL: url, ESERVELESS_ADMIN_TOKEN: token, HOME: home }, process.cwd(), secret);
  expect(set.code, set.stdout + set.stderr).toBe(0);
}, 420_000);

afterAll(async () => {
  // Always, failed or not: the lab's containers, volumes and networks, then the image.
  await swarmLabDown(lab).catch((error: unknown) => console.error(error));
  await host.getImage(tag).remove({ force: true }).catch(() => undefined);
  rmSync(home, { recursive: true, force: true });
  rmSync(source, { recursive: true, force: true });
}, 120_000);

describe("eserveless on a Docker Swarm", () => {
  it("deploys a folder through the CLI as services whose 3 replicas run on at least 2 nodes, every request answered", async () => {
    const deployed = await cli(["deploy", source, "--name", "swarm-hello"]);
    expect(deployed.code, deployed.stdout + deployed.stderr).toBe(0);
    // Live once one replica answers; the service is then set to its minReplicas.
    const api = await eventually("API's service set to its 3 minReplicas", async () => {
      const service = await serviceOf("API");
      return service?.Spec.Mode.Replicated?.Replicas === 3 ? service : undefined;
    }, { timeoutMs: 30_000, intervalMs: 250 });
    const tasks = await eventually("3 running replicas of API", async () => {
      const running = await runningTasks(api.ID);
      return running.length === 3 ? running : undefined;
    });
    expect(new Set(tasks.map((t) => t.NodeID)).size).toBeGreaterThanOrEqual(2);
    // The image is named by digest in the registry: no worker pulls a bare tag.
    const spec = (await manager.getService(api.ID).inspect()) as { Spec: { TaskTemplate: { ContainerSpec: { Image: string; User: string; ReadOnly: boolean; CapabilityDrop: string[] } }; EndpointSpec: { Mode: string } } };
    expect(spec.Spec.TaskTemplate.ContainerSpec.Image).toMatch(new RegExp(`^${env.registry}/eserveless/local/swarm-hello@sha256:[0-9a-f]{64}$`));
    expect(spec.Spec.TaskTemplate.ContainerSpec).toMatchObject({ User: "65534:65534", ReadOnly: true, CapabilityDrop: ["ALL"] });
    expect(spec.Spec.EndpointSpec.Mode).toBe("dnsrr");
    // A secret is a Docker secret mounted into the services declaring it: its function reads it from its environment, and nobody reads it from a spec.
    const answered = await call("Secret");
    expect(answered).toEqual({ status: 200, body: JSON.stringify({ token: secret }) });
    const secretService = (await serviceOf("Secret"))!;
    const secretSpec = (await manager.getService(secretService.ID).inspect()) as ServiceSpec;
    expect(JSON.stringify(secretSpec)).not.toContain(secret);
    expect(secretSpec.Spec.TaskTemplate.ContainerSpec.Env?.some((e) => e.startsWith("SWARM_TOKEN="))).toBe(false);
    expect(secretSpec.Spec.TaskTemplate.ContainerSpec.Secrets).toEqual([expect.objectContaining({ File: { Name: "SWARM_TOKEN", UID: "65534", GID: "65534", Mode: 0o400 } })]);
    const mounted = secretSpec.Spec.TaskTemplate.ContainerSpec.Secrets![0]!;
    const dockerSecret = (await manager.getSecret(mounted.SecretID).inspect()) as { Spec: { Labels: Record<string, string>; Data?: string } };
    expect(dockerSecret.Spec.Labels).toMatchObject({ "dev.eserveless.repository": "local/swarm-hello", "dev.eserveless.secret": "SWARM_TOKEN" });
    expect(dockerSecret.Spec.Data).toBeUndefined();
    // A function that does not declare it has no such secret.
    expect(((await manager.getService(api.ID).inspect()) as ServiceSpec).Spec.TaskTemplate.ContainerSpec.Secrets ?? []).toEqual([]);
    // Once all three answer the probe, requests reach each of them.
    await eventually("requests answered by all 3 replicas", async () => {
      const results = await Promise.all(Array.from({ length: 12 }, () => call("API")));
      expect(results.map((r) => r.status)).toEqual(Array(12).fill(200));
      const replicas = new Set(results.map((r) => (JSON.parse(r.body) as { replica: string }).replica));
      return replicas.size === 3 ? replicas : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500 });
  });

  it("keeps answering while a worker stops: at least 99% succeed and its replicas come back on the other nodes", async () => {
    const api = (await serviceOf("API"))!;
    const nodes = (await manager.listNodes()) as Array<{ ID: string; Description: { Hostname: string } }>;
    const before = await runningTasks(api.ID);
    const victimNode = nodes.find((n) => n.Description.Hostname !== env.managerContainer && before.some((t) => t.NodeID === n.ID))!;
    expect(victimNode, "a worker runs a replica").toBeDefined();
    const recovered = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      await host.getContainer(victimNode.Description.Hostname).stop({ t: 0 });
      return eventually(
        "3 running replicas, none on the stopped worker",
        async () => {
          const running = await runningTasks(api.ID);
          return running.length === 3 && running.every((t) => t.NodeID !== victimNode.ID) ? running : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 500 },
      );
    })();
    const results = await continuous("API", recovered.then(() => new Promise((resolve) => setTimeout(resolve, 2_000))));
    const ok = results.filter((r) => r.status === 200).length;
    console.log(`worker stop: ${ok}/${results.length} requests answered`);
    expect(results.length).toBeGreaterThan(100);
    expect(ok / results.length).toBeGreaterThanOrEqual(0.99);
    expect((await recovered).every((t) => t.NodeID !== victimNode.ID)).toBe(true);
  }, 150_000);

  it("scales an idle function to zero and back on its next request", async () => {
    const lazy = (await serviceOf("Lazy"))!;
    await eventually("Lazy scaled to 0", async () => ((await manager.getService(lazy.ID).inspect()).Spec.Mode.Replicated.Replicas === 0 && (await runningTasks(lazy.ID)).length === 0 ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    const started = performance.now();
    const response = await fetch(`${url}/fn/local/swarm-hello/Lazy`, { signal: AbortSignal.timeout(30_000) });
    const ms = Math.round(performance.now() - started);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("awake");
    expect(response.headers.get("server-timing")).toMatch(/^cold-start;dur=\d+/);
    console.log(`scale from zero: first answer after ${ms} ms`);
    expect((await manager.getService(lazy.ID).inspect()).Spec.Mode.Replicated.Replicas).toBe(1);
    // What it printed on its worker comes back through the manager, as `eserveless logs` shows it.
    await eventually("Lazy's output in eserveless logs", async () => {
      const logs = await cli(["logs", "local/swarm-hello/Lazy"]);
      return /Lazy answered on [0-9a-f]{12}/.test(logs.stdout) ? logs.stdout : undefined;
    }, { timeoutMs: 20_000, intervalMs: 1_000 });
  });

  it("deploys a new version as a new service with no failed request, and removes the old one", async () => {
    const old = (await serviceOf("API"))!;
    const manifest = join(source, ".eserveless.yaml");
    writeFileSync(manifest, readFileSync(manifest, "utf8").replace("VERSION: v1", "VERSION: v2"));
    const deploying = cli(["deploy", source, "--name", "swarm-hello"]);
    const results = await continuous("API", deploying.then(() => new Promise((resolve) => setTimeout(resolve, 1_000))));
    const deployed = await deploying;
    expect(deployed.code, deployed.stdout + deployed.stderr).toBe(0);
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    const versions = results.map((r) => (JSON.parse(r.body) as { version: string }).version);
    expect(versions[0]).toBe("v1");
    expect(versions.at(-1)).toBe("v2");
    const current = (await serviceOf("API"))!;
    expect(current.ID).not.toBe(old.ID);
    await eventually("the old service removed", async () => ((await manager.listServices({ filters: { id: [old.ID] } })).length === 0 ? true : undefined), { timeoutMs: 45_000, intervalMs: 500 });
  }, 150_000);

  it("rolls a changed secret to a new service with a new Docker secret, and removes the old ones", async () => {
    const before = (await serviceOf("Secret"))!;
    const set = await runCli(["secrets", "set", "local/swarm-hello", "SWARM_TOKEN"], { ESERVELESS_URL: url, ESERVELESS_ADMIN_TOKEN: token, HOME: home }, process.cwd(), rolled);
    expect(set.code, set.stdout + set.stderr).toBe(0);
    expect(await call("Secret")).toEqual({ status: 200, body: JSON.stringify({ token: rolled }) });
    const after = (await serviceOf("Secret"))!;
    expect(after.ID).not.toBe(before.ID);
    const mounted = ((await manager.getService(after.ID).inspect()) as ServiceSpec).Spec.TaskTemplate.ContainerSpec.Secrets!.map((s) => s.SecretID);
    // Only the live service's secret is left once the old service is gone.
    await eventually("the old secrets removed", async () => {
      const left = await dockerSecrets();
      return left.length === 1 && left[0] === mounted[0] ? left : undefined;
    }, { timeoutMs: 45_000, intervalMs: 500 });
  }, 120_000);

  it("runs a cron tick as a one-shot replicated-job service, recorded as a run", async () => {
    const seen: string[] = [];
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const jobs = (await manager.listServices({ filters: { label: ["dev.eserveless.kind=cron-run"] } })) as Array<{ Spec: { Mode: { ReplicatedJob?: object } } }>;
        for (const job of jobs) if (job.Spec.Mode.ReplicatedJob) seen.push("replicated-job");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const ran = await cli(["run", "local/swarm-hello/Ticker", "--json"]);
    watching = false;
    await watch;
    expect(ran.code, ran.stderr).toBe(0);
    const { run } = JSON.parse(ran.stdout) as { run: { state: string; output: string; exitCode: number } };
    expect(run).toMatchObject({ state: "succeeded", exitCode: 0 });
    expect(run.output).toMatch(/^tick from [0-9a-f]{12}$/m);
    // Its declared secret reached it as a Docker secret too, and went with its job.
    expect(run.output).toContain(`token of ${rolled.length} characters`);
    expect(await dockerSecrets()).toHaveLength(1);
    expect(seen).toContain("replicated-job");
    expect(await manager.listServices({ filters: { label: ["dev.eserveless.kind=cron-run"] } })).toEqual([]);
  });

  it("adopts its services after a restart: the same service answers, none is made again", async () => {
    const before = (await serviceOf("API"))!;
    await server.restart({ t: 10 });
    await eventually("eserveless answering again", async () => ((await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined))?.ok ? true : undefined), { timeoutMs: 60_000 });
    const results = await Promise.all(Array.from({ length: 10 }, () => call("API")));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect((await serviceOf("API"))!.ID).toBe(before.ID);
    // The adopted service's Docker secret stays, and it still serves its value; nothing else is left.
    expect(await call("Secret")).toEqual({ status: 200, body: JSON.stringify({ token: rolled }) });
    expect(await dockerSecrets()).toHaveLength(1);
    // Its log is written in batches: the adoption's line may reach Docker a moment after the first answers.
    const logs = await eventually("the adoption in eserveless's log", async () => {
      const text = (await server.logs({ stdout: true, stderr: true, since: 0 })).toString("utf8");
      return /"adopted":[1-9]\d*.*"took over the containers of the previous run"/.test(text) ? text : undefined;
    }, { timeoutMs: 10_000, intervalMs: 250 });
    // The lab's nodes run dockerd with --no-new-privileges, and the start-up check saw it.
    expect(logs).toContain("this node's dockerd runs with --no-new-privileges; every other node's must too");
    expect(logs).not.toContain("runs without --no-new-privileges");
  });

  it("removes a project only once a replaced deployment finished its request, and leaves none of its services or its network", async () => {
    // v1 answers once the request body ends, so the test decides when its request finishes.
    const dir = join(source, "held");
    mkdirSync(dir);
    writeFileSync(join(dir, ".eserveless.yaml"), ["runtime: node", "functions:", "  - name: Held", "    type: http", ""].join("\n"));
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "held", version: "1.0.0", private: true }));
    const version = (v: string) => writeFileSync(join(dir, "functions.js"), heldFunction(v));
    version("v1");
    const first = await cli(["deploy", dir, "--name", "swarm-held"]);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const held = chunkedPost(`${url}/fn/local/swarm-held/Held`, {});
    await held.write(Buffer.from("start"));
    version("v2");
    const second = await cli(["deploy", dir, "--name", "swarm-held"]);
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(await (await fetch(`${url}/fn/local/swarm-held/Held`, { method: "POST", body: "x" })).text()).toBe("v2");

    // rm waits for v1's request: it has not answered when the body ends, and answers after v1 did.
    const { result: removed, finishedBeforeEnd, answer } = await runWhileHeld(held, () => cli(["rm", "local/swarm-held", "--yes", "--json"]));
    expect(finishedBeforeEnd).toBe(false);
    expect(answer).toMatchObject({ status: 200, body: "v1" });
    expect(removed.code, removed.stdout + removed.stderr).toBe(0);
    expect((JSON.parse(removed.stdout) as { removed: { network: boolean } }).removed.network).toBe(true);
    const labelled = { label: ["dev.eserveless.repository=local/swarm-held"] };
    expect(await manager.listServices({ filters: labelled })).toEqual([]);
    // The manager drops its own copy of the overlay, which eserveless's container had joined, a moment after the removal.
    await eventually("the project's network gone from the manager", async () => ((await manager.listNetworks({ filters: labelled })).length === 0 ? true : undefined), { timeoutMs: 20_000, intervalMs: 250 });
  }, 150_000);
});
