/**
 * Deploy benchmark: how long eserveless takes from a push to a live function,
 * next to what the plain Docker CLI needs for the same image and one
 * container on the same machine.
 *
 *   npm run bench:deploy -- --runs 5      (or: npx tsx bench/deploy.ts --runs 5)
 *   npm run bench:deploy -- --runs 5 --only rollback
 *
 * Scenarios, both for eserveless and for the baseline:
 *   first push  the layer cache is emptied before, so the dependency layer is built
 *   code-only   only functions.js changed since the previous build, so it is reused
 *
 * eserveless is timed from sending the signed push webhook to the commit's
 * `eserveless` status turning `success`; the baseline from `docker build` to
 * the first HTTP answer of a `docker run` container. `--only rollback` times
 * the rollback alone, against `docker run` of an already built image until
 * it answers, with where the rollback's time went. Results go to stdout,
 * progress to stderr. See bench/README.md for what is and is not measured.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createBuildContext, loadRuntimeTemplates, type RuntimeTemplate } from "../src/image/build-context.js";
import { containerEnvironment } from "../src/manifest/function-environment.js";
import type { Manifest } from "../src/manifest/manifest-schema.js";
import { readManifest } from "../src/manifest/read-manifest.js";
import { LABEL } from "../src/run/sandbox.js";
import { SourceTree } from "../src/source/extract-tarball.js";
import { readFixture } from "../test/support/fixtures.js";
import { startGitHubEmulator, type GitHubEmulator } from "../test/support/github-emulator.js";
import { ADMIN_TOKEN, startEserveless, testImages, type TestEserveless } from "../test/support/start-eserveless.js";
import { webhookDelivery } from "../test/support/webhook-delivery.js";
import { exec, progress, runBench } from "./support/exec.js";
import { answerParent, IpcChild, ROLE_VARIABLE } from "./support/ipc-child.js";
import { freePort } from "./support/server-process.js";
import { summary } from "./support/summary.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const FIXTURE = "node-hello";
const OWNER = "eserveless-bench";
const REPO = "node-hello";
const FUNCTION = "API";
const BASE_IMAGE = testImages.ESERVELESS_NODE_IMAGE;
/**
 * Set on the bench's base images, from which every image built on them
 * (eserveless' and the baseline's) and every container inherits it, so the
 * cache reset and the cleanup find what the bench made and nothing else.
 */
const BENCH_LABEL = `${LABEL}.bench`;
/** The containers eserveless starts for the bench's repository. */
const BENCH_REPO_LABEL = `${LABEL}.repository=${OWNER}/${REPO}`;
const GOAL_RATIO = 1.3;
/** Rollback, from the request to the old version answering, against one container start until it answers HTTP. */
const ROLLBACK_GOAL_RATIO = 1.2;
const STATUS_POLL_MS = 20;
/** The same interval eserveless' readiness probe uses, so neither side waits longer for a ready container. */
const READY_POLL_MS = 5;
/** Quiet time before a timed rollback, so Docker is not still busy removing the replaced containers (as bench/invoke's cold samples). */
const SETTLE_MS = 250;
const DEPLOY_TIMEOUT_MS = 180_000;
const READY_TIMEOUT_MS = 30_000;

/**
 * Ctrl-C stops the bench between steps rather than mid-step: a deployment in
 * flight still ends its build, and only then can cleanup find what it made.
 */
const interrupted = new AbortController();

type Files = Record<string, { content: Buffer; mode: number }>;
type Scenario = "first" | "code";
type Side = "eserveless" | "baseline";

/** One timed deploy, and what its build took from the layer cache (to check the scenario really happened). */
interface Sample {
  ms: number;
  cache: BuildCache;
  /** The baseline only: from `docker run` of the built image to its first HTTP answer (one container start). */
  startMs?: number;
}

interface BuildCache {
  /** Any step answered from the cache. */
  any: boolean;
  /** The dependency install step answered from the cache. */
  deps: boolean;
}

// ------------------------------------------------------------------ processes



const docker = (...args: string[]) => exec("docker", args);

/** References of the images carrying `label`: tags where there are, ids for untagged ones (an id with several tags cannot be removed without -f). */
async function imagesLabelled(label: string): Promise<string[]> {
  const out = await docker("image", "ls", "--filter", `label=${label}`, "--format", "{{.ID}} {{.Repository}}:{{.Tag}}");
  return out
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [id = "", ref = ""] = line.split(" ");
      return ref.includes("<none>") ? id : ref;
    });
}

