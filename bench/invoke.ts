/**
 * Invoke benchmark: what the router adds to a function call, next to calling
 * the function's container straight and next to the gateways people would use
 * instead (Go's httputil.ReverseProxy, nginx, a minimal Node proxy), and what a
 * cold start, a resume from the paused tier and the router's memory come to,
 * on the same machine in one run.
 *
 *   npm run bench:invoke -- --rounds 3 --round-seconds 8 --samples 10 --functions 100 [--only peers,memory] [--profile DIR]
 *   (or: npx tsx bench/invoke.ts …)
 *
 * Phases, each on a fresh eserveless in a child process of its own, so that
 * the router shares its event loop with neither the load generator (wrk,
 * another process) nor this one:
 *   peers   `node dist/main.js` as `npm start` runs it; wrk in interleaved rounds through
 *           /fn/…, straight to the container, and through the three peers in front of it
 *   warm    (under tsx) wrk through /fn/… and straight to the container, with CPU per request
 *   cold    time to first byte with no container, next to `docker run` until its port answers
 *   paused  ESERVELESS_PAUSE_AFTER=1: a request to a paused container, and what it holds in memory
 *   memory  `node dist/main.js`: RSS idle, then after load with --functions http functions deployed
 *
 * Results go to stdout, progress to stderr. See bench/README.md for what is
 * and is not measured.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { Writable } from "node:stream";
import { request, type IncomingHttpHeaders } from "node:http";
import { Session } from "node:inspector/promises";
import { cpus, loadavg } from "node:os";
import { join, relative, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import Docker from "dockerode";
import { containerEnvironment } from "../src/manifest/function-environment.js";
import type { HttpFunctionSpec, Manifest } from "../src/manifest/manifest-schema.js";
import { readManifest } from "../src/manifest/read-manifest.js";
import { LABEL } from "../src/run/sandbox.js";
import { SourceTree } from "../src/source/extract-tarball.js";
import { readFixture } from "../test/support/fixtures.js";
import { startGitHubEmulator, type GitHubEmulator } from "../test/support/github-emulator.js";
import { startEserveless, testImages, type TestEserveless } from "../test/support/start-eserveless.js";
import { webhookDelivery } from "../test/support/webhook-delivery.js";
import { exec, progress, runBench } from "./support/exec.js";
import { answerParent, IpcChild, ROLE_VARIABLE } from "./support/ipc-child.js";
import { buildGoProxy, describeUpstream, startGoProxy, startNginx, startNodeProxy, tempDir, transportOf, upstreamOf, type Peer, type Upstream } from "./support/peers.js";
import { freePort, processCpuUs, processRss, startFlags, startServerProcess, type ServerProcess } from "./support/server-process.js";
import { median, summary } from "./support/summary.js";
import { wrk, wrkBanner, type WrkResult } from "./support/wrk.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const FIXTURE = "bench-hello";
const OWNER = "eserveless-bench";
/** The fixture as it is: Hello (warm, paused) and Cold. */
const REPO = "bench-hello";
/** The fixture's code under a generated manifest of F1…Fn, for the memory phase. */
const MANY_REPO = "bench-many";
const WARM_FUNCTION = "Hello";
/** The peers phase's function: the same code under the manifest's defaults (concurrency, maxReplicas, idleTimeout). */
const DEFAULT_FUNCTION = "Plain";
const COLD_FUNCTION = "Cold";
/** The fixture's functions.js exports F1…F100. */
const MAX_FUNCTIONS = 100;
const BASE_IMAGE = testImages.ESERVELESS_NODE_IMAGE;
/**
 * Set on the baseline's `docker run` containers, with a value unique to this
 * run: the cleanup removes what carries it (and the containers and images of
 * the eserveless instances this run started, by their instance label) and
 * nothing of anyone else's. Not `dev.eserveless.bench`, which bench/deploy.ts
 * removes wholesale.
 */
const BENCH_LABEL = `${LABEL}.bench.invoke`;
const RUN = randomBytes(4).toString("hex");

/** Issue 11's goals, in one place. */
const GOALS = {
  /** Router req/s at --connections ÷ Go's httputil.ReverseProxy's, at least. */
  vsGo: 1.0,
  /** Router req/s at --connections ÷ the minimal Node proxy's, at least. */
  vsNode: 0.9,
  /** Added p50 at 1 connection (router − direct), ms, at most. */
  singleAddedMs: 0.25,
  /** RSS of `node dist/main.js` idle, MiB, below. */
  idleRssMiB: 80,
  /** RSS after the load with --functions http functions deployed, MiB, below. */
  loadedRssMiB: 120,
  /** Cold start ÷ `docker run` until the port answers, at most. */
  cold: 1.0,
  /** Resume of a paused container, ms, at most (about 16 ms when the goal was set). */
  resumeMs: 20,
};
/** The same interval eserveless' readiness probe uses, so neither side waits longer for a ready container. */
const READY_POLL_MS = 5;
/** Quiet time before each cold sample, so Docker is not still busy removing the previous container. */
const SETTLE_MS = 250;
const WARMUP_SECONDS = 3;
const DEPLOY_TIMEOUT_MS = 180_000;
const STATUS_POLL_MS = 20;
/** Longest a router may take to stop: its pool lets in-flight requests finish for up to 30 s. */
const STOP_TIMEOUT_MS = 60_000;

/** Ctrl-C stops the bench between steps; cleanup then removes what it made. */
const interrupted = new AbortController();

// ------------------------------------------------------------------ processes



const docker = (...args: string[]) => exec("docker", args);
const dockerApi = new Docker();

async function removeContainersLabelled(label: string): Promise<void> {
  const ids = (await docker("ps", "-aq", "--filter", `label=${label}`)).split("\n").filter(Boolean);
  if (ids.length > 0) await docker("rm", "-f", ...ids);
}

/** Removes the networks carrying `label` (a server stopped as a restart keeps its own for the next start). */
async function removeNetworksLabelled(label: string): Promise<void> {
  const ids = (await docker("network", "ls", "-q", "--filter", `label=${label}`)).split("\n").filter(Boolean);
  if (ids.length > 0) await docker("network", "rm", ...ids);
}

/** Removes the images carrying `label` (tags where there are, ids for untagged ones); one still in use is reported, not forced. */
async function removeImagesLabelled(label: string): Promise<void> {
  const out = await docker("image", "ls", "--filter", `label=${label}`, "--format", "{{.ID}} {{.Repository}}:{{.Tag}}");
  const refs = out
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [id = "", ref = ""] = line.split(" ");
      return ref.includes("<none>") ? id : ref;
    });
  if (refs.length === 0) return;
  await docker("image", "rm", ...new Set(refs)).catch((error: Error) => progress(`warning: ${error.message}`));
}


// ------------------------------------------------------- the router, a child

type Command = "start" | "idle" | "reap" | "image" | "memory" | "cpu" | "profile-start" | "profile-stop" | "stop";
interface RouterInfo {
  url: string;
  /** The instance label of its containers and images. */
  instance: string;
  pid: number;
}

/**
 * The child side: a whole eserveless (startEserveless, as the tests run it)
 * that does what the bench process asks over IPC. Its logs go nowhere
 * (stdout is ignored) unless ESERVELESS_BENCH_LOG_DIR names a folder to
 * keep them in; set LOG_LEVEL to make it log as a server would.
 */
async function serveRouter(): Promise<void> {
  let server: TestEserveless | undefined;
  let profiler: Session | undefined;
  const gc = (globalThis as { gc?: () => void }).gc;
  const handlers: Record<Command, (arg: never) => unknown> = {
    async start(env: Record<string, string>) {
      // ESERVELESS_BENCH_LOG_DIR keeps each router's log there (its "container ready" lines time each step of a start).
      const logDir = process.env.ESERVELESS_BENCH_LOG_DIR;
      server = await startEserveless({ env, logTo: logDir ? syncFile(join(logDir, `router-${process.pid}.log`)) : undefined });
      const instance = readFileSync(join(server.dataDir, "instance-id"), "utf8").trim();
      return { url: server.url, instance, pid: process.pid } satisfies RouterInfo;
    },
    idle: () => server?.deployer.idle(),
    async reap() {
      await server?.pool.reap();
      return server?.pool.stats();
    },
    image: ({ repository, name }: { repository: string; name: string }) => server?.store.liveFunction(repository, name)?.image,
    memory() {
      gc?.();
      gc?.();
      return process.memoryUsage();
    },
    cpu: () => process.cpuUsage(),
    async "profile-start"() {
      profiler = new Session();
      profiler.connect();
      await profiler.post("Profiler.enable");
      await profiler.post("Profiler.setSamplingInterval", { interval: 200 });
      await profiler.post("Profiler.start");
    },
    async "profile-stop"(path: string) {
      if (!profiler) throw new Error("no profile is running");
      const { profile } = await profiler.post("Profiler.stop");
      profiler.disconnect();
      profiler = undefined;
      writeFileSync(path, JSON.stringify(profile));
    },
    async stop() {
      await server?.stop();
      server = undefined;
      setImmediate(() => process.exit(0));
    },
  };
  // The bench process died without stopping us: remove our containers and leave.
  answerParent(handlers, () => server?.stop());
}

