/**
 * Runtimes benchmark: the node and golang runtimes side by side, on the same
 * machine in one run: the size of a function's image, how long its builds
 * take, and how long its container takes to answer its first request.
 *
 *   npm run bench:runtimes -- --runs 3 --samples 10     (or: npx tsx bench/runtimes.ts …)
 *
 * Per runtime, with test/fixtures/node-hello and test/fixtures/go-hello:
 *   image size   the final image of the function, as `docker image inspect` counts it
 *   first build  on a fresh labelled child of the base image, so no step comes from the cache
 *   code-only    the median of --runs builds that only change the function's code
 *   cold start   the median of --samples times from creating a container of the
 *                image, sandboxed and configured as eserveless' pool does, to its
 *                first HTTP answer
 *
 * Builds go through eserveless' own build path (createBuildContext and
 * buildImage from src/image, the classic builder, the same build argument),
 * not through a push: the time is the build's alone, without fetching the
 * source, and no eserveless instance runs (starting one removes other
 * people's function containers on a shared engine). Results go to stdout,
 * progress to stderr. See bench/README.md for what is and is not measured.
 */
import Docker from "dockerode";
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { join } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createBuildContext, loadRuntimeTemplates, type RuntimeTemplate } from "../src/image/build-context.js";
import { buildImage, type BuiltImage } from "../src/image/build-image.js";
import { containerEnvironment } from "../src/manifest/function-environment.js";
import type { HttpFunctionSpec, Manifest } from "../src/manifest/manifest-schema.js";
import { readManifest } from "../src/manifest/read-manifest.js";
import { waitUntilReady } from "../src/run/readiness.js";
import { CONTAINER_PORT, LABEL, sandboxedContainer } from "../src/run/sandbox.js";
import { SourceTree } from "../src/source/extract-tarball.js";
import { readFixture } from "../test/support/fixtures.js";
import { testImages } from "../test/support/start-eserveless.js";
import { exec, progress, runBench } from "./support/exec.js";
import { median, summary } from "./support/summary.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
type Runtime = "node" | "golang";
const RUNTIMES: Runtime[] = ["node", "golang"];

interface RuntimeSetup {
  fixture: string;
  /** The file whose version constant a code-only change rewrites. */
  codeFile: string;
  baseImage: string;
  /** The --only argument of scripts/build-base-images.sh that builds the stand-in. */
  standIn: string;
  /** Recognises the dependency step in the build output. */
  depsStep: (step: string) => boolean;
}

const SETUP: Record<Runtime, RuntimeSetup> = {
  node: {
    fixture: "node-hello",
    codeFile: "functions.js",
    baseImage: testImages.ESERVELESS_NODE_IMAGE,
    standIn: "node",
    depsStep: (step) => step.includes("install-deps.sh"),
  },
  golang: {
    fixture: "go-hello",
    codeFile: "functions.go",
    baseImage: testImages.ESERVELESS_GO_IMAGE,
    standIn: "go",
    depsStep: (step) => step.includes('build.sh", "deps"'),
  },
};

/** The http function of both fixtures. */
const FUNCTION = "API";
/**
 * Set, with a value unique to this run, on the bench's base images (from
 * which the build stages inherit it), on every image it builds (an appended
 * LABEL: the Go image's final stage starts from scratch) and on every
 * container it starts. The cleanup removes what carries this run's value and
 * nothing else. A key of its own: bench/deploy.ts removes everything labelled
 * `dev.eserveless.bench`, whoever runs it.
 */
const BENCH_LABEL = `${LABEL}.bench.runtimes`;
const RUN = randomBytes(3).toString("hex");
const RUN_LABEL = `${BENCH_LABEL}=${RUN}`;
const BASE_REPOSITORY = "eserveless-bench/runtimes-base";

const COLD_START_GOAL = 1.2;
/** 20 × 10^6 bytes, as `docker image ls` counts MB (the golang runtime test allows 20 MiB). */
const GO_SIZE_GOAL_BYTES = 20_000_000;
/** The interval of eserveless' readiness probe, which this bench uses as is. */
const READY_POLL_MS = 5;
const READY_TIMEOUT_MS = 30_000;

