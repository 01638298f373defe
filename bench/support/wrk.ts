import { execFile } from "node:child_process";
import { exec } from "./exec.js";

/** One wrk run: its requests, throughput and latency. */
export interface WrkResult {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  /** Non-2xx answers and socket errors: a run with any is suspect. */
  errors: number;
}

/** "wrk 4.1.0" or the like; wrk -v prints its banner to stdout and exits 1. */
export function wrkBanner(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("wrk", ["-v"], { encoding: "utf8" }, (error, stdout) => {
      const banner = /^wrk \S+/.exec(stdout)?.[0];
      if (banner) resolve(banner);
      else reject(new Error("wrk is not installed: apt-get install wrk (Debian, Ubuntu) or brew install wrk", { cause: error }));
    });
  });
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** wrk, one thread (its own process, so it shares no event loop with the proxy), with its latency distribution. */
export async function wrk(url: string, connections: number, seconds: number, signal?: AbortSignal): Promise<WrkResult> {
  signal?.throwIfAborted();
  const out = await exec("wrk", ["-t1", `-c${connections}`, `-d${seconds}s`, "--timeout", "10s", "--latency", url]);
  const latency = (percent: string) => {
    const match = new RegExp(`^\\s*${percent}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, "m").exec(out);
    if (!match) throw new Error(`wrk printed no ${percent}% latency:\n${out}`);
    return Number(match[1]) * UNIT_MS[match[2]!]!;
  };
  const requests = Number(/^\s*(\d+) requests in /m.exec(out)?.[1]);
  const rps = Number(/^Requests\/sec:\s+([\d.]+)/m.exec(out)?.[1]);
  if (!requests || !rps) throw new Error(`cannot read wrk's output:\n${out}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) + (socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0);
  return { requests, rps, p50: latency("50"), p99: latency("99"), errors };
}