/** A file written synchronously: the router exits right after it stops, and nothing of its log may be lost. */
function syncFile(path: string): Writable {
  const fd = openSync(path, "a");
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      writeSync(fd, chunk);
      done();
    },
  });
}

/** The bench side of a router child process. */
class Router {
  readonly #child: IpcChild;
  info?: RouterInfo;

  constructor(readonly name: string) {
    this.#child = new IpcChild(`router ${name}`, {
      file: fileURLToPath(import.meta.url),
      role: "router",
      // The parent's execArgv carries tsx's loader; --expose-gc lets `memory` measure after a full GC.
      execArgv: [...process.execArgv, "--expose-gc"],
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
  }

  call<T>(command: Command, arg?: unknown): Promise<T> {
    return this.#child.call(command, arg);
  }

  get pid(): number {
    return this.#child.pid;
  }

  get url(): string {
    if (!this.info) throw new Error(`router ${this.name} is not started`);
    return this.info.url;
  }

  fnUrl(repo: string, name: string): string {
    return `${this.url}/fn/${OWNER}/${repo}/${name}/`;
  }

  /** Stops eserveless (which removes its containers) and waits for the child to exit; kills it if it takes too long. */
  async stop(): Promise<void> {
    if (this.#child.exited) return;
    const exited = this.#child.whenExited();
    const timeout = new AbortController();
    const gaveUp = sleep(STOP_TIMEOUT_MS, undefined, { signal: timeout.signal }).catch(() => undefined);
    // The child exits right after it answers; if it dies before, the call fails and it has exited too.
    await Promise.race([this.call("stop").then(() => exited, () => exited), gaveUp]);
    timeout.abort();
    if (!this.#child.exited) {
      progress(`warning: router ${this.name} did not stop within ${STOP_TIMEOUT_MS / 1000} s; killing it (its containers and images are removed by label)`);
      this.#child.kill();
      await exited;
    }
  }
}

/** Every router this run started, so that cleanup finds their containers and images even after a crash. */
const routers: Router[] = [];

async function startRouter(name: string, emulator: GitHubEmulator, env: Record<string, string> = {}): Promise<Router> {
  const router = new Router(name);
  routers.push(router);
  router.info = await router.call<RouterInfo>("start", {
    APP_ID: String(emulator.appId),
    PRIVATE_KEY: emulator.privateKey,
    WEBHOOK_SECRET: emulator.webhookSecret,
    GITHUB_API_URL: emulator.url,
    ...env,
  });
  return router;
}

// -------------------------------------------------------------------- project

type Files = Record<string, { content: Buffer; mode: number }>;

function sourceTree(files: Files): SourceTree {
  return new SourceTree(Object.entries(files).map(([path, file]) => ({ type: "file" as const, path, mode: file.mode, content: file.content })));
}

async function manifestOf(files: Files): Promise<Manifest> {
  const text = files[".eserveless.yaml"]?.content.toString("utf8");
  if (text === undefined) throw new Error(`test/fixtures/${FIXTURE} has no .eserveless.yaml`);
  return (await readManifest(text, sourceTree(files))).manifest;
}

function httpFunction(manifest: Manifest, name: string): HttpFunctionSpec {
  const fn = manifest.functions.find((f) => f.name === name);
  if (fn?.type !== "http") throw new Error(`test/fixtures/${FIXTURE}/.eserveless.yaml has no http function ${name}`);
  return fn;
}

/** The fixture's code under a manifest of `count` http functions F1…Fn, each reaped after one idle second. */
function manyFunctions(count: number): Files {
  const files = readFixture(FIXTURE);
  const lines = ["runtime: node", "functions:", ...Array.from({ length: count }, (_, i) => `  - { name: F${i + 1}, type: http, maxReplicas: 1, idleTimeout: 1 }`)];
  return { ...files, ".eserveless.yaml": { content: Buffer.from(`${lines.join("\n")}\n`), mode: 0o644 } };
}

/** An eserveless to deploy to: a router child (which waits for its deployer to idle) or a `node dist/main.js` process. */
interface Target {
  url: string;
  call?: Router["call"];
}

/** Pushes `files` to the emulator, delivers the webhook to `router` and waits for the deployment to succeed. */
async function deploy(emulator: GitHubEmulator, router: Target, repo: string, files: Files, timeoutMs = DEPLOY_TIMEOUT_MS): Promise<void> {
  interrupted.signal.throwIfAborted();
  const sha = emulator.commit(OWNER, repo, { files, message: `bench ${RUN}` });
  const delivery = webhookDelivery({ event: "push", payload: emulator.pushPayload(OWNER, repo, { after: sha }), secret: emulator.webhookSecret });
  const response = await fetch(`${router.url}/webhooks/github`, { method: "POST", headers: delivery.headers, body: delivery.body });
  if (response.status !== 202) throw new Error(`the push webhook answered ${response.status}: ${await response.text()}`);
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const last = emulator.statuses(OWNER, repo, sha).filter((s) => s.context === "eserveless").at(-1);
    if (last && last.state !== "pending") {
      await router.call?.("idle");
      if (last.state !== "success") throw new Error(`the deployment of ${repo} ended ${last.state}: ${last.description}`);
      return;
    }
    interrupted.signal.throwIfAborted();
    if (performance.now() > deadline) throw new Error(`no final eserveless status for ${repo} ${sha.slice(0, 7)} within ${timeoutMs / 1000} s`);
    await sleep(STATUS_POLL_MS);
  }
}

// ------------------------------------------------------------------ containers

/** The containers of one function of one eserveless instance, running, paused or otherwise. */
function containersOf(router: { info?: { instance: string } }, name?: string) {
  const label = [`${LABEL}.instance=${router.info?.instance}`, ...(name ? [`${LABEL}.function=${name}`] : [])];
  return dockerApi.listContainers({ all: true, filters: { label } });
}

/** The running container of the function and its 127.0.0.1 port for 8080. */
async function runningContainer(router: { info?: { instance: string } }, name: string, options: { published: boolean } = { published: true }): Promise<{ id: string; port: number }> {
  const running = (await containersOf(router, name)).filter((c) => c.State === "running");
  if (running.length !== 1) throw new Error(`expected one running ${name} container, found ${running.length}`);
  const info = running[0]!;
  const port = info.Ports.find((p) => p.PrivatePort === 8080 && p.IP === "127.0.0.1" && p.PublicPort)?.PublicPort ?? 0;
  if (!port && options.published) throw new Error(`the ${name} container ${info.Id.slice(0, 12)} publishes no 127.0.0.1 port for 8080`);
  return { id: info.Id, port };
}

/** Lets the pool's idle path remove the function's containers (reap, as its timer does) until Docker lists none. */
async function untilNoContainer(router: Router, name?: string, timeoutMs = 60_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    await router.call("reap");
    if ((await containersOf(router, name)).length === 0) return;
    interrupted.signal.throwIfAborted();
    if (performance.now() > deadline) throw new Error(`the ${name ?? "function"} containers were not reaped within ${timeoutMs / 1000} s`);
    await sleep(100);
  }
}

interface ContainerMemory {
  /** The cgroup's usage less inactive file pages, as `docker stats` shows it. */
  cgroup: number;
  /** The RSS of its main process, when /proc shows it. */
  rss: number | undefined;
  paused: boolean;
}

async function containerMemory(id: string): Promise<ContainerMemory> {
  const container = dockerApi.getContainer(id);
  const { memory_stats: memory } = await container.stats({ stream: false, "one-shot": true });
  const stats = memory.stats as Partial<Record<string, number>> | undefined;
  const inactive = stats?.total_inactive_file ?? stats?.inactive_file ?? 0;
  const { State: state } = await container.inspect();
  return { cgroup: (memory.usage ?? 0) - inactive, rss: state.Pid ? processRss(state.Pid) : undefined, paused: state.Paused };
}