/** Ctrl-C stops the bench between steps rather than mid-step, so that cleanup finds what a build made. */
const interrupted = new AbortController();

type Files = Record<string, { content: Buffer; mode: number }>;

interface Build {
  ms: number;
  built: BuiltImage;
}

interface Result {
  image: string;
  sizeBytes: number;
  first: Build;
  code: Build[];
  coldStartMs: number[];
}

// ------------------------------------------------------------------ processes



const dockerCli = (...args: string[]) => exec("docker", args);

/** References of this run's images: tags where there are, ids for untagged ones (the Go build stage's). */
async function runImages(): Promise<string[]> {
  const out = await dockerCli("image", "ls", "--filter", `label=${RUN_LABEL}`, "--format", "{{.ID}} {{.Repository}}:{{.Tag}}");
  return out
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [id = "", ref = ""] = line.split(" ");
      return ref.includes("<none>") ? id : ref;
    });
}

/**
 * Removes every container and image of this run: containers first, as they
 * pin their images, then the built images (which takes their untagged
 * parents along), and the bases last, once nothing is built on them.
 */
async function removeRunArtifacts(): Promise<void> {
  const containers = (await dockerCli("ps", "-aq", "--filter", `label=${RUN_LABEL}`)).split("\n").filter(Boolean);
  if (containers.length > 0) await dockerCli("rm", "-f", ...containers);
  const images = await runImages();
  const built = images.filter((ref) => !ref.startsWith(`${BASE_REPOSITORY}:`));
  const bases = images.filter((ref) => ref.startsWith(`${BASE_REPOSITORY}:`));
  for (const refs of [built, bases]) {
    if (refs.length > 0) await dockerCli("image", "rm", ...refs).catch((error: Error) => progress(`warning: ${error.message}`));
  }
  const left = await dockerCli("image", "ls", "-a", "-q", "--filter", `label=${RUN_LABEL}`);
  if (left.trim()) progress(`warning: images of this run are left behind: docker image ls -a --filter label=${RUN_LABEL}`);
}

/**
 * A fresh base for the first build: the configured image plus this run's
 * label. The classic builder keys its cache on the parent image, so a new base
 * id makes every step of the build stage cold without pruning anything
 * (pruning would also throw away other people's cached layers).
 */
async function coldBase(runtime: Runtime): Promise<string> {
  const tag = `${BASE_REPOSITORY}:${runtime}-${RUN}`;
  // No files needed: the Dockerfile alone is the context, from stdin.
  await exec("docker", ["build", "-t", tag, "-"], {
    env: { ...process.env, DOCKER_BUILDKIT: "0" },
    input: Readable.from([`FROM ${SETUP[runtime].baseImage}\nLABEL ${BENCH_LABEL}="${RUN}"\n`]),
  });
  return tag;
}

// -------------------------------------------------------------------- project

/** The runtime's fixture with its function answering `version`: a code-only change, dependencies untouched. */
function project(runtime: Runtime, version: string): Files {
  const { fixture, codeFile } = SETUP[runtime];
  const files = readFixture(fixture);
  const code = files[codeFile];
  const source = code?.content.toString("utf8") ?? "";
  const changed = source.replace(/const (VERSION|version) = "[^"]*"/, `const $1 = "${version}"`);
  if (!code || changed === source) throw new Error(`test/fixtures/${fixture}/${codeFile} no longer has a \`const version = "…"\` line to change`);
  return { ...files, [codeFile]: { ...code, content: Buffer.from(changed) } };
}

function sourceTree(files: Files): SourceTree {
  return new SourceTree(Object.entries(files).map(([path, file]) => ({ type: "file" as const, path, mode: file.mode, content: file.content })));
}