async function removeContainersLabelled(...labels: string[]): Promise<void> {
  for (const label of labels) {
    const ids = (await docker("ps", "-aq", "--filter", `label=${label}`)).split("\n").filter(Boolean);
    if (ids.length > 0) await docker("rm", "-f", ...ids);
  }
}

/**
 * Removes images; `docker image rm` goes on past one that a container still
 * uses, and such a failure is only reported when `report` is set.
 */
async function removeImages(refs: string[], report: boolean): Promise<void> {
  if (refs.length === 0) return;
  await docker("image", "rm", ...new Set(refs)).catch((error: Error) => {
    if (report) progress(`warning: ${error.message}`);
  });
}

/** Removes every container and image the bench made; containers first, as they pin their images. */
async function removeBenchArtifacts(): Promise<void> {
  await removeContainersLabelled(BENCH_LABEL, BENCH_REPO_LABEL);
  await removeImages(await imagesLabelled(BENCH_LABEL), true);
}

/**
 * Returns a fresh base image for a first push to build on: the configured
 * one plus a label unique to this pair of pushes. The classic builder keys
 * its cache on the parent image, so a new base id makes the whole chain cold
 * without pruning anything (pruning would also throw away other people's
 * cached layers on a shared Docker host).
 */
async function coldBase(name: string): Promise<string> {
  await removeBenchArtifacts();
  const tag = `eserveless-bench/base:${name}`;
  // No files needed: the Dockerfile alone is the context, from stdin.
  await exec("docker", ["build", "-t", tag, "-"], {
    env: { ...process.env, DOCKER_BUILDKIT: "0" },
    input: Readable.from([`FROM ${BASE_IMAGE}\nLABEL ${BENCH_LABEL}="${name}"\n`]),
  });
  return tag;
}

// -------------------------------------------------------------------- project

/** The fixture with its function answering `version`: a code-only change, dependencies untouched. */
function project(version: string): Files {
  const files = readFixture(FIXTURE);
  const code = files["functions.js"];
  const source = code?.content.toString("utf8") ?? "";
  const changed = source.replace(/const VERSION = "[^"]*"/, `const VERSION = "${version}"`);
  if (!code || changed === source) throw new Error(`test/fixtures/${FIXTURE}/functions.js no longer has a \`const VERSION = "…"\` line to change`);
  return { ...files, "functions.js": { ...code, content: Buffer.from(changed) } };
}

function sourceTree(files: Files): SourceTree {
  return new SourceTree(Object.entries(files).map(([path, file]) => ({ type: "file" as const, path, mode: file.mode, content: file.content })));
}

async function manifestOf(files: Files, source: SourceTree): Promise<Manifest> {
  const text = files[".eserveless.yaml"]?.content.toString("utf8");
  if (text === undefined) throw new Error(`test/fixtures/${FIXTURE} has no .eserveless.yaml`);
  return (await readManifest(text, source)).manifest;
}

/** What classic-builder output shows was answered from the cache. */
function buildCache(lines: string[]): BuildCache {
  const step = lines.findIndex((line) => line.trimStart().startsWith("Step ") && line.includes("install-deps.sh"));
  if (step === -1) throw new Error("the build output has no install-deps.sh step; did runtimes/node/Dockerfile change?");
  return { any: lines.some((line) => line.includes("Using cache")), deps: lines[step + 1]?.includes("Using cache") ?? false };
}

// ----------------------------------------------------------------- eserveless

// ------------------------------------------------------- eserveless' own process

/** What the bench asks of the server process, over IPC. */
const serverCommands = (server: () => TestEserveless | undefined) => ({
  idle: () => server()?.deployer.idle(),
  log: (id: string) => server()?.store.deploymentLog(id) ?? [],
  state: (id: string) => server()?.store.getDeployment(id)?.state,
  live: (repository: string) => server()?.store.liveFunctions(repository)[0]?.deploymentId,
  stats: () => server()?.pool.stats(),
});
type ServerCommands = ReturnType<typeof serverCommands>;

/**
 * The child process that runs eserveless, wired as `npm start` wires it, so
 * that it shares its event loop with neither the GitHub emulator nor the
 * bench's own requests (the baseline's dockerd and container are processes of
 * their own too). Its logs go to stdout when LOG_LEVEL asks for them.
 */