/** The machine's CPU time so far, all of it and the idle part, in clock ticks, from /proc/stat. */
function machineCpu(): { total: number; idle: number } {
  // "cpu  user nice system idle iowait irq softirq steal …": idle and iowait are idle.
  const fields = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  return { total: fields.reduce((a, b) => a + b, 0), idle: fields[3]! + fields[4]! };
}

/** CPU time a container used so far, in µs. */
async function containerCpuUs(id: string): Promise<number> {
  const { cpu_stats: cpu } = await dockerApi.getContainer(id).stats({ stream: false, "one-shot": true });
  return cpu.cpu_usage.total_usage / 1000;
}

/**
 * CPU time, in µs, of the userland docker-proxy that publishes 127.0.0.1:port,
 * when there is one and /proc shows it (it runs as root on the Docker host).
 */
async function dockerProxyCpuUs(port: number): Promise<number | undefined> {
  try {
    const out = await exec("ps", ["-C", "docker-proxy", "-o", "pid=,args="]);
    const line = out.split("\n").find((l) => l.includes(`-host-ip 127.0.0.1 `) && l.includes(`-host-port ${port} `));
    const pid = line?.trim().split(/\s+/)[0];
    return pid ? await processCpuUs(Number(pid)) : undefined;
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------------ HTTP

/** One GET on a new connection, timed to the response headers (the first byte). */
function timedGet(url: string, timeoutMs = 60_000): Promise<{ ms: number; status: number; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      const ms = performance.now() - started;
      res.resume();
      res.on("end", () => resolve({ ms, status: res.statusCode ?? 0, headers: res.headers }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

/** One HTTP GET: true on any answer, false while nothing answers yet. */
function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path: "/", agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

// ---------------------------------------------------------------------- phases

interface CpuPerRequest {
  router: number;
  container: number;
  proxy: number | undefined;
}

interface WarmSide {
  loaded: WrkResult;
  single: WrkResult;
  cpu: CpuPerRequest;
}

interface Warm {
  connections: number;
  seconds: number;
  router: WarmSide;
  direct: WarmSide;
  /** The router's CPU profile of one more run, with --profile. */
  profile?: string;
}

/** wrk at `connections` and at one connection, with the CPU that the router, the container and docker-proxy spent per request. */
async function warmSide(router: Router, url: string, container: { id: string; port: number }, connections: number, seconds: number): Promise<WarmSide> {
  const routerUs = async () => {
    const usage = await router.call<NodeJS.CpuUsage>("cpu");
    return usage.user + usage.system;
  };
  const before = { router: await routerUs(), container: await containerCpuUs(container.id), proxy: await dockerProxyCpuUs(container.port) };
  const loaded = await wrk(url, connections, seconds, interrupted.signal);
  const routerAfter = await routerUs();
  const containerUs = await containerCpuUs(container.id);
  const proxyUs = await dockerProxyCpuUs(container.port);
  const single = await wrk(url, 1, seconds, interrupted.signal);
  return {
    loaded,
    single,
    cpu: {
      router: (routerAfter - before.router) / loaded.requests,
      container: (containerUs - before.container) / loaded.requests,
      proxy: proxyUs === undefined || before.proxy === undefined ? undefined : (proxyUs - before.proxy) / loaded.requests,
    },
  };
}

async function warmPhase(router: Router, connections: number, seconds: number, profileDir: string | undefined): Promise<Warm> {
  const container = await runningContainer(router, WARM_FUNCTION);
  const direct = `http://127.0.0.1:${container.port}/`;
  const through = router.fnUrl(REPO, WARM_FUNCTION);
  progress(`warm: ${through} and ${direct}, ${connections} connections, then 1, ${seconds} s each`);
  // Warm-up: JIT on both sides, and the router's keep-alive sockets to the container.
  await wrk(direct, connections, WARMUP_SECONDS, interrupted.signal);
  await wrk(through, connections, WARMUP_SECONDS, interrupted.signal);
  const directSide = await warmSide(router, direct, container, connections, seconds);
  const routerSide = await warmSide(router, through, container, connections, seconds);
  progress(`warm: router ${Math.round(routerSide.loaded.rps)} req/s, direct ${Math.round(directSide.loaded.rps)} req/s`);
  if (profileDir) {
    // A run of its own, so the sampling does not touch the figures above.
    mkdirSync(profileDir, { recursive: true });
    const path = resolve(profileDir, `router-warm-${RUN}.cpuprofile`);
    await router.call("profile-start");
    await wrk(through, connections, seconds, interrupted.signal);
    await router.call("profile-stop", path);
    progress(`warm: the router's CPU profile is in ${path}`);
    return { connections, seconds, router: routerSide, direct: directSide, profile: path };
  }
  return { connections, seconds, router: routerSide, direct: directSide };
}

interface Cold {
  eserveless: number[];
  baseline: number[];
  /** eserveless' own figure (server-timing cold-start). */
  serverTiming: number[];
}

/**
 * `docker run -d -p 127.0.0.1:PORT:8080` of the image, timed until its port
 * answers HTTP; the container is removed after. The port is chosen before the
 * clock starts, as a user who runs a container picks one: no `docker port`
 * (one more CLI process) is timed, which eserveless does not pay either.
 */
async function baselineCold(image: string, env: Record<string, string>): Promise<number> {
  const envArgs = Object.entries(env).flatMap(([key, value]) => ["-e", `${key}=${value}`]);
  const port = await freePort();
  const started = performance.now();
  const id = (await docker("run", "-d", "--label", `${BENCH_LABEL}=${RUN}`, "--user", "65534:65534", "-p", `127.0.0.1:${port}:8080`, ...envArgs, image)).trim();
  try {
    const deadline = performance.now() + 30_000;
    while (!(await probe(port))) {
      if (performance.now() > deadline) throw new Error(`the baseline container never answered HTTP:\n${await docker("logs", id).catch(() => "")}`);
      await sleep(READY_POLL_MS);
    }
    return performance.now() - started;
  } finally {
    await docker("rm", "-f", id);
  }
}

async function coldPhase(router: Router, manifest: Manifest, samples: number, surprises: string[]): Promise<Cold> {
  const image = await router.call<string | null>("image", { repository: `${OWNER}/${REPO}`, name: COLD_FUNCTION });
  if (!image) throw new Error(`${COLD_FUNCTION} is not live`);
  // What eserveless gives the container (ContainerPool.start), so both sides run the same code path.
  const env = { ...containerEnvironment(httpFunction(manifest, COLD_FUNCTION), manifest), ESERVELESS_FUNCTION: COLD_FUNCTION, ESERVELESS_FUNCTION_TYPE: "http", PORT: "8080" };
  const url = router.fnUrl(REPO, COLD_FUNCTION);
  const cold: Cold = { eserveless: [], baseline: [], serverTiming: [] };
  const sides = {
    eserveless: async (sample: number) => {
      // The pool's idle path (idleTimeout: 1 in the manifest), not a docker rm behind its back.
      await untilNoContainer(router, COLD_FUNCTION);
      await sleep(SETTLE_MS);
      const answer = await timedGet(url);
      if (answer.status !== 200) throw new Error(`${url} answered ${answer.status}`);
      const timing = /cold-start;dur=(\d+)/.exec(String(answer.headers["server-timing"] ?? ""))?.[1];
      if (timing === undefined) surprises.push(`cold sample ${sample}: eserveless reports no cold start (server-timing), a container was already there`);
      else cold.serverTiming.push(Number(timing));
      cold.eserveless.push(answer.ms);
    },
    baseline: async () => {
      await sleep(SETTLE_MS);
      cold.baseline.push(await baselineCold(image, env));
    },
  };
  for (let sample = 1; sample <= samples; sample++) {
    // Alternating who goes first spreads drift over both sides.
    const order = sample % 2 === 1 ? (["eserveless", "baseline"] as const) : (["baseline", "eserveless"] as const);
    for (const side of order) {
      interrupted.signal.throwIfAborted();
      await sides[side](sample);
    }
    progress(`cold ${sample}/${samples}: eserveless ${Math.round(cold.eserveless.at(-1)!)} ms, docker run ${Math.round(cold.baseline.at(-1)!)} ms`);
  }
  return cold;
}

interface Paused {
  resume: number[];
  warm: number[];
  memory: { paused: ContainerMemory; running: ContainerMemory };
}

async function untilPaused(id: string, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await dockerApi.getContainer(id).inspect()).State.Paused) {
    interrupted.signal.throwIfAborted();
    if (performance.now() > deadline) throw new Error(`the container ${id.slice(0, 12)} was not paused within ${timeoutMs / 1000} s`);
    await sleep(50);
  }
}

async function pausedPhase(router: Router, samples: number, surprises: string[]): Promise<Paused> {
  // Over a Unix socket nothing is published: only the container's id is needed here.
  const { id } = await runningContainer(router, WARM_FUNCTION, { published: false });
  const url = router.fnUrl(REPO, WARM_FUNCTION);
  const resume: number[] = [];
  const warm: number[] = [];
  for (let sample = 1; sample <= samples; sample++) {
    await untilPaused(id);
    const first = await timedGet(url);
    // Well inside the idle second before the pool pauses it again, once the resumed container settled.
    await sleep(100);
    const second = await timedGet(url);
    if (first.status !== 200 || second.status !== 200) throw new Error(`${url} answered ${first.status}, then ${second.status}`);
    resume.push(first.ms);
    warm.push(second.ms);
    progress(`paused ${sample}/${samples}: resume ${first.ms.toFixed(1)} ms, then warm ${second.ms.toFixed(1)} ms`);
  }
  // The same container after the same requests: running and idle, then once the pool paused it again.
  const running = await containerMemory(id);
  if (running.paused) surprises.push("paused tier: the container was paused again before its running memory was read");
  await untilPaused(id);
  return { resume, warm, memory: { running, paused: await containerMemory(id) } };
}

// ------------------------------------------------------- as `npm start` runs it

/** Every `node dist/main.js` this run started, so that cleanup stops them and removes their containers and images. */
const servers: ServerProcess[] = [];

/** Builds dist/ as `npm run build` does, so the server processes run this checkout's code. */
async function buildDist(): Promise<void> {
  const started = performance.now();
  progress("building dist/ (tsc -p tsconfig.build.json)…");
  await exec(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", join(ROOT, "tsconfig.build.json")]);
  progress(`built dist/ in ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

/** `node dist/main.js` against the GitHub emulator, LOG_LEVEL as the bench's environment says or the server's default. */
async function startServer(emulator: GitHubEmulator, nodeArgs: string[] = [], env: Record<string, string> = {}): Promise<ServerProcess> {
  const server = await startServerProcess(
    ROOT,
    {
      APP_ID: String(emulator.appId),
      PRIVATE_KEY: emulator.privateKey,
      WEBHOOK_SECRET: emulator.webhookSecret,
      GITHUB_API_URL: emulator.url,
      // The bench's own ESERVELESS_* settings (ESERVELESS_SCALE_UP_AFTER_MS, say), LOG_LEVEL and DOCKER_HOST reach the server.
      ...Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && /^(ESERVELESS_(?!BENCH_)|LOG_LEVEL$|DOCKER_HOST$)/.test(e[0]))),
      ...testImages,
      ...env,
    },
    nodeArgs,
  );
  servers.push(server);
  return server;
}

const asTarget = (server: ServerProcess) => ({ url: server.url, info: { instance: server.instance } });

/** The one running container of `name`, waiting a little for the deployment's switch to settle. */
async function theContainer(server: ServerProcess, name: string): Promise<Docker.ContainerInspectInfo> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    const running = (await containersOf(asTarget(server), name)).filter((c) => c.State === "running");
    if (running.length === 1) return dockerApi.getContainer(running[0]!.Id).inspect();
    if (performance.now() > deadline) throw new Error(`expected one running ${name} container, found ${running.length}`);
    await sleep(200);
  }
}

// ------------------------------------------------------------------ peers phase

interface PathRuns {
  name: string;
  transport: string;
  loaded: WrkResult[];
  single: WrkResult[];
  /** CPU µs per request of the proxy's process in each loaded round; none for the direct path. */
  cpu: number[];
  /** CPU µs per request of the function's container in each loaded round (the direct path's own container). */
  functionCpu: number[];
  /** Share of the machine's CPU time left idle in each loaded round, 0–1. */
  idle: number[];
}

interface Peers {
  connections: number;
  rounds: number;
  seconds: number;
  upstream: Upstream;
  paths: { router: PathRuns; direct: PathRuns; go: PathRuns; nginx: PathRuns; node: PathRuns };
  /** Containers of the function the router ran at the end (the peers all reach the first one). */
  replicas: number;
  profile?: { path: string; window: [number, number] };
}

/**
 * The direct path: the container's own published port when the router reaches
 * it over TCP. When it reaches it over a Unix socket nothing is published, so
 * a second container of the same image, with the same environment, is
 * published on 127.0.0.1 for the bench only.
 */
async function directPath(info: Docker.ContainerInspectInfo, upstream: Upstream): Promise<{ url: string; transport: string; id: string }> {
  if (upstream.kind === "tcp") return { url: `http://${upstream.host}:${upstream.port}/`, transport: "tcp loopback (published port)", id: info.Id };
  // Listening on PORT instead of the socket: variables naming the socket are left out.
  const env = (info.Config.Env ?? []).filter((e) => !/SOCKET/i.test(e.split("=")[0]!) && !e.startsWith("PORT="));
  const args = ["run", "-d", "--label", `${BENCH_LABEL}=${RUN}`, "--user", info.Config.User || "65534:65534", "-p", "127.0.0.1::8080", "-e", "PORT=8080"];
  const id = (await docker(...args, ...env.flatMap((e) => ["-e", e]), info.Config.Image)).trim();
  const port = Number(/127\.0\.0\.1:(\d+)/.exec(await docker("port", id, "8080/tcp"))?.[1]);
  const deadline = performance.now() + 30_000;
  while (!(await probe(port))) {
    if (performance.now() > deadline) throw new Error(`the bench's published container never answered HTTP:\n${await docker("logs", id).catch(() => "")}`);
    await sleep(READY_POLL_MS);
  }
  return { url: `http://127.0.0.1:${port}/`, transport: "tcp loopback, a second container of the image published for the bench", id };
}

/** GET through every path: each must answer 200 with the same body, or the comparison means nothing. */
async function checkPaths(paths: Record<string, { url: string }>): Promise<void> {
  const bodies = new Map<string, string>();
  for (const [name, { url }] of Object.entries(paths)) {
    const response = await fetch(url);
    const body = await response.text();
    if (response.status !== 200) throw new Error(`${name} (${url}) answered ${response.status}: ${body.slice(0, 200)}`);
    bodies.set(name, body);
  }
  if (new Set(bodies.values()).size !== 1) throw new Error(`the paths answer different bodies: ${JSON.stringify(Object.fromEntries(bodies))}`);
}

async function peersPhase(emulator: GitHubEmulator, files: Files, o: Options): Promise<Peers> {
  const server = await startServer(emulator);
  progress(`peers: node dist/main.js (pid ${server.pid}) at ${server.url}; deploying test/fixtures/${FIXTURE}…`);
  const stops: Peer[] = [];
  try {
    await deploy(emulator, server, REPO, files);
    const info = await theContainer(server, DEFAULT_FUNCTION);
    const upstream = upstreamOf(info);
    if (!upstream) throw new Error(`the ${DEFAULT_FUNCTION} container ${info.Id.slice(0, 12)} has neither a socket in a bind mount nor a published 127.0.0.1 port`);
    progress(`peers: the router reaches ${DEFAULT_FUNCTION} (${info.Id.slice(0, 12)}) over ${describeUpstream(upstream)}; the peers use the same`);
    const direct = await directPath(info, upstream);
    const goBinary = await buildGoProxy(ROOT, tempDir("eserveless-bench-go-"));
    const go = await startGoProxy(goBinary, upstream);
    stops.push(go);
    const nginx = await startNginx(upstream);
    stops.push(nginx);
    const node = await startNodeProxy(ROOT, upstream);
    stops.push(node);
    const via = transportOf(upstream);
    const urls = {
      router: { url: `${server.url}/fn/${OWNER}/${REPO}/${DEFAULT_FUNCTION}/`, transport: `${via} (the router's own)`, label: "eserveless /fn/… (node dist/main.js)", pid: server.pid },
      direct: { url: direct.url, transport: direct.transport, label: "straight to the container", pid: undefined },
      go: { url: go.url, transport: via, label: "Go httputil.ReverseProxy", pid: go.pid },
      nginx: { url: nginx.url, transport: via, label: "nginx proxy_pass, keep-alive upstream", pid: nginx.pid },
      node: { url: node.url, transport: via, label: "minimal Node proxy (http.request + pipe)", pid: node.pid },
    };
    await checkPaths(urls);
    const names = Object.keys(urls) as (keyof typeof urls)[];
    const runs = (n: keyof typeof urls): PathRuns => ({ name: urls[n].label, transport: urls[n].transport, loaded: [], single: [], cpu: [], functionCpu: [], idle: [] });
    const paths: Peers["paths"] = { router: runs("router"), direct: runs("direct"), go: runs("go"), nginx: runs("nginx"), node: runs("node") };
    progress(`peers: warm-up, ${WARMUP_SECONDS} s per path`);
    for (const n of names) await wrk(urls[n].url, o.connections, WARMUP_SECONDS, interrupted.signal);
    for (let round = 1; round <= o.rounds; round++) {
      // Each round starts with another path, so drift in the machine's load spreads over all of them.
      const order = names.map((_, i) => names[(i + round - 1) % names.length]!);
      for (const connections of [o.connections, 1]) {
        for (const n of order) {
          const pid = urls[n].pid;
          // The direct path reaches a container of its own; every other path reaches the router's.
          const fnId = n === "direct" ? direct.id : info.Id;
          const cpuBefore = pid === undefined ? undefined : await processCpuUs(pid);
          const fnBefore = await containerCpuUs(fnId);
          const machineBefore = machineCpu();
          const result = await wrk(urls[n].url, connections, o.roundSeconds, interrupted.signal);
          const machineAfter = machineCpu();
          const fnAfter = await containerCpuUs(fnId);
          const cpuAfter = pid === undefined ? undefined : await processCpuUs(pid);
          (connections === 1 ? paths[n].single : paths[n].loaded).push(result);
          if (connections === 1) continue;
          if (cpuBefore !== undefined && cpuAfter !== undefined) paths[n].cpu.push((cpuAfter - cpuBefore) / result.requests);
          paths[n].functionCpu.push((fnAfter - fnBefore) / result.requests);
          paths[n].idle.push((machineAfter.idle - machineBefore.idle) / (machineAfter.total - machineBefore.total));
        }
      }
      progress(`peers round ${round}/${o.rounds}: ${names.map((n) => `${n} ${thousands(paths[n].loaded.at(-1)!.rps)}`).join(", ")} req/s`);
    }
    const replicas = (await containersOf(asTarget(server), DEFAULT_FUNCTION)).filter((c) => c.State === "running").length;
    let profile: Peers["profile"];
    if (o.profileDir) profile = await profilePeers(emulator, files, o, urls.router.url.slice(server.url.length));
    return { connections: o.connections, rounds: o.rounds, seconds: o.roundSeconds, upstream, paths, replicas, profile };
  } finally {
    for (const peer of stops) await peer.stop();
    await server.stop();
  }
}

/** Microseconds on the monotonic clock V8's profiler stamps its samples with. */
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/**
 * A CPU profile of the router under the peers phase's load: a second
 * `node --cpu-prof dist/main.js` (so sampling touches none of the figures),
 * one round at --connections; only the samples within that round are read.
 */
async function profilePeers(emulator: GitHubEmulator, files: Files, o: Options, fnPath: string): Promise<Peers["profile"]> {
  const dir = resolve(o.profileDir!);
  mkdirSync(dir, { recursive: true });
  const name = `router-peers-${RUN}.cpuprofile`;
  const server = await startServer(emulator, ["--cpu-prof", "--cpu-prof-dir", dir, "--cpu-prof-name", name, "--cpu-prof-interval", "200"]);
  try {
    await deploy(emulator, server, REPO, files);
    await theContainer(server, DEFAULT_FUNCTION);
    const url = `${server.url}${fnPath}`;
    await wrk(url, o.connections, WARMUP_SECONDS, interrupted.signal);
    const from = monotonicUs();
    await wrk(url, o.connections, o.roundSeconds, interrupted.signal);
    const to = monotonicUs();
    return { path: join(dir, name), window: [from, to] };
  } finally {
    // The profile is written as the process exits.
    await server.stop();
    progress(`peers: the router's CPU profile is in ${join(dir, name)}`);
  }
}

// ----------------------------------------------------------------- memory phase

/**
 * How long after the containers were reaped the gated RSS is read. A second
 * after, V8 still holds the garbage of deploying the 100 functions; its
 * memory reducer returns it once allocation stops for a few seconds (measured:
 * 116.7 MiB from 1 to 6 s, 85.8 from 10 s on), and that is what an operator
 * sees of an idle server.
 */
const SETTLE_SECONDS = 20;

interface Memory {
  functions: number;
  /** RSS of node dist/main.js, started, nothing deployed (median of samples over a second). */
  idle: number;
  /** After the peers phase's load through one function, with --functions more http functions deployed and their containers reaped (a second later). */
  loaded: number;
  /** The same, {@link SETTLE_SECONDS} later: V8's memory reducer has given the deployment's garbage back by then. */
  settled: number;
  /** Highest RSS sampled from start to the end. */
  peak: number;
  deploySeconds: number;
}

async function rssNow(server: ServerProcess, samples = 5): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < samples; i++) {
    values.push(server.rss() ?? 0);
    await sleep(200);
  }
  return median(values);
}

async function memoryPhase(emulator: GitHubEmulator, files: Files, o: Options): Promise<Memory> {
  // Room for the many functions: one project of --functions, each deployment starting one container of each.
  const room = o.functions + 10;
  const server = await startServer(emulator, [], {
    ESERVELESS_MAX_FUNCTIONS: String(Math.max(room, 10)),
    ESERVELESS_MAX_CONTAINERS: String(room * 2),
    ESERVELESS_MEMORY_BUDGET: `${room * 2}g`,
    // A /26 holds 61 containers of one project; a /24, 253.
    ESERVELESS_NETWORK_SIZE: "24",
  });
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, server.rss() ?? 0)), 100);
  try {
    await sleep(1000);
    const idle = await rssNow(server);
    progress(`memory: node dist/main.js RSS idle ${mib(idle)} MiB; load through ${DEFAULT_FUNCTION}, then ${o.functions} http functions…`);
    await deploy(emulator, server, REPO, files);
    await theContainer(server, DEFAULT_FUNCTION);
    const url = `${server.url}/fn/${OWNER}/${REPO}/${DEFAULT_FUNCTION}/`;
    await wrk(url, o.connections, o.roundSeconds, interrupted.signal);
    await wrk(url, 1, Math.min(o.roundSeconds, 3), interrupted.signal);
    const started = performance.now();
    if (o.functions > 0) {
      await deploy(emulator, server, MANY_REPO, manyFunctions(o.functions), DEPLOY_TIMEOUT_MS + o.functions * 10_000);
      // Each has idleTimeout: 1; the server's own reaper removes their containers.
      const deadline = performance.now() + 60_000 + o.functions * 2000;
      while ((await containersOf(asTarget(server))).some((c) => /^F\d+$/.test(c.Labels[`${LABEL}.function`] ?? ""))) {
        interrupted.signal.throwIfAborted();
        if (performance.now() > deadline) throw new Error("the many functions' containers were not reaped in time");
        await sleep(500);
      }
    }
    const deploySeconds = (performance.now() - started) / 1000;
    await sleep(1000);
    const loaded = await rssNow(server);
    progress(`memory: RSS ${mib(loaded)} MiB right after; once settled (${SETTLE_SECONDS} s later)…`);
    await sleep(SETTLE_SECONDS * 1000 - 1000);
    return { functions: o.functions, idle, loaded, settled: await rssNow(server), peak, deploySeconds };
  } finally {
    clearInterval(sampler);
    await server.stop();
  }
}