async function manifestOf(runtime: Runtime, files: Files, source: SourceTree): Promise<Manifest> {
  const text = files[".eserveless.yaml"]?.content.toString("utf8");
  if (text === undefined) throw new Error(`test/fixtures/${SETUP[runtime].fixture} has no .eserveless.yaml`);
  const { manifest } = await readManifest(text, source);
  if (manifest.runtime !== runtime) throw new Error(`test/fixtures/${SETUP[runtime].fixture} is a ${manifest.runtime} project, expected ${runtime}`);
  return manifest;
}

function httpFunction(runtime: Runtime, manifest: Manifest): HttpFunctionSpec {
  const fn = manifest.functions.find((f) => f.name === FUNCTION);
  if (fn?.type !== "http") throw new Error(`the ${SETUP[runtime].fixture} manifest has no http function ${FUNCTION}`);
  return fn;
}

// --------------------------------------------------------------------- builds

/**
 * Builds `version` of the runtime's fixture on `base` as the deployer does:
 * the same in-memory context (labels appended as one LABEL step), the same
 * BASE_IMAGE build argument, the same builder. Timed from packing the
 * context to the image id.
 */
async function build(docker: Docker, runtime: Runtime, template: RuntimeTemplate, base: string, version: string): Promise<Build> {
  interrupted.signal.throwIfAborted();
  const files = project(runtime, version);
  const source = sourceTree(files);
  const manifest = await manifestOf(runtime, files, source);
  const tag = `eserveless-bench/runtimes-${runtime}:${version}`;
  const lines: string[] = [];
  const started = performance.now();
  const built = await buildImage(docker, createBuildContext(source, template, manifest, { [BENCH_LABEL]: RUN, [`${LABEL}.bench.version`]: version }), {
    tag,
    buildArgs: { BASE_IMAGE: base },
    onLine: (line) => lines.push(line),
  }).catch((error: Error) => {
    throw new Error(`the ${runtime} build of ${version} failed: ${error.message}\n  ${lines.slice(-20).join("\n  ")}`, { cause: error });
  });
  return { ms: performance.now() - started, built };
}

/** Whether the build answered its dependency step from the cache. */
function depsCached(runtime: Runtime, built: BuiltImage): boolean {
  const step = built.steps.find(SETUP[runtime].depsStep);
  if (!step) throw new Error(`the ${runtime} build has no dependency step; did runtimes/${runtime}/Dockerfile change?`);
  return built.cachedSteps.includes(step);
}

// ----------------------------------------------------------------- cold start

/** GET / of the function: its JSON body. */
function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/", agent: false, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("GET / timed out")));
    req.on("error", reject);
    req.end();
  });
}

/**
 * One cold start: creates and starts a container of `image` as the pool does
 * (sandboxedContainer, the function's environment, published on 127.0.0.1),
 * reads its port and waits with eserveless' own readiness probe (every 5 ms)
 * until it answers HTTP. Then, untimed, checks that the function answers
 * `version`, and removes the container.
 */
async function coldStart(docker: Docker, runtime: Runtime, image: string, version: string): Promise<number> {
  interrupted.signal.throwIfAborted();
  const files = project(runtime, version);
  const manifest = await manifestOf(runtime, files, sourceTree(files));
  const fn = httpFunction(runtime, manifest);
  const started = performance.now();
  const container = await docker.createContainer(
    sandboxedContainer({
      image,
      name: `es-bench-runtimes-${runtime}-${randomBytes(3).toString("hex")}`,
      env: { ...containerEnvironment(fn, manifest), ESERVELESS_FUNCTION: fn.name, ESERVELESS_FUNCTION_TYPE: "http", PORT: String(CONTAINER_PORT) },
      labels: { [BENCH_LABEL]: RUN },
      memoryBytes: fn.memory,
      // One container at a time, alone: Docker's default bridge is enough to time a cold start.
      network: "bridge",
      publishHost: "127.0.0.1",
    }),
  );
  try {
    await container.start();
    const info = await container.inspect();
    const port = Number(info.NetworkSettings.Ports[`${CONTAINER_PORT}/tcp`]?.[0]?.HostPort);
    if (!port) throw new Error(`the ${runtime} container has no published port`);
    await waitUntilReady(container, { host: "127.0.0.1", port, timeoutMs: READY_TIMEOUT_MS, intervalMs: READY_POLL_MS }).catch((error: Error & { logs?: string[] }) => {
      throw new Error(`the ${runtime} container never answered: ${error.message}\n  ${(error.logs ?? []).join("\n  ")}`, { cause: error });
    });
    const ms = performance.now() - started;
    const answered = (JSON.parse(await get(port)) as { version?: string }).version;
    if (answered !== version) throw new Error(`the ${runtime} function answered version ${answered}, expected ${version}`);
    return ms;
  } finally {
    await container.remove({ force: true });
  }
}