async function serveEserveless(): Promise<void> {
  let server: TestEserveless | undefined;
  answerParent(
    {
      ...serverCommands(() => server),
      async start(env: Record<string, string>) {
        server = await startEserveless({ env });
        return server.url;
      },
      async stop() {
        await server?.stop();
        server = undefined;
        setImmediate(() => process.exit(0));
      },
    },
    () => server?.stop(),
  );
}

/** The bench's side of the eserveless process. */
class EservelessProcess {
  readonly #child: IpcChild;
  url = "";

  private constructor(readonly emulator: GitHubEmulator) {
    this.#child = new IpcChild("the eserveless process", { file: fileURLToPath(import.meta.url), role: "server", execArgv: process.execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  }

  static async start(emulator: GitHubEmulator, env: Record<string, string>): Promise<EservelessProcess> {
    const server = new EservelessProcess(emulator);
    server.url = await server.#child.call<string>("start", {
      APP_ID: String(emulator.appId),
      PRIVATE_KEY: emulator.privateKey,
      WEBHOOK_SECRET: emulator.webhookSecret,
      GITHUB_API_URL: emulator.url,
      ...env,
    });
    return server;
  }

  ask<K extends keyof ServerCommands>(command: K, ...arg: Parameters<ServerCommands[K]>): Promise<Awaited<ReturnType<ServerCommands[K]>>> {
    return this.#child.call(command, arg[0]);
  }

  /** Sends a signed webhook delivery over HTTP, as GitHub would. */
  deliver(event: string, payload: unknown): Promise<Response> {
    const delivery = webhookDelivery({ event, payload, secret: this.emulator.webhookSecret });
    return fetch(`${this.url}/webhooks/github`, { method: "POST", headers: delivery.headers, body: delivery.body });
  }

  /** Stops eserveless (which removes its containers and images) and waits for the process to exit. */
  async stop(): Promise<void> {
    if (this.#child.exited) return;
    await this.#child.call("stop").catch(() => undefined);
    await this.#child.whenExited();
  }
}

/** Waits for the commit's `eserveless` status to leave pending, polling the emulator like a watcher of the commit would. */
async function finalStatus(emulator: GitHubEmulator, sha: string) {
  const deadline = performance.now() + DEPLOY_TIMEOUT_MS;
  for (;;) {
    const last = emulator.statuses(OWNER, REPO, sha).filter((s) => s.context === "eserveless").at(-1);
    if (last && last.state !== "pending") return last;
    interrupted.signal.throwIfAborted();
    if (performance.now() > deadline) throw new Error(`no final eserveless status for ${sha.slice(0, 7)} within ${DEPLOY_TIMEOUT_MS / 1000} s`);
    await sleep(STATUS_POLL_MS);
  }
}

/** Pushes `version` of the project and times it until the success status. */
async function eservelessDeploy(emulator: GitHubEmulator, server: EservelessProcess, version: string): Promise<Sample> {
  interrupted.signal.throwIfAborted();
  const sha = emulator.commit(OWNER, REPO, { files: project(version), message: `bench ${version}` });
  const payload = emulator.pushPayload(OWNER, REPO, { after: sha });

  const started = performance.now();
  const response = await server.deliver("push", payload);
  if (response.status !== 202) throw new Error(`the push webhook answered ${response.status}: ${await response.text()}`);
  const { deployment } = (await response.json()) as { deployment: { id: string } };
  const final = await finalStatus(emulator, sha);
  const ms = performance.now() - started;

  // Outside the timing: let the deployment finish its remaining statuses, then check what it did.
  await server.ask("idle");
  const log = (await server.ask("log", deployment.id)).map((l) => l.line);
  if (final.state !== "success") throw new Error(`eserveless deployment ${final.state}: ${final.description}\n  ${log.join("\n  ")}`);
  await expectVersion(`${server.url}/fn/${OWNER}/${REPO}/${FUNCTION}/`, version);
  return { ms, cache: buildCache(log) };
}

/** A timed rollback, and when each line of its deployment log was written (ms after the request was sent). */
interface RollbackSample {
  ms: number;
  /** The API's 202, ms after the request was sent. */
  acceptedMs: number;
  /** When the bench saw the switch in the store, and how many requests the function took until the old version answered. */
  switchedMs: number;
  requests: number;
  phases: Array<{ ms: number; line: string }>;
}