// ---------------------------------------------------------------------- report

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
const fixed = (value: number, digits: number) => value.toFixed(digits);
const thousands = (value: number) => Math.round(value).toLocaleString("en-US");
const signed = (value: number, digits = 2) => `${value >= 0 ? "+" : "−"}${Math.abs(value).toFixed(digits)}`;
const spread = (values: number[], digits = 0) => {
  const { median: m, min, max } = summary(values);
  return `${m.toFixed(digits)} (${min.toFixed(digits)}–${max.toFixed(digits)})`;
};
/** Median, and the range across rounds when there are several. */
const ranged = (values: number[], format: (n: number) => string) => {
  const { median: m, min, max } = summary(values);
  return values.length > 1 ? `${format(m)} (${format(min)}–${format(max)})` : format(m);
};
const verdict = (ok: boolean) => (ok ? "PASS" : "MISS");

/** Rows as a table: the first column left-aligned, the others right-aligned, a rule under the header. */
function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0)));
  const line = (row: string[]) => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join("   ").trimEnd();
  return [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("   "), ...rows.slice(1).map(line)];
}

const rpsOf = (runs: WrkResult[]) => median(runs.map((r) => r.rps));
const p50Of = (runs: WrkResult[]) => median(runs.map((r) => r.p50));

/** One goal line; `gate` goals make the bench exit non-zero when they fail. */
interface Goal {
  text: string;
  ok: boolean;
  gate?: boolean;
}

