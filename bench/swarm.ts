/**
 * Swarm benchmark: a cold start (0 → first answer), a scale-up (1 → 3
 * replicas answering) and a rolling switch (a new version deployed under
 * load), on a Docker Swarm of three nodes, each beside the same operation on
 * a single host. Both run eserveless from the image `npm run docker:build`
 * makes, in a lab of node containers (scripts/swarm-lab.sh): the swarm on a
 * manager and two workers, the single host on a lab of one node with
 * ESERVELESS_ORCHESTRATOR=docker, so both pay the same docker-in-docker cost.
 *
 *   npx tsx bench/swarm.ts --rounds 3
 *
 * Rounds alternate between the two. Results go to stdout, progress to stderr;
 * both labs and the image are removed at the end, whatever happened.
 */
import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import Docker from "dockerode";
import { buildEservelessImage, runEservelessContainer } from "../test/support/eserveless-image.js";
import { nodeDocker, swarmLabDown, swarmLabLoad, swarmLabUp } from "../test/support/swarm-lab.js";
import { fixtureDir } from "../test/support/fixtures.js";
import { runCli } from "../test/support/run-cli.js";
import { progress } from "./support/exec.js";
import { summary } from "./support/summary.js";

const { values: args } = parseArgs({ options: { rounds: { type: "string", default: "3" } } });
const rounds = Number(args.rounds);
const suffix = randomBytes(3).toString("hex");
const tag = `es-bench-swarm-${suffix}:bench`;
const token = randomBytes(24).toString("hex");
const nodeImage = process.env.ESERVELESS_NODE_IMAGE ?? "eserveless-local/node:20";
const home = mkdtempSync(join(tmpdir(), "swarm-bench-home-"));

interface Setup {
  mode: "swarm" | "single host";
  lab: string;
  url: string;
  source: string;
  version: number;
}

async function startSetup(mode: Setup["mode"]): Promise<Setup> {
  const lab = `es-bench-${mode === "swarm" ? "sw" : "one"}-${suffix}`;
  const env = await swarmLabUp(lab, { workers: mode === "swarm" ? 2 : 0 });
  progress(`  ${lab} up; loading the images`);
  await swarmLabLoad(lab, [tag, nodeImage]);
  const manager = nodeDocker(env.managerSocket);
  await manager.createVolume({ Name: `${lab}-data` });
  await runEservelessContainer(manager, {
    image: tag,
    name: `${lab}-eserveless`,
    dataVolume: `${lab}-data`,
    dockerGid: env.dockerGid,
    hostPort: "3000",
    env: {
      ESERVELESS_ORCHESTRATOR: mode === "swarm" ? "swarm" : "docker",
      ...(mode === "swarm" ? { ESERVELESS_REGISTRY: env.registry } : {}),
      ESERVELESS_ADMIN_TOKEN: token,
      ESERVELESS_NODE_IMAGE: nodeImage,
    },
  });
  const url = env.serverUrl;
  for (let i = 0; i < 300 && !(await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined))?.ok; i++) await sleep(200);
  progress(`  eserveless answering on ${url}; deploying`);
  const source = mkdtempSync(join(tmpdir(), "swarm-bench-src-"));
  cpSync(fixtureDir("swarm-hello"), source, { recursive: true });
  const setup: Setup = { mode, lab, url, source, version: 1 };
  await deploy(setup);
  return setup;
}

async function deploy(setup: Setup): Promise<void> {
  const manifest = join(setup.source, ".eserveless.yaml");
  writeFileSync(manifest, readFileSync(manifest, "utf8").replace(/VERSION: v\d+/, `VERSION: v${setup.version}`));
  const result = await runCli(["deploy", setup.source, "--name", "swarm-hello"], { ESERVELESS_URL: setup.url, ESERVELESS_ADMIN_TOKEN: token, HOME: home });
  if (result.code !== 0) throw new Error(`deploy on ${setup.mode} failed:\n${result.stdout}${result.stderr}`);
}

async function call(setup: Setup, fn: string): Promise<{ status: number; body: string; cold: boolean }> {
  try {
    const response = await fetch(`${setup.url}/fn/local/swarm-hello/${fn}`, { signal: AbortSignal.timeout(30_000) });
    return { status: response.status, body: await response.text(), cold: response.headers.get("server-timing")?.startsWith("cold-start") === true };
  } catch (error) {
    return { status: 0, body: String(error), cold: false };
  }
}

/** 0 → first answer of Lazy (idleTimeout 1 s, minReplicas 0), once it has scaled to zero. */
async function coldStart(setup: Setup): Promise<number> {
  for (let attempt = 0; attempt < 10; attempt++) {
    await sleep(4_000);
    const started = performance.now();
    const result = await call(setup, "Lazy");
    const ms = performance.now() - started;
    if (result.status !== 200) throw new Error(`Lazy answered ${result.status}: ${result.body}`);
    if (result.cold) return ms;
  }
  throw new Error("Lazy never scaled to zero");
}

