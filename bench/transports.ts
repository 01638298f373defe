/**
 * Transports benchmark: the same trivial function (test/fixtures/bench-hello)
 * through the router over tcp (published port, docker-proxy) and over unix (a
 * socket in the container's folder), side by side, interleaved rounds; and the
 * cold start over each.
 *
 *   npx tsx bench/transports.ts --rounds 3 --duration 8 --connections 50 --samples 8
 *
 * Each router is a child process of its own (wrk is another), both idle but
 * the one measured. Results go to stdout, progress to stderr.
 */
import { fork, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Docker from "dockerode";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { readFixture } from "../test/support/fixtures.js";
import { deployUpload } from "../test/support/deploy-upload.js";
import { startEserveless, type TestEserveless } from "../test/support/start-eserveless.js";
import { exec, progress } from "./support/exec.js";
import { median } from "./support/summary.js";

const ROLE = "ESERVELESS_TRANSPORTS_ROLE";
const TRANSPORTS = ["tcp", "unix"] as const;
type Transport = (typeof TRANSPORTS)[number];
const PROJECT = "bench-hello";

type Message = { id: number; command: "start" | "idle-cold" | "cpu" | "stop"; transport?: Transport };

/** The router side: one eserveless with the fixture deployed. */
async function serveRouter(): Promise<void> {
  let server: TestEserveless | undefined;
  process.on("message", (message: Message) => {
    const run = async () => {
      if (message.command === "start") {
        // The paused tier on: Hello is paused after a second without requests (never during a wrk run).
        server = await startEserveless({ env: { ESERVELESS_TRANSPORT: message.transport!, ESERVELESS_PAUSE_AFTER: "1" } });
        const { deployment } = await deployUpload(server, PROJECT, readFixture(PROJECT));
        if (deployment.state !== "success") throw new Error(`deployment ${deployment.state}: ${deployment.description}`);
        return { url: server.url, instance: readFileSync(join(server.dataDir, "instance-id"), "utf8").trim() };
      }
      if (message.command === "cpu") return process.cpuUsage();
      if (message.command === "idle-cold") {
        // Until only Hello runs: Cold's replica goes after one idle second.
        for (;;) {
          await server!.pool.reap();
          if (server!.pool.replicaCount(`local/${PROJECT}`, "Cold") === 0) return {};
          await sleep(100);
        }
      }
      await server?.stop();
      setImmediate(() => process.exit(0));
      return {};
    };
    run().then(
      (value) => process.send?.({ id: message.id, value }),
      (error: Error) => process.send?.({ id: message.id, error: error.stack ?? String(error) }),
    );
  });
}

class Router {
  readonly child: ChildProcess;
  #next = 0;
  readonly #pending = new Map<number, (reply: { value?: unknown; error?: string }) => void>();
  url = "";
  /** The docker-proxy process in front of Hello's container (tcp only). */
  proxyPid: number | undefined;
  /** Hello's container, whose CPU its cgroup counts. */
  container = "";

  constructor(readonly transport: Transport) {
    this.child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, [ROLE]: "router" }, execArgv: process.execArgv, stdio: ["ignore", "ignore", "inherit", "ipc"] });
    this.child.on("message", (reply: { id: number; value?: unknown; error?: string }) => this.#pending.get(reply.id)?.(reply));
  }

  call<T>(command: Message["command"]): Promise<T> {
    const id = ++this.#next;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, (reply) => (reply.error ? reject(new Error(`${this.transport}: ${reply.error}`)) : resolve(reply.value as T)));
      this.child.send({ id, command, transport: this.transport } satisfies Message);
    });
  }

  fn(name: string): string {
    return `${this.url}/fn/local/${PROJECT}/${name}/`;
  }
}

interface Wrk {
  rps: number;
  p50: number;
  requests: number;
}