function recommendation(paused: Paused, cold: Cold): string {
  const resume = median(paused.resume);
  const warm = median(paused.warm);
  const coldP50 = median(cold.eserveless);
  const saved = 1 - paused.memory.paused.cgroup / paused.memory.running.cgroup;
  const cost = `${signed(resume - warm, 1)} ms on the first request to a paused container`;
  if (resume >= coldP50 / 2) return `keep pausing off: a resume (${resume.toFixed(1)} ms) is not much faster than a cold start (${coldP50.toFixed(0)} ms)`;
  if (saved < 0.2) {
    return `keep pausing off by default: a paused container holds the memory of a running one (${mib(paused.memory.paused.cgroup)} vs ${mib(paused.memory.running.cgroup)} MiB) and costs ${cost}; it only saves the idle CPU of functions with timers, so leave it opt-in`;
  }
  return `enable pausing by default: it frees ${(saved * 100).toFixed(0)}% of an idle container's memory for ${cost}, and a resume is ${(coldP50 / resume).toFixed(0)}× faster than a cold start`;
}

function peersReport(p: Peers, goals: Goal[]): string[] {
  const router = p.paths.router;
  const rows = (which: "loaded" | "single") =>
    Object.values(p.paths).map((path) => [
      path.name,
      path.transport,
      ranged(path[which].map((r) => r.rps), thousands),
      ranged(path[which].map((r) => r.p50), (n) => n.toFixed(2)),
      ranged(path[which].map((r) => r.p99), (n) => n.toFixed(2)),
      path === router ? "—" : (rpsOf(router[which]) / rpsOf(path[which])).toFixed(2),
      ...(which === "loaded"
        ? [
            path.cpu.length > 0 ? ranged(path.cpu, (n) => n.toFixed(0)) : "n/a",
            ranged(path.functionCpu, (n) => n.toFixed(0)),
            ranged(path.idle, (n) => `${(n * 100).toFixed(0)}%`),
          ]
        : []),
    ]);
  const header = (connections: number) => [
    `path, ${connections} connection${connections === 1 ? "" : "s"}`,
    "transport",
    "req/s",
    "p50 ms",
    "p99 ms",
    "router ÷ it",
    // Less noisy than req/s on a shared machine: what the proxy's own process spent per request (user + system),
    // what the function's container spent, and how much of the 2 cores nobody used (a proxy that cannot keep
    // both busy leaves throughput on the table however little it spends).
    ...(connections === 1 ? [] : ["CPU µs/req", "function µs/req", "machine idle"]),
  ];
  const direct = p.paths.direct;
  const added = (path: PathRuns, which: "loaded" | "single") => p50Of(path[which]) - p50Of(direct[which]);
  const peers = [p.paths.router, p.paths.go, p.paths.nginx, p.paths.node];
  const errors = Object.values(p.paths).flatMap((path) => [...path.loaded, ...path.single].filter((r) => r.errors > 0).map((r) => `${path.name}: ${r.errors} errors or non-2xx`));
  const vsGo = rpsOf(router.loaded) / rpsOf(p.paths.go.loaded);
  const vsNode = rpsOf(router.loaded) / rpsOf(p.paths.node.loaded);
  goals.push(
    { text: `router throughput at ${p.connections} connections ≥ ${GOALS.vsGo.toFixed(1)}× Go's httputil.ReverseProxy: ${vsGo.toFixed(2)}×`, ok: vsGo >= GOALS.vsGo },
    { text: `router throughput at ${p.connections} connections ≥ ${GOALS.vsNode.toFixed(1)}× the minimal Node proxy: ${vsNode.toFixed(2)}×`, ok: vsNode >= GOALS.vsNode },
    {
      text: `added p50 at ${p.connections} connections ≤ Go's: router ${signed(added(router, "loaded"))} ms, Go ${signed(added(p.paths.go, "loaded"))} ms`,
      ok: added(router, "loaded") <= added(p.paths.go, "loaded"),
    },
    { text: `added p50 at 1 connection ≤ ${GOALS.singleAddedMs} ms: ${signed(added(router, "single"))} ms`, ok: added(router, "single") <= GOALS.singleAddedMs },
  );
  return [
    `peers: ${p.rounds} interleaved round${p.rounds === 1 ? "" : "s"} of ${p.seconds} s per path and connection count; median (min–max) across rounds; every path reaches the same container of ${DEFAULT_FUNCTION} (manifest defaults)`,
    `the router reaches it over ${describeUpstream(p.upstream)}; at the end the router ran ${p.replicas} container${p.replicas === 1 ? "" : "s"} of it`,
    "",
    ...table([header(p.connections), ...rows("loaded")]),
    "",
    ...table([header(1), ...rows("single")]),
    "",
    `added p50 versus direct, ms: ${peers.map((path) => `${path.name.split(" (")[0]!.split(",")[0]} ${signed(added(path, "loaded"))} at ${p.connections}, ${signed(added(path, "single"))} at 1`).join("; ")}`,
    ...(errors.length > 0 ? [`Warning: ${errors.join("; ")}`] : []),
    ...(p.replicas > 1 ? [`Warning: the router ran ${p.replicas} containers of ${DEFAULT_FUNCTION} while the peers reached one`] : []),
    "",
  ];
}