/**
 * Rolls back to the previous release through the API and times it until the
 * function answers that release's `version`; checks that nothing was built.
 * The old version cannot answer before the rollback switched, so the bench
 * waits for the switch in the server's store, then polls the function as
 * often as the baseline polls its container: polling the function all along
 * would load the machine (each poll is a proxied request) while the
 * container starts, which the baseline's `docker run` is spared.
 */
async function eservelessRollback(server: EservelessProcess, version: string): Promise<RollbackSample> {
  interrupted.signal.throwIfAborted();
  await settled(server);
  const url = `${server.url}/fn/${OWNER}/${REPO}/${FUNCTION}/`;
  const wallStart = Date.now();
  const started = performance.now();
  const response = await fetch(`${server.url}/api/projects/${OWNER}/${REPO}/rollback`, { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (response.status !== 202) throw new Error(`the rollback answered ${response.status}: ${await response.text()}`);
  const acceptedMs = performance.now() - started;
  const { deployment } = (await response.json()) as { deployment: { id: string } };
  const deadline = started + DEPLOY_TIMEOUT_MS;
  while ((await server.ask("live", `${OWNER}/${REPO}`)) !== deployment.id) {
    const state = await server.ask("state", deployment.id);
    if (state === "error" || state === "failure" || performance.now() > deadline) {
      throw new Error(`the rollback did not switch (${state}):\n  ${(await server.ask("log", deployment.id)).map((l) => l.line).join("\n  ")}`);
    }
    await sleep(READY_POLL_MS);
  }
  const switchedMs = performance.now() - started;
  let requests = 1;
  for (; ((await (await fetch(url)).json()) as { version?: string }).version !== version; requests++) {
    if (performance.now() > deadline) throw new Error(`the rollback did not bring ${version} back within ${DEPLOY_TIMEOUT_MS} ms`);
    await sleep(READY_POLL_MS);
  }
  const ms = performance.now() - started;
  await server.ask("idle");
  const log = await server.ask("log", deployment.id);
  if (log.some((l) => /Building image/.test(l.line))) throw new Error(`the rollback built an image:\n  ${log.map((l) => l.line).join("\n  ")}`);
  return { ms, acceptedMs, switchedMs, requests, phases: log.map((l) => ({ ms: new Date(l.at).getTime() - wallStart, line: l.line })) };
}

/**
 * Waits until the replaced deployment's containers are gone (they drain and
 * are removed after the switch, in the background), then a quiet moment: a
 * rollback comes long after the deploy it undoes, and the baseline's
 * `docker run` does not share Docker with a removal either.
 */
async function settled(server: EservelessProcess): Promise<void> {
  const deadline = performance.now() + READY_TIMEOUT_MS;
  for (;;) {
    // Function containers: the project network's holder (which has no function label) stays.
    const running = (await docker("ps", "-aq", "--filter", `label=${BENCH_REPO_LABEL}`, "--filter", `label=${LABEL}.function`)).split("\n").filter(Boolean).length;
    const { ready, paused } = (await server.ask("stats"))!;
    if (running <= ready + paused) break;
    if (performance.now() > deadline) throw new Error(`${running} containers of ${OWNER}/${REPO} still run ${READY_TIMEOUT_MS / 1000} s after the switch; ${ready + paused} are live`);
    await sleep(STATUS_POLL_MS);
  }
  await sleep(SETTLE_MS);
}

async function expectVersion(url: string, version: string): Promise<void> {
  const body = (await (await fetch(url)).json()) as { version?: string };
  if (body.version !== version) throw new Error(`${url} answered version ${body.version}, expected ${version}`);
}

// ------------------------------------------------------------------- baseline

/** Writes the build context eserveless would send to Docker into a fresh folder, so the CLI builds exactly the same files. */
async function writeBuildContext(files: Files, template: RuntimeTemplate): Promise<string> {
  const source = sourceTree(files);
  const dir = await mkdtemp(join(tmpdir(), "eserveless-bench-"));
  await exec("tar", ["-x", "-f", "-", "-C", dir], { input: createBuildContext(source, template, await manifestOf(files, source)) });
  return dir;
}

/** One HTTP GET: the body on any answer, undefined while nothing listens yet. */
function probe(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path: "/", agent: false, timeout: 1000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
      res.on("error", () => resolve(undefined));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
    req.end();
  });
}

/**
 * `docker build` of the same context with the classic builder (as eserveless
 * uses), then `docker run` of the function until it answers HTTP.
 */