/** CPU seconds a process spent so far (user + system), from /proc. */
function processCpu(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds a container spent so far, from its cgroup (v1 cpuacct, or v2). */
function containerCpu(id: string): number {
  try {
    return Number(readFileSync(`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`, "utf8")) / 1e9;
  } catch {
    const stat = readFileSync(`/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`, "utf8");
    return Number(/usage_usec (\d+)/.exec(stat)?.[1]) / 1e6;
  }
}

/** The docker-proxy that publishes `port`, found by its command line. */
function dockerProxyOf(port: number): number | undefined {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (args[0]?.endsWith("docker-proxy") && args[args.indexOf("-host-port") + 1] === String(port)) return Number(entry);
    } catch {
      // Gone meanwhile.
    }
  }
  return undefined;
}

async function wrk(url: string, connections: number, seconds: number): Promise<Wrk> {
  const out = await exec("wrk", ["-t1", `-c${connections}`, `-d${seconds}s`, "--timeout", "10s", "--latency", url]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  const p50 = /\s50%\s+([\d.]+)(us|ms|s)/.exec(out);
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: .*/.exec(out);
  if (errors) throw new Error(`wrk saw failures:\n${out}`);
  if (!rps || !p50) throw new Error(`cannot read wrk's output:\n${out}`);
  const ms = Number(p50[1]) * (p50[2] === "us" ? 0.001 : p50[2] === "s" ? 1000 : 1);
  return { rps, p50: ms, requests };
}

/** Time to the first byte of a request that starts a container, and the router's own count (Server-Timing). */
async function coldSample(url: string): Promise<{ ttfb: number; ready: number }> {
  const started = performance.now();
  const response = await fetch(url, { headers: { connection: "close" } });
  const ttfb = performance.now() - started;
  await response.text();
  const ready = Number(/cold-start;dur=(\d+)/.exec(response.headers.get("server-timing") ?? "")?.[1]);
  if (response.status !== 200 || !ready) throw new Error(`not a cold start: ${response.status} ${response.headers.get("server-timing")}`);
  return { ttfb, ready };
}

/** Time to the whole answer of one request on a new connection. */
async function timed(url: string): Promise<number> {
  const started = performance.now();
  const response = await fetch(url, { headers: { connection: "close" } });
  await response.text();
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}`);
  return performance.now() - started;
}

const range = (values: number[], digits = 0) => `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { rounds: { type: "string", default: "3" }, duration: { type: "string", default: "8" }, connections: { type: "string", default: "50" }, samples: { type: "string", default: "8" } },
  });
  const rounds = Number(values.rounds);
  const seconds = Number(values.duration);
  const connections = Number(values.connections);
  const samples = Number(values.samples);
  const routers = TRANSPORTS.map((transport) => new Router(transport));
  try {
    for (const router of routers) {
      progress(`${router.transport}: starting eserveless and deploying ${PROJECT}…`);
      const { url, instance } = await router.call<{ url: string; instance: string }>("start");
      router.url = url;
      const [hello] = await new Docker().listContainers({ filters: { label: [`dev.eserveless.instance=${instance}`, "dev.eserveless.function=Hello"] } });
      const port = hello?.Ports.find((p) => p.PublicPort)?.PublicPort;
      router.proxyPid = port === undefined ? undefined : dockerProxyOf(port);
      router.container = hello!.Id;
      progress(`${router.transport}: Hello published on ${port ?? "no port"}${router.proxyPid ? `, docker-proxy pid ${router.proxyPid}` : ""}`);
    }
    const warm: Record<Transport, { loaded: Wrk[]; single: Wrk[]; routerUs: number[]; proxyUs: number[]; containerUs: number[] }> = {
      tcp: { loaded: [], single: [], routerUs: [], proxyUs: [], containerUs: [] },
      unix: { loaded: [], single: [], routerUs: [], proxyUs: [], containerUs: [] },
    };
    for (const router of routers) await wrk(router.fn("Hello"), connections, 3);
    for (let round = 1; round <= rounds; round++) {
      // Interleaved, and the order flips each round, so drift on a shared machine hits both alike.
      for (const router of round % 2 ? routers : [...routers].reverse()) {
        progress(`round ${round}: ${router.transport}, ${connections} connections then 1…`);
        const before = await router.call<NodeJS.CpuUsage>("cpu");
        const proxyBefore = router.proxyPid ? processCpu(router.proxyPid) : 0;
        const containerBefore = containerCpu(router.container);
        const loaded = await wrk(router.fn("Hello"), connections, seconds);
        const after = await router.call<NodeJS.CpuUsage>("cpu");
        warm[router.transport].loaded.push(loaded);
        // CPU per request holds better than req/s on a shared machine: others' load slows both but costs neither.
        warm[router.transport].routerUs.push((after.user + after.system - before.user - before.system) / loaded.requests);
        warm[router.transport].containerUs.push(((containerCpu(router.container) - containerBefore) * 1e6) / loaded.requests);
        warm[router.transport].proxyUs.push(router.proxyPid ? ((processCpu(router.proxyPid) - proxyBefore) * 1e6) / loaded.requests : 0);
        warm[router.transport].single.push(await wrk(router.fn("Hello"), 1, seconds));
      }
    }
    const cold: Record<Transport, Array<{ ttfb: number; ready: number }>> = { tcp: [], unix: [] };
    for (let sample = 1; sample <= samples; sample++) {
      for (const router of sample % 2 ? routers : [...routers].reverse()) {
        await router.call("idle-cold");
        await sleep(250);
        cold[router.transport].push(await coldSample(router.fn("Cold")));
      }
    }
    // The paused tier: a request to Hello once it is paused, next to one while it runs.
    const docker = new Docker();
    const paused: Record<Transport, { resumed: number[]; running: number[] }> = { tcp: { resumed: [], running: [] }, unix: { resumed: [], running: [] } };
    for (let sample = 1; sample <= samples; sample++) {
      for (const router of sample % 2 ? routers : [...routers].reverse()) {
        const deadline = Date.now() + 30_000;
        while (!(await docker.getContainer(router.container).inspect()).State.Paused) {
          if (Date.now() > deadline) throw new Error(`${router.transport}: Hello was not paused within 30 s`);
          await sleep(50);
        }
        paused[router.transport].resumed.push(await timed(router.fn("Hello")));
        paused[router.transport].running.push(await timed(router.fn("Hello")));
      }
    }
    console.log(`transports: wrk -t1, keep-alive, ${rounds} interleaved rounds of ${seconds} s; cold: ${samples} samples each. median (min–max)`);
    console.log(`| transport | req/s at ${connections} | p50 ms at ${connections} | router CPU µs/req | docker-proxy CPU µs/req | container CPU µs/req | req/s at 1 | p50 ms at 1 | cold start, first byte ms | cold start, router's count ms |`);
    console.log("|---|---|---|---|---|---|---|---|---|---|");
    for (const transport of TRANSPORTS) {
      const w = warm[transport];
      const c = cold[transport];
      console.log(
        `| ${transport} | ${range(w.loaded.map((r) => r.rps))} | ${range(w.loaded.map((r) => r.p50), 2)} | ${range(w.routerUs)} | ${range(w.proxyUs)} | ${range(w.containerUs)} | ${range(w.single.map((r) => r.rps))} | ${range(w.single.map((r) => r.p50), 3)} | ${range(c.map((s) => s.ttfb))} | ${range(c.map((s) => s.ready))} |`,
      );
    }
    console.log(`\n| transport | paused tier: request to a paused container ms | the next, running ms |`);
    console.log("|---|---|---|");
    for (const transport of TRANSPORTS) console.log(`| ${transport} | ${range(paused[transport].resumed, 1)} | ${range(paused[transport].running, 1)} |`);
    console.log(`unix ÷ tcp, req/s at ${connections}: ${(median(warm.unix.loaded.map((r) => r.rps)) / median(warm.tcp.loaded.map((r) => r.rps))).toFixed(2)}`);
  } finally {
    await Promise.all(routers.map((router) => router.call("stop").catch(() => router.child.kill())));
  }
}

if (process.env[ROLE] === "router") void serveRouter();
else
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