function warmReport(warm: Warm): string[] {
  const cpu = (side: WarmSide) =>
    `${fixed(side.cpu.router, 0)} router + ${fixed(side.cpu.container, 0)} container + ${side.cpu.proxy === undefined ? "n/a" : fixed(side.cpu.proxy, 0)} docker-proxy`;
  return [
    ...table([
      [`warm, under tsx, tcp transport (${WARM_FUNCTION}, ${warm.connections} connections)`, "router", "direct", "router vs direct"],
      ["throughput, req/s", thousands(warm.router.loaded.rps), thousands(warm.direct.loaded.rps), `${(warm.router.loaded.rps / warm.direct.loaded.rps).toFixed(2)}×`],
      ["latency p50, ms", fixed(warm.router.loaded.p50, 2), fixed(warm.direct.loaded.p50, 2), `${signed(warm.router.loaded.p50 - warm.direct.loaded.p50)} ms`],
      ["latency p99, ms", fixed(warm.router.loaded.p99, 2), fixed(warm.direct.loaded.p99, 2), `${signed(warm.router.loaded.p99 - warm.direct.loaded.p99)} ms`],
      ["warm (1 connection)", "", "", ""],
      ["throughput, req/s", thousands(warm.router.single.rps), thousands(warm.direct.single.rps), `${(warm.router.single.rps / warm.direct.single.rps).toFixed(2)}×`],
      ["latency p50, ms", fixed(warm.router.single.p50, 2), fixed(warm.direct.single.p50, 2), `${signed(warm.router.single.p50 - warm.direct.single.p50)} ms`],
      ["latency p99, ms", fixed(warm.router.single.p99, 2), fixed(warm.direct.single.p99, 2), `${signed(warm.router.single.p99 - warm.direct.single.p99)} ms`],
    ]),
    `CPU µs per request at ${warm.connections} connections: through the router ${cpu(warm.router)}; direct ${cpu(warm.direct)}`,
    "",
  ];
}

function coldReport(cold: Cold, goals: Goal[]): string[] {
  const ratio = median(cold.eserveless) / median(cold.baseline);
  goals.push({ text: `cold start ≤ ${GOALS.cold.toFixed(1)}× docker run until the port answers: ${ratio.toFixed(2)}×`, ok: ratio <= GOALS.cold });
  return [
    ...table([
      ["cold: time to first byte, ms", "eserveless", "docker run", "eserveless/baseline"],
      ["median (min–max)", spread(cold.eserveless), spread(cold.baseline), `${ratio.toFixed(2)}×`],
    ]),
    `eserveless' own cold-start figure (server-timing): ${cold.serverTiming.length > 0 ? spread(cold.serverTiming) : "none"} ms`,
    "",
  ];
}