async function baselineDeploy(template: RuntimeTemplate, base: string, version: string, tag: string): Promise<Sample> {
  interrupted.signal.throwIfAborted();
  const files = project(version);
  const source = sourceTree(files);
  const manifest = await manifestOf(files, source);
  const api = manifest.functions.find((fn) => fn.name === FUNCTION);
  if (!api) throw new Error(`the ${FIXTURE} manifest has no ${FUNCTION} function`);
  // The environment eserveless gives the function's container, so both run the same code path.
  const env = { ...containerEnvironment(api, manifest), ESERVELESS_FUNCTION: FUNCTION };
  const envArgs = Object.entries(env).flatMap(([key, value]) => ["-e", `${key}=${value}`]);
  // A developer's files are already on disk: writing them is not part of the CLI's time.
  const dir = await writeBuildContext(files, template);
  try {
    const started = performance.now();
    // No --label: each is one more classic-builder step; the image inherits BENCH_LABEL from its base.
    const build = await exec("docker", ["build", "--build-arg", `BASE_IMAGE=${base}`, "-t", tag, dir], {
      env: { ...process.env, DOCKER_BUILDKIT: "0" },
    });
    // Chosen outside the timing, as a user who runs a container picks a port: no `docker port` (one more CLI process) is timed.
    const port = await freePort();
    const runStarted = performance.now();
    const id = (await docker("run", "-d", "--label", `${BENCH_LABEL}=baseline`, "-p", `127.0.0.1:${port}:8080`, ...envArgs, tag)).trim();
    try {
      const deadline = performance.now() + READY_TIMEOUT_MS;
      let body: string | undefined;
      while ((body = await probe(port)) === undefined) {
        if (performance.now() > deadline) throw new Error(`the baseline container never answered HTTP:\n${await docker("logs", id).catch(() => "")}`);
        await sleep(READY_POLL_MS);
      }
      const answeredAt = performance.now();
      const answered = (JSON.parse(body) as { version?: string }).version;
      if (answered !== version) throw new Error(`the baseline container answered version ${answered}, expected ${version}`);
      return { ms: answeredAt - started, cache: buildCache(build.split("\n")), startMs: answeredAt - runStarted };
    } finally {
      await docker("rm", "-f", id);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------- report


const formatMs = (values: number[]) => {
  const { median, min, max } = summary(values);
  return `${Math.round(median)} (${Math.round(min)}–${Math.round(max)})`;
};

function printReport(samples: Record<Scenario, Record<Side, Sample[]>>, rollbacks: number[], runs: number, surprises: string[]): void {
  const ms = (s: Sample[]) => s.map((x) => x.ms);
  const ratio = (scenario: Scenario) => summary(ms(samples[scenario].eserveless)).median / summary(ms(samples[scenario].baseline)).median;
  const rows = [
    ["scenario", "eserveless ms", "docker CLI ms", "eserveless/baseline"],
    ...(["first", "code"] as const).map((scenario) => [
      scenario === "first" ? "first push (cold cache)" : "code-only push",
      formatMs(ms(samples[scenario].eserveless)),
      formatMs(ms(samples[scenario].baseline)),
      `${ratio(scenario).toFixed(2)}×`,
    ]),
  ];
  const starts = [...samples.first.baseline, ...samples.code.baseline].flatMap((sample) => (sample.startMs === undefined ? [] : [sample.startMs]));
  const rollbackRatio = summary(rollbacks).median / summary(starts).median;
  rows.push(["rollback vs one container start", formatMs(rollbacks), formatMs(starts), `${rollbackRatio.toFixed(2)}×`]);
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: string[]) => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join("   ");

  const out = [
    "",
    `Deploy benchmark: test/fixtures/${FIXTURE}, base image ${BASE_IMAGE} (a fresh labelled child per run and side), ${runs} run${runs === 1 ? "" : "s"} each, median (min–max)`,
    "",
    line(rows[0]!),
    rows[0]!.map((_, column) => "-".repeat(widths[column]!)).join("   "),
    ...rows.slice(1).map(line),
    "",
    `Goal: code-only redeploy ≤ ${GOAL_RATIO}× baseline: ${ratio("code") <= GOAL_RATIO ? "PASS" : "MISS"} (${ratio("code").toFixed(2)}×)`,
    `Goal: rollback (request → old version answering) ≤ ${ROLLBACK_GOAL_RATIO}× one docker run → HTTP answer: ${rollbackRatio <= ROLLBACK_GOAL_RATIO ? "PASS" : "MISS"} (${rollbackRatio.toFixed(2)}×)`,
    ...(surprises.length > 0 ? ["", "Warning: some runs did not hit the cache as their scenario intends; their times are suspect:", ...surprises.map((s) => `  - ${s}`)] : []),
    "",
  ];
  process.stdout.write(out.join("\n"));
}

// ------------------------------------------------------------------------ main

async function ensureBaseImage(): Promise<void> {
  if (await docker("image", "inspect", BASE_IMAGE).then(() => true, () => false)) return;
  if (!BASE_IMAGE.startsWith("eserveless-local/")) throw new Error(`the base image ${BASE_IMAGE} (ESERVELESS_NODE_IMAGE) is not on this Docker host; pull it first`);
  progress(`${BASE_IMAGE} is missing: building it with scripts/build-base-images.sh --only node`);
  await exec("bash", [join(ROOT, "scripts/build-base-images.sh"), "--only", "node"]);
}

function readArgs(): { runs: number; only: "rollback" | undefined } {
  const { values } = parseArgs({ options: { runs: { type: "string", default: "5" }, only: { type: "string" } }, strict: true });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a whole number of at least 1, got ${values.runs}`);
  if (values.only !== undefined && values.only !== "rollback") throw new Error(`--only takes rollback, got ${values.only}`);
  return { runs, only: values.only };
}

/**
 * `--only rollback`: per run, a fresh eserveless deploys two versions (on a
 * warm layer cache) and rolls back to the first, timed; and `docker run` of
 * the same function's image until it answers HTTP, timed. The sides
 * alternate. Prints the rollback's log with when each line was written.
 */
async function rollbackOnly(emulator: GitHubEmulator, template: RuntimeTemplate, runs: number, nonce: string): Promise<void> {
  const base = await coldBase(`${nonce}-rollback`);
  const rollbacks: number[] = [];
  const starts: number[] = [];
  /** What each rollback took beyond its own container's start (its log's "answered HTTP after"). */
  const overheads: number[] = [];
  const sides = {
    async eserveless(run: number) {
      const server = await EservelessProcess.start(emulator, { ESERVELESS_NODE_IMAGE: base });
      try {
        await eservelessDeploy(emulator, server, `${nonce}-${run}-es-first`);
        await eservelessDeploy(emulator, server, `${nonce}-${run}-es-code`);
        const sample = await eservelessRollback(server, `${nonce}-${run}-es-first`);
        rollbacks.push(sample.ms);
        const coldStart = sample.phases.map((p) => / answered HTTP after (\d+) ms/.exec(p.line)?.[1]).find(Boolean);
        if (coldStart) overheads.push(sample.ms - Number(coldStart));
        progress(
          [
            `run ${run}/${runs}  eserveless  rollback ${Math.round(sample.ms)} ms (202 after ${Math.round(sample.acceptedMs)} ms, switch seen after ${Math.round(sample.switchedMs)} ms, ${sample.requests} request${sample.requests === 1 ? "" : "s"} to the function)`, ...sample.phases.map((p) => `    +${p.ms} ms  ${p.line}`)].join("\n"),
        );
      } finally {
        await server.stop();
      }
    },
    async baseline(run: number) {
      const sample = await baselineDeploy(template, base, `${nonce}-${run}-bl`, `eserveless-bench/baseline:${nonce}-${run}`);
      starts.push(sample.startMs!);
      progress(`run ${run}/${runs}  baseline    docker run → HTTP answer ${Math.round(sample.startMs!)} ms`);
    },
  };
  try {
    for (let run = 1; run <= runs; run++) {
      const order = run % 2 === 1 ? (["eserveless", "baseline"] as const) : (["baseline", "eserveless"] as const);
      for (const side of order) await sides[side](run);
    }
  } finally {
    await removeBenchArtifacts();
  }
  const ratio = summary(rollbacks).median / summary(starts).median;
  process.stdout.write(
    [
      "",
      `Rollback benchmark: test/fixtures/${FIXTURE}, ${runs} run${runs === 1 ? "" : "s"}, median (min–max)`,
      "",
      `rollback, request → old version answering   ${formatMs(rollbacks)} ms`,
      `one docker run → HTTP answer                 ${formatMs(starts)} ms`,
      `rollback beyond its own container's start    ${overheads.length ? formatMs(overheads) : "?"} ms`,
      "",
      `Goal: rollback ≤ ${ROLLBACK_GOAL_RATIO}× one container start: ${ratio <= ROLLBACK_GOAL_RATIO ? "PASS" : "MISS"} (${ratio.toFixed(2)}×)`,
      "",
    ].join("\n"),
  );
}

