/**
 * Router-split benchmark: what a second router thread or process would give
 * the router on this machine, and what it would cost, before building one.
 * The minimal Node proxy (bench/peers/split-proxy.mjs) runs four ways in
 * front of the same trivial upstream on a Unix socket, in interleaved rounds:
 * one thread; two threads accepting on one listening socket; two processes
 * accepting on one listening socket, the second asking the first for each
 * request's slot over IPC as a router's pool would need; and the same
 * without asking (its upper bound).
 *
 *   npm run bench:router-split -- --rounds 3 --round-seconds 6 --connections 50
 *
 * Results go to stdout, progress to stderr.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { progress, runBench } from "./support/exec.js";
import { tempDir } from "./support/peers.js";
import { freePort, processCpuUs, processRss, untilAnswers } from "./support/server-process.js";
import { summary } from "./support/summary.js";
import { wrk, wrkBanner, type WrkResult } from "./support/wrk.js";

const PROXY = fileURLToPath(new URL("peers/split-proxy.mjs", import.meta.url));
const MODES = [
  { mode: "one", label: "one thread (the router today)" },
  { mode: "threads", label: "two threads, one listening socket" },
  { mode: "processes", label: "two processes, a slot asked per request" },
  { mode: "processes-free", label: "two processes, nothing asked (bound)" },
] as const;
type Mode = (typeof MODES)[number]["mode"];

const interrupted = new AbortController();
const children: ChildProcess[] = [];

/** The process and its children (the second router process), from /proc. */
function processTree(pid: number): number[] {
  const descendants = readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return readFileSync(`/proc/${entry}/stat`, "utf8").replace(/^.*\) /s, "").split(" ")[1] === String(pid);
      } catch {
        return false;
      }
    })
    .map(Number);
  return [pid, ...descendants];
}

/** User and system CPU time of the processes so far, in µs. */
async function cpuUs(pids: number[]): Promise<number> {
  let us = 0;
  for (const pid of pids) us += (await processCpuUs(pid)) ?? 0;
  return us;
}

/** A split-proxy.mjs process with the young-generation cap `npm start` gives the router (V8's flags hold for every thread). */
function start(args: string[]): ChildProcess {
  const child = spawn(process.execPath, ["--max-semi-space-size=8", PROXY, ...args], { stdio: ["ignore", "ignore", "inherit"] });
  children.push(child);
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  // Its second process first: killed alone, it would keep the listening socket and stderr open.
  for (const pid of processTree(child.pid!).slice(1)) process.kill(pid, "SIGKILL");
  child.kill("SIGKILL");
  await exited;
  children.splice(children.indexOf(child), 1);
}

interface Run {
  load: WrkResult;
  /** CPU µs per request of the proxy's processes, all threads. */
  cpu: number;
  /** RSS of the proxy's processes together after the load, MiB. */
  rss: number;
  processes: number;
}

async function measure(mode: Mode, socket: string, connections: number, seconds: number): Promise<Run> {
  const port = await freePort();
  const proxy = start([mode, String(port), socket]);
  const url = `http://127.0.0.1:${port}/`;
  try {
    await untilAnswers(url, 10_000, () => (proxy.exitCode === null ? undefined : `split-proxy ${mode} exited (${proxy.exitCode})`));
    // The second thread or process starts after the first listens: give it the time to.
    await sleep(500);
    await wrk(url, connections, 1, interrupted.signal);
    const pids = processTree(proxy.pid!);
    const before = await cpuUs(pids);
    const load = await wrk(url, connections, seconds, interrupted.signal);
    const cpu = ((await cpuUs(pids)) - before) / load.requests;
    const rss = pids.reduce((sum, pid) => sum + (processRss(pid) ?? 0), 0) / 2 ** 20;
    return { load, cpu, rss, processes: pids.length };
  } finally {
    await stop(proxy);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { rounds: { type: "string", default: "3" }, "round-seconds": { type: "string", default: "6" }, connections: { type: "string", default: "50" } },
  });
  const rounds = Number(values.rounds);
  const seconds = Number(values["round-seconds"]);
  const connections = Number(values.connections);
  const banner = await wrkBanner();
  progress(`Router-split benchmark: ${cpus().length} CPUs, ${banner} (1 thread, keep-alive), ${connections} connections, load average ${loadavg()[0]!.toFixed(1)} at start`);
  const socket = join(tempDir("eserveless-bench-split-"), "upstream.sock");
  const upstream = start(["upstream", socket]);
  await sleep(300);
  const runs = new Map<Mode, Run[]>(MODES.map(({ mode }) => [mode, []]));
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const { mode } of MODES) runs.get(mode)!.push(await measure(mode, socket, connections, seconds));
      progress(`round ${round}/${rounds}: ${MODES.map(({ mode }) => `${mode} ${Math.round(runs.get(mode)!.at(-1)!.load.rps).toLocaleString("en-US")}`).join(", ")} req/s`);
    }
  } finally {
    await stop(upstream);
  }
  const one = summary(runs.get("one")!.map((r) => r.load.rps)).median;
  const rows = MODES.map(({ mode, label }) => {
    const r = runs.get(mode)!;
    const rps = summary(r.map((x) => x.load.rps));
    const errors = r.reduce((sum, x) => sum + x.load.errors, 0);
    return [
      label,
      `${Math.round(rps.median).toLocaleString("en-US")} (${Math.round(rps.min).toLocaleString("en-US")}–${Math.round(rps.max).toLocaleString("en-US")})`,
      (rps.median / one).toFixed(2),
      summary(r.map((x) => x.load.p50)).median.toFixed(2),
      Math.round(summary(r.map((x) => x.cpu)).median).toString(),
      summary(r.map((x) => x.rss)).median.toFixed(1),
      String(r[0]!.processes),
      String(errors),
    ];
  });
  const header = ["proxy, " + connections + " connections", "req/s median (min–max)", "÷ one thread", "p50 ms", "CPU µs/req", "RSS MiB after", "processes", "errors"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("   ");
  console.log(`Minimal Node proxy (http.request + pipe) in front of one trivial upstream on a Unix socket; ${rounds} interleaved rounds of ${seconds} s`);
  console.log(line(header));
  console.log(line(widths.map((w) => "-".repeat(w))));
  for (const row of rows) console.log(line(row));
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    interrupted.abort();
    for (const child of children) child.kill("SIGKILL");
  });
}
runBench(main, interrupted.signal);