/** 1 → 3 replicas of Slow (concurrency 1, 300 ms a request) under 3 concurrent callers: until the third replica answers. */
async function scaleUp(setup: Setup): Promise<number> {
  await sleep(6_000); // back to its one warm replica (idleTimeout 2 s)
  const seen = new Set<string>();
  const started = performance.now();
  let reached: number | undefined;
  const caller = async () => {
    while (reached === undefined && performance.now() - started < 60_000) {
      const result = await call(setup, "Slow");
      if (result.status === 200) seen.add((JSON.parse(result.body) as { replica: string }).replica);
      if (seen.size >= 3) reached ??= performance.now() - started;
    }
  };
  await Promise.all([caller(), caller(), caller()]);
  if (reached === undefined) throw new Error(`Slow reached ${seen.size} replicas in 60 s`);
  return reached;
}

/** A new version deployed while two callers request API: the deploy's time, the requests that failed, and how long both versions answered. */
async function rollingSwitch(setup: Setup): Promise<{ deployMs: number; failed: number; total: number; overlapMs: number }> {
  setup.version++;
  let done = false;
  const answers: Array<{ at: number; version: string }> = [];
  let failed = 0;
  const caller = async () => {
    while (!done) {
      const result = await call(setup, "API");
      if (result.status === 200) answers.push({ at: performance.now(), version: (JSON.parse(result.body) as { version: string }).version });
      else failed++;
    }
  };
  const callers = [caller(), caller()];
  const started = performance.now();
  await deploy(setup);
  const deployMs = performance.now() - started;
  await sleep(1_000);
  done = true;
  await Promise.all(callers);
  const next = `v${setup.version}`;
  const firstNew = answers.find((a) => a.version === next)?.at ?? Number.NaN;
  const lastOld = answers.findLast((a) => a.version !== next)?.at ?? firstNew;
  return { deployMs, failed, total: answers.length + failed, overlapMs: Math.max(0, lastOld - firstNew) };
}

const fmt = (values: number[]) => {
  const { median, min, max } = summary(values);
  return `${Math.round(median)} ms (${Math.round(min)}–${Math.round(max)})`;
};

const setups: Setup[] = [];
// fetch's abort timers are unref'd: while one waits on a port that accepts and never answers, keep the process up.
const alive = setInterval(() => undefined, 1_000);
try {
  progress("building the eserveless image (npm run docker:build -- TAG --from-host)");
  await buildEservelessImage(tag);
  for (const mode of ["swarm", "single host"] as const) {
    progress(`starting the ${mode} lab and deploying`);
    setups.push(await startSetup(mode));
  }
  const results = new Map<string, { cold: number[]; scale: number[]; deploy: number[]; overlap: number[]; failed: number; total: number }>();
  for (const setup of setups) results.set(setup.mode, { cold: [], scale: [], deploy: [], overlap: [], failed: 0, total: 0 });
  for (let round = 1; round <= rounds; round++) {
    for (const setup of setups) {
      progress(`round ${round}/${rounds}: ${setup.mode}`);
      const r = results.get(setup.mode)!;
      r.cold.push(await coldStart(setup));
      r.scale.push(await scaleUp(setup));
      const roll = await rollingSwitch(setup);
      r.deploy.push(roll.deployMs);
      r.overlap.push(roll.overlapMs);
      r.failed += roll.failed;
      r.total += roll.total;
    }
  }
  console.log(`Swarm (manager + 2 workers) vs single host, both eserveless in a lab node container; ${rounds} rounds, median (min–max)`);
  console.log(`${"".padEnd(34)}${"swarm".padEnd(28)}single host`);
  const row = (name: string, pick: (r: ReturnType<typeof results.get> & object) => string) => console.log(`${name.padEnd(34)}${pick(results.get("swarm")!).padEnd(28)}${pick(results.get("single host")!)}`);
  row("cold start, 0 → first answer", (r) => fmt(r.cold));
  row("scale-up, 1 → 3 replicas answer", (r) => fmt(r.scale));
  row("rolling switch: deploy (CLI)", (r) => fmt(r.deploy));
  row("  both versions answering", (r) => fmt(r.overlap));
  row("  failed requests", (r) => `${r.failed}/${r.total}`);
} finally {
  for (const setup of setups) rmSync(setup.source, { recursive: true, force: true });
  for (const mode of ["sw", "one"]) await swarmLabDown(`es-bench-${mode}-${suffix}`).catch((error: unknown) => progress(String(error)));
  await new Docker().getImage(tag).remove({ force: true }).catch(() => undefined);
  rmSync(home, { recursive: true, force: true });
  clearInterval(alive);
}