async function main(): Promise<void> {
  const { runs, only } = readArgs();
  await docker("info", "--format", "{{.ServerVersion}}").catch((cause: Error) => {
    throw new Error("Docker is not reachable: start the engine or set DOCKER_HOST", { cause });
  });
  await ensureBaseImage();
  const template = (await loadRuntimeTemplates(join(ROOT, "runtimes"))).get("node");
  if (!template) throw new Error("runtimes/node is missing");

  const emulator = await startGitHubEmulator();
  emulator.addRepository({ owner: OWNER, name: REPO });

  // Once only: a second Ctrl-C kills the bench at once, leaving its containers and images.
  process.once("SIGINT", () => {
    progress("interrupted: finishing the current step, then cleaning up (Ctrl-C again to quit at once)");
    interrupted.abort();
  });

  // Versions unique to this invocation, so no build finds a previous one's app layer in the cache.
  const nonce = randomBytes(3).toString("hex");
  if (only === "rollback") {
    try {
      return await rollbackOnly(emulator, template, runs, nonce);
    } finally {
      await emulator.close();
    }
  }
  const samples: Record<Scenario, Record<Side, Sample[]>> = { first: { eserveless: [], baseline: [] }, code: { eserveless: [], baseline: [] } };
  const surprises: string[] = [];
  const rollbacks: number[] = [];
  const record = (run: number, side: Side, scenario: Scenario, sample: Sample) => {
    samples[scenario][side].push(sample);
    if (scenario === "first" && sample.cache.any) surprises.push(`run ${run} ${side} first push: some steps came from the cache`);
    if (scenario === "code" && !sample.cache.deps) surprises.push(`run ${run} ${side} code-only push: the dependency layer was rebuilt`);
  };

  // Each side deploys the same pair: a first push on an empty layer cache, then a code-only push.
  const sides: Record<Side, (run: number, base: string) => Promise<[Sample, Sample]>> = {
    async eserveless(run, base) {
      // A fresh instance, so the first push is really the first this server sees, and it builds on the fresh base.
      // Stopping it removes its containers, which would otherwise pin their images through the next cache reset.
      const server = await EservelessProcess.start(emulator, { ESERVELESS_NODE_IMAGE: base });
      try {
        const first = await eservelessDeploy(emulator, server, `${nonce}-${run}-es-first`);
        const code = await eservelessDeploy(emulator, server, `${nonce}-${run}-es-code`);
        // Back to the first push's release, whose image is kept: no build, one container start, the switch.
        rollbacks.push((await eservelessRollback(server, `${nonce}-${run}-es-first`)).ms);
        progress(`run ${run}/${runs}  eserveless  rollback ${Math.round(rollbacks.at(-1)!)} ms`);
        return [first, code];
      } finally {
        await server.stop();
      }
    },
    async baseline(run, base) {
      const first = await baselineDeploy(template, base, `${nonce}-${run}-bl-first`, `eserveless-bench/baseline:${nonce}-${run}-first`);
      const code = await baselineDeploy(template, base, `${nonce}-${run}-bl-code`, `eserveless-bench/baseline:${nonce}-${run}-code`);
      return [first, code];
    },
  };

  try {
    for (let run = 1; run <= runs; run++) {
      // Alternating who goes first spreads drift (a warming disk, a busy neighbour) over both sides.
      const order: Side[] = run % 2 === 1 ? ["eserveless", "baseline"] : ["baseline", "eserveless"];
      for (const side of order) {
        const [first, code] = await sides[side](run, await coldBase(`${nonce}-${run}-${side}`));
        record(run, side, "first", first);
        record(run, side, "code", code);
        progress(`run ${run}/${runs}  ${side.padEnd(10)}  first push ${Math.round(first.ms)} ms   code-only ${Math.round(code.ms)} ms`);
      }
    }
  } finally {
    await removeBenchArtifacts();
    await emulator.close();
  }
  printReport(samples, rollbacks, runs, surprises);
}

if (process.env[ROLE_VARIABLE] === "server") {
  void serveEserveless();
} else {
  runBench(main, interrupted.signal);
}