function pausedReport(paused: Paused, cold: Cold | undefined, goals: Goal[]): string[] {
  const resume = median(paused.resume);
  goals.push({ text: `paused resume ≤ ${GOALS.resumeMs} ms (about 16 ms when set): ${resume.toFixed(1)} ms`, ok: resume <= GOALS.resumeMs });
  return [
    ...table([
      ["paused tier (ESERVELESS_PAUSE_AFTER=1), ms", "median (min–max)", "vs resume"],
      ["resume: request to a paused container", spread(paused.resume, 1), ""],
      ["warm: the next request, same container", spread(paused.warm, 1), `${signed(resume - median(paused.warm), 1)} ms`],
      ...(cold ? [["cold: no container (above)", spread(cold.eserveless, 0), `${(median(cold.eserveless) / resume).toFixed(1)}× slower`]] : []),
    ]),
    `memory of the ${WARM_FUNCTION} container: paused ${mib(paused.memory.paused.cgroup)} MiB (cgroup, as docker stats), main process RSS ${paused.memory.paused.rss === undefined ? "n/a" : mib(paused.memory.paused.rss)} MiB; running idle ${mib(paused.memory.running.cgroup)} MiB, RSS ${paused.memory.running.rss === undefined ? "n/a" : mib(paused.memory.running.rss)} MiB`,
    ...(cold ? [`Recommendation: ${recommendation(paused, cold)}`] : []),
    "",
  ];
}

function memoryReport(m: Memory, goals: Goal[]): string[] {
  goals.push(
    { text: `server RSS idle < ${GOALS.idleRssMiB} MiB (node dist/main.js): ${mib(m.idle)} MiB`, ok: m.idle < GOALS.idleRssMiB * 2 ** 20, gate: true },
    {
      text: `server RSS after load with ${m.functions} http functions deployed < ${GOALS.loadedRssMiB} MiB, settled (${SETTLE_SECONDS} s after): ${mib(m.settled)} MiB (${mib(m.loaded)} a second after)`,
      ok: m.settled < GOALS.loadedRssMiB * 2 ** 20,
      gate: true,
    },
  );
  return [
    ...table([
      ["server process memory (as npm start runs it), MiB", "RSS"],
      ["idle, nothing deployed", mib(m.idle)],
      [`after load through ${DEFAULT_FUNCTION}, ${m.functions} http functions deployed, their containers reaped: a second after`, mib(m.loaded)],
      [`the same, settled (${SETTLE_SECONDS} s after)`, mib(m.settled)],
      ["peak, sampled every 100 ms", mib(m.peak)],
    ]),
    `deploying the ${m.functions} and reaping their containers took ${m.deploySeconds.toFixed(0)} s`,
    "",
  ];
}

/**
 * Where the router's time goes, by self time: the suspects of issue 11 first
 * (each frame goes to the first group whose rule matches its function or
 * module), then everything else by module.
 */
const PROFILE_GROUPS: [string, (fn: string, module: string) => boolean][] = [
  ["garbage collection", (fn) => fn === "(garbage collector)"],
  // node:fs: sonic-boom's synchronous write of each line; the router writes no other file per request.
  ["pino (the per-request log line)", (_, m) => m === "node:fs" || /^(pino|sonic-boom|thread-stream|fast-redact|pino-std-serializers|quick-format-unescaped|atomic-sleep|on-exit-leak-free|safe-stable-stringify)/.test(m)],
  ["metrics (prom-client)", (_, m) => /^(prom-client|tdigest|bintrees)/.test(m) || /metrics/i.test(m)],
  ["invocation log", (_, m) => /invocation/i.test(m)],
  ["URL parsing", (fn, m) => /^(URL|parse|URLContext|getPath|getQueryStrings?|parseURL|new URL)$/.test(fn) || m === "node:url"],
  ["header copies", (fn, m) => /[Hh]eaders?|setHeader|getHeader|appendHeader|processHeader|checkIsHttpToken|checkInvalidHeaderChar|validateHeader/.test(fn) && !/write/i.test(fn) && (m.startsWith("node:") || m.includes("hono") || m.startsWith("src/"))],
  ["hono routing and context", (_, m) => /^(hono|@hono\/)/.test(m)],
  ["socket writes and reads (native, net, stream)", (fn, m) => /^(writev|writeBuffer|writeUtf8String|writeLatin1String|writeGeneric|_writeGeneric|onStreamRead|readStart|readStop)$/.test(fn) || /^node:(net|stream|streams)/.test(m) || (m === "(native)" && /write|read|shutdown/i.test(fn))],
  ["node http (parser, outgoing, agent)", (_, m) => /^node:(http|_http|http_)/.test(m) || m === "node:http" || /_http_/.test(m)],
  ["eserveless code", (_, m) => m.startsWith("src/") || m.startsWith("dist/")],
];

/** The busiest groups, modules and functions of a CPU profile, by self time, as a share of the non-idle time within `window` (monotonic µs). */
function printProfile(path: string, window?: [number, number]): void {
  interface Node {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }
  const profile = JSON.parse(readFileSync(path, "utf8")) as { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number };
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parents = new Map<number, Node>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node);
  // Samples taken while the profiler itself started or stopped are not the router's.
  const excluded = new Set<number>();
  const exclude = (node: Node) => {
    excluded.add(node.id);
    for (const child of node.children ?? []) exclude(nodes.get(child)!);
  };
  for (const node of profile.nodes) if (/^profile-(start|stop)$/.test(node.callFrame.functionName)) exclude(node);
  const self = new Map<number, number>();
  let at = profile.startTime;
  let inWindow = 0;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (window && (at < window[0] || at > window[1])) return;
    inWindow++;
    if (!excluded.has(id)) self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  if (window && inWindow === 0) {
    progress("warning: no profile sample falls within the load's window (clocks differ?); reading the whole profile");
    return printProfile(path);
  }
  const where = (url: string) => {
    if (url.startsWith("node:")) return `node:${url.slice(5).replace(/^internal\//, "").split("/")[0]!.replace(/^_/, "")}`;
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
    if (pkg) return pkg;
    const file = url.replace(/^file:\/\//, "");
    return file.startsWith(ROOT) ? relative(ROOT, file) : file;
  };
  const byGroup = new Map<string, number>();
  const byModule = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of self) {
    const frame = nodes.get(id)!.callFrame;
    if (frame.functionName === "(idle)") continue;
    busy += us;
    // Frames without a script are V8 and native code: socket writes, SQLite, GC.
    const module = frame.url ? where(frame.url) : frame.functionName.startsWith("(") ? frame.functionName : "(native)";
    byModule.set(module, (byModule.get(module) ?? 0) + us);
    // Native code (a socket write, say) is named after the module that called it: pino's writes are pino's.
    let caller = parents.get(id);
    while (caller && !caller.callFrame.url && parents.has(caller.id)) caller = parents.get(caller.id);
    const from = !frame.url && caller?.callFrame.url ? where(caller.callFrame.url) : undefined;
    const fn = frame.url ? `${frame.functionName || "(anonymous)"} ${module}` : `${frame.functionName}${from ? ` ← ${from}` : ""}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    const rule = ([, matches]: (typeof PROFILE_GROUPS)[number]) => matches(frame.functionName, module) || (from !== undefined && matches(frame.functionName, from));
    const group = (from && PROFILE_GROUPS.slice(1).find(([, matches]) => matches("", from))?.[0]) || PROFILE_GROUPS.find(rule)?.[0] || `other: ${module}`;
    byGroup.set(group, (byGroup.get(group) ?? 0) + us);
  }
  const top = (map: Map<string, number>, n: number) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => [name, `${((us / busy) * 100).toFixed(1)}%`]);
  const out = [
    "",
    `Router CPU profile (${path}), self time as a share of ${(busy / 1e6).toFixed(1)} s busy${window ? ` within the ${((window[1] - window[0]) / 1e6).toFixed(0)} s load` : ""}:`,
    "",
    ...table([["group", "self"], ...top(byGroup, 16)]),
    "",
    ...table([["module", "self"], ...top(byModule, 12)]),
    "",
    ...table([["function", "self"], ...top(byFunction, 25)]),
    "",
  ];
  process.stdout.write(out.join("\n"));
}

// ------------------------------------------------------------------------ main

const PHASES = ["peers", "warm", "cold", "paused", "memory"] as const;
type Phase = (typeof PHASES)[number];
type Options = ReturnType<typeof readOptions>;

function readOptions() {
  const { values } = parseArgs({
    options: {
      rounds: { type: "string", default: "3" },
      "round-seconds": { type: "string", default: "8" },
      only: { type: "string", default: PHASES.join(",") },
      duration: { type: "string", default: "10" },
      connections: { type: "string", default: "50" },
      samples: { type: "string", default: "10" },
      functions: { type: "string", default: String(MAX_FUNCTIONS) },
      profile: { type: "string" },
    },
    strict: true,
  });
  const whole = (name: Exclude<keyof typeof values, "profile" | "only">, min: number, max = Number.MAX_SAFE_INTEGER) => {
    const value = Number(values[name]);
    if (!Number.isInteger(value) || value < min || value > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}, got ${values[name]}`);
    return value;
  };
  const only = values.only.split(",").map((p) => p.trim());
  const unknown = only.filter((p) => !(PHASES as readonly string[]).includes(p));
  if (unknown.length > 0 || only.length === 0) throw new Error(`--only takes phases from ${PHASES.join(", ")} (comma-separated), got ${values.only}`);
  return {
    phases: new Set(only as Phase[]),
    rounds: whole("rounds", 1, 20),
    roundSeconds: whole("round-seconds", 1, 600),
    duration: whole("duration", 1),
    connections: whole("connections", 1, 10_000),
    samples: whole("samples", 1),
    functions: whole("functions", 0, MAX_FUNCTIONS),
    profileDir: values.profile,
  };
}