// ---------------------------------------------------------------------- report


const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
const range = (values: number[], format: (n: number) => string) => {
  const { median: mid, min, max } = summary(values);
  return values.length === 1 ? format(mid) : `${format(mid)} (${format(min)}–${format(max)})`;
};
const seconds = (ms: number) => (ms / 1000).toFixed(1);
const whole = (ms: number) => String(Math.round(ms));

function printReport(results: Record<Runtime, Result>, runs: number, samples: number, surprises: string[]): void {
  const { node, golang } = results;
  const ratio = (pick: (r: Result) => number) => `${(pick(golang) / pick(node)).toFixed(2)}×`;
  const rows = [
    ["runtime", "base image", "image MB", "first build s", "code-only build s", "cold start p50 ms"],
    ...RUNTIMES.map((runtime) => {
      const r = results[runtime];
      return [runtime, SETUP[runtime].baseImage, mb(r.sizeBytes), seconds(r.first.ms), range(r.code.map((b) => b.ms), seconds), range(r.coldStartMs, whole)];
    }),
    [
      "go/node",
      "",
      ratio((r) => r.sizeBytes),
      ratio((r) => r.first.ms),
      ratio((r) => median(r.code.map((b) => b.ms))),
      ratio((r) => median(r.coldStartMs)),
    ],
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: string[]) => row.map((cell, column) => (column < 2 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join("   ");

  const coldRatio = median(golang.coldStartMs) / median(node.coldStartMs);
  const out = [
    "",
    `Runtimes benchmark: test/fixtures/node-hello and go-hello, built by createBuildContext + buildImage (eserveless' build path, classic builder);`,
    `first build on a fresh labelled child of the base image, code-only build median of ${runs}, cold start median of ${samples}; median (min–max); MB = 10^6 bytes`,
    "",
    line(rows[0]!),
    rows[0]!.map((_, column) => "-".repeat(widths[column]!)).join("   "),
    ...rows.slice(1).map(line),
    "",
    `Goal: go/node cold start ≤ ${COLD_START_GOAL}×: ${coldRatio <= COLD_START_GOAL ? "PASS" : "MISS"} (${coldRatio.toFixed(2)}×: go ${whole(median(golang.coldStartMs))} ms, node ${whole(median(node.coldStartMs))} ms)`,
    `Goal: Go image < ${GO_SIZE_GOAL_BYTES / 1e6} MB: ${golang.sizeBytes < GO_SIZE_GOAL_BYTES ? "PASS" : "MISS"} (${mb(golang.sizeBytes)} MB = ${golang.sizeBytes} bytes; node ${mb(node.sizeBytes)} MB)`,
    ...(surprises.length > 0 ? ["", "Warning: some builds did not hit the cache as their scenario intends; their times are suspect:", ...surprises.map((s) => `  - ${s}`)] : []),
    "",
  ];
  process.stdout.write(out.join("\n"));
}

// ------------------------------------------------------------------------ main

async function ensureBaseImage(runtime: Runtime): Promise<void> {
  const { baseImage, standIn } = SETUP[runtime];
  if (await dockerCli("image", "inspect", baseImage).then(() => true, () => false)) return;
  const variable = runtime === "node" ? "ESERVELESS_NODE_IMAGE" : "ESERVELESS_GO_IMAGE";
  if (!baseImage.startsWith("eserveless-local/")) throw new Error(`the base image ${baseImage} (${variable}) is not on this Docker host; pull it first`);
  progress(`${baseImage} is missing: building it with scripts/build-base-images.sh --only ${standIn}`);
  await exec("bash", [join(ROOT, "scripts/build-base-images.sh"), "--only", standIn]);
}

function readOptions(): { runs: number; samples: number } {
  const { values } = parseArgs({ options: { runs: { type: "string", default: "3" }, samples: { type: "string", default: "10" } }, strict: true });
  const count = (name: string, value: string | undefined) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a whole number of at least 1, got ${value}`);
    return n;
  };
  return { runs: count("runs", values.runs), samples: count("samples", values.samples) };
}

async function main(): Promise<void> {
  const { runs, samples } = readOptions();
  await dockerCli("info", "--format", "{{.ServerVersion}}").catch((cause: Error) => {
    throw new Error("Docker is not reachable: start the engine or set DOCKER_HOST", { cause });
  });
  for (const runtime of RUNTIMES) await ensureBaseImage(runtime);
  const templates = await loadRuntimeTemplates(join(ROOT, "runtimes"));
  const docker = new Docker();

  // Once only: a second Ctrl-C kills the bench at once, leaving its containers and images.
  process.once("SIGINT", () => {
    progress("interrupted: finishing the current step, then cleaning up (Ctrl-C again to quit at once)");
    interrupted.abort();
  });

  const partial: Partial<Record<Runtime, Result>> = {};
  const surprises: string[] = [];
  try {
    // Builds one runtime after the other, so that they do not share the CPUs.
    for (const runtime of RUNTIMES) {
      const template = templates.get(runtime);
      if (!template) throw new Error(`runtimes/${runtime} is missing`);
      const base = await coldBase(runtime);
      const first = await build(docker, runtime, template, base, `${RUN}-first`);
      if (depsCached(runtime, first.built)) surprises.push(`${runtime} first build: the dependency step came from the cache`);
      const cached = first.built.cachedSteps.map((step) => step.replace(/^Step \d+\/\d+ : /, "")).join("; ");
      progress(`${runtime.padEnd(6)}  first build      ${seconds(first.ms)} s  (${first.built.cachedSteps.length}/${first.built.steps.length} steps from cache${cached ? `: ${cached}` : ""})`);
      const code: Build[] = [];
      let version = `${RUN}-first`;
      for (let run = 1; run <= runs; run++) {
        version = `${RUN}-code-${run}`;
        const next = await build(docker, runtime, template, base, version);
        if (!depsCached(runtime, next.built)) surprises.push(`${runtime} code-only build ${run}: the dependency step was rebuilt`);
        code.push(next);
        progress(`${runtime.padEnd(6)}  code-only ${run}/${runs}    ${seconds(next.ms)} s  (${next.built.cachedSteps.length}/${next.built.steps.length} steps from cache)`);
      }
      // The deployed function's image: the last build.
      const image = `eserveless-bench/runtimes-${runtime}:${version}`;
      const sizeBytes = (await docker.getImage(image).inspect()).Size;
      partial[runtime] = { image, sizeBytes, first, code, coldStartMs: [] };
    }

    // Cold starts alternate between the runtimes, so that drift (a busy neighbour) spreads over both.
    for (let sample = 1; sample <= samples; sample++) {
      const order: Runtime[] = sample % 2 === 1 ? ["node", "golang"] : ["golang", "node"];
      const times: string[] = [];
      for (const runtime of order) {
        const result = partial[runtime]!;
        const version = result.code.length > 0 ? `${RUN}-code-${result.code.length}` : `${RUN}-first`;
        const ms = await coldStart(docker, runtime, result.image, version);
        result.coldStartMs.push(ms);
        times.push(`${runtime} ${whole(ms)} ms`);
      }
      progress(`cold start ${sample}/${samples}  ${times.join("   ")}`);
    }
  } finally {
    await removeRunArtifacts();
  }
  printReport({ node: partial.node!, golang: partial.golang! }, runs, samples, surprises);
}

runBench(main, interrupted.signal);