async function main(): Promise<void> {
  const o = readOptions();
  await docker("info", "--format", "{{.ServerVersion}}").catch((cause: Error) => {
    throw new Error("Docker is not reachable: start the engine or set DOCKER_HOST", { cause });
  });
  if (!(await docker("image", "inspect", BASE_IMAGE).then(() => true, () => false))) {
    throw new Error(`the base image ${BASE_IMAGE} (ESERVELESS_NODE_IMAGE) is not on this Docker host; build it with npm run images`);
  }
  const wrkVersion = await wrkBanner();
  const files = readFixture(FIXTURE);
  const manifest = await manifestOf(files);
  const concurrency = httpFunction(manifest, WARM_FUNCTION).concurrency;
  if (o.phases.has("warm") && o.connections > concurrency) {
    throw new Error(`--connections ${o.connections} is more than ${WARM_FUNCTION}'s concurrency (${concurrency}): the router would queue or start replicas the direct run does not have`);
  }
  httpFunction(manifest, DEFAULT_FUNCTION);
  if (o.phases.has("peers") || o.phases.has("memory")) await buildDist();

  const emulator = await startGitHubEmulator();
  emulator.addRepository({ owner: OWNER, name: REPO });
  emulator.addRepository({ owner: OWNER, name: MANY_REPO });
  // Once only: a second Ctrl-C kills the bench at once, leaving its containers (labelled) behind.
  process.once("SIGINT", () => {
    progress("interrupted: finishing the current step, then cleaning up (Ctrl-C again to quit at once)");
    interrupted.abort();
  });

  const surprises: string[] = [];
  const goals: Goal[] = [];
  // Each phase's section is printed as soon as it is done, so a later failure loses nothing.
  const out = {
    push: (...lines: string[]) => {
      process.stdout.write(lines.map((l) => `${l}\n`).join(""));
    },
  };
  const loadStart = loadavg()[0]!;
  let profile: { path: string; window?: [number, number] } | undefined;
  /** Runs a phase; a failure is reported and the next phase runs. */
  const phase = async (name: string, run: () => Promise<void>) => {
    try {
      await run();
    } catch (error) {
      if (interrupted.signal.aborted) throw error;
      progress(`phase ${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      surprises.push(`the ${name} phase failed: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`);
      process.exitCode = 1;
    }
  };
  out.push(
    "",
    `Invoke benchmark: test/fixtures/${FIXTURE} on ${BASE_IMAGE}, ${cpus().length} CPUs, ${wrkVersion} (1 thread, keep-alive), load average ${loadStart.toFixed(1)} at start; phases: ${[...o.phases].join(", ")}; the server runs as npm start does: node ${[...startFlags(ROOT), "dist/main.js"].join(" ")}`,
    "",
  );
  try {
    if (o.phases.has("peers")) {
      await phase("peers", async () => {
        const peers = await peersPhase(emulator, files, o);
        out.push(...peersReport(peers, goals));
        profile = peers.profile;
      });
    }
    let cold: Cold | undefined;
    if (o.phases.has("warm")) await phase("warm", async () => {
      // Over tcp: this phase splits CPU per request among the router, docker-proxy and the container's published port.
      const first = await startRouter("warm", emulator, { ESERVELESS_TRANSPORT: "tcp" });
      progress(`deploying test/fixtures/${FIXTURE} to ${first.url} (under tsx, ESERVELESS_TRANSPORT=tcp)…`);
      await deploy(emulator, first, REPO, files);
      const warm = await warmPhase(first, o.connections, o.duration, o.phases.has("peers") ? undefined : o.profileDir);
      for (const side of ["router", "direct"] as const) {
        for (const run of ["loaded", "single"] as const) {
          if (warm[side][run].errors > 0) surprises.push(`warm ${side} (${run === "single" ? 1 : o.connections} connections): ${warm[side][run].errors} errors or non-2xx answers`);
        }
      }
      out.push(...warmReport(warm));
      if (warm.profile) profile ??= { path: warm.profile };
      await first.stop();
    });
    if (o.phases.has("cold")) await phase("cold", async () => {
      // The default transport, as users get it.
      const first = await startRouter("cold", emulator);
      progress(`deploying test/fixtures/${FIXTURE} to ${first.url} (under tsx)…`);
      await deploy(emulator, first, REPO, files);
      cold = await coldPhase(first, manifest, o.samples, surprises);
      out.push(...coldReport(cold, goals));
      await first.stop();
    });
    if (o.phases.has("paused")) {
      await phase("paused", async () => {
        const pausing = await startRouter("paused", emulator, { ESERVELESS_PAUSE_AFTER: "1" });
        progress(`paused: deploying test/fixtures/${FIXTURE} to ${pausing.url} with ESERVELESS_PAUSE_AFTER=1…`);
        await deploy(emulator, pausing, REPO, files);
        out.push(...pausedReport(await pausedPhase(pausing, o.samples, surprises), cold, goals));
        await pausing.stop();
      });
    }
    // Before the memory phase, whose container starts load the machine themselves.
    const loadEnd = loadavg()[0]!;
    if (o.phases.has("memory")) {
      await phase("memory", async () => out.push(...memoryReport(await memoryPhase(emulator, files, o), goals)));
      if (!goals.some((g) => g.gate)) goals.push({ text: "server RSS: not measured (the memory phase failed)", ok: false, gate: true });
    }

    const failedGates = goals.filter((g) => g.gate && !g.ok);
    process.stdout.write(
      [
        `load average ${loadEnd.toFixed(1)} before the memory phase, ${loadavg()[0]!.toFixed(1)} at the end`,
        "",
        "Goals (issue 11):",
        ...goals.map((g) => `  ${g.gate && !g.ok ? "FAIL" : verdict(g.ok)}  ${g.text}${g.gate ? " [gate]" : ""}`),
        ...(surprises.length > 0 ? ["", "Warning: some measurements are suspect:", ...surprises.map((s) => `  - ${s}`)] : []),
        ...(failedGates.length > 0 ? ["", `FAIL: ${failedGates.length} gate${failedGates.length === 1 ? "" : "s"} failed (server RSS); the bench exits 2`] : []),
        "",
      ].join("\n"),
    );
    if (profile) printProfile(profile.path, profile.window);
    if (failedGates.length > 0) process.exitCode = 2;
  } finally {
    await cleanup();
    await emulator.close();
  }
}

/** Stops the routers and servers, then removes anything left of this run (their containers, images and networks, the bench's own containers), by label. */
async function cleanup(): Promise<void> {
  progress("cleaning up…");
  for (const router of routers) {
    await router.stop().catch((error: Error) => progress(`warning: stopping router ${router.name}: ${error.message}`));
  }
  for (const server of servers) await server.stop().catch((error: Error) => progress(`warning: stopping a server: ${error.message}`));
  const instances = [...routers.flatMap((r) => (r.info ? [r.info.instance] : [])), ...servers.map((s) => s.instance)];
  const labels = [`${BENCH_LABEL}=${RUN}`, ...instances.map((instance) => `${LABEL}.instance=${instance}`)];
  for (const label of labels) await removeContainersLabelled(label).catch((error: Error) => progress(`warning: ${error.message}`));
  for (const label of labels.slice(1)) await removeImagesLabelled(label).catch((error: Error) => progress(`warning: ${error.message}`));
  for (const label of labels.slice(1)) await removeNetworksLabelled(label).catch((error: Error) => progress(`warning: ${error.message}`));
  // Their DATA_DIRs (SQLite, keys, logs) unless asked to keep them.
  if (!process.env.ESERVELESS_BENCH_KEEP_DATA) for (const server of servers) rmSync(server.dataDir, { recursive: true, force: true });
}

if (process.env[ROLE_VARIABLE] === "router") {
  void serveRouter();
} else {
  runBench(main, interrupted.signal);
}
