import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("./serve-eserveless.ts", import.meta.url));

/** A field of /proc/<pid>/status in bytes ("VmRSS", "VmHWM"). */
function procStatusBytes(pid: number, field: "VmRSS" | "VmHWM"): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(match[1]) * 1024;
}

/**
 * Starts eserveless in a child process (test/support/serve-eserveless.ts, through tsx) with
 * `env` as its settings, and reads that process's memory from /proc: the figure an operator
 * would see, without the test's own allocations in it.
 */
export async function startEserveslessProcess(env: Record<string, string>) {
  const child = spawn(process.execPath, ["--import", "tsx", SCRIPT], {
    env: { ...process.env, ESERVELESS_TEST_ENV: JSON.stringify(env) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout });
  const first = await Promise.race([
    new Promise<string>((resolve) => lines.once("line", resolve)),
    exited.then((code) => Promise.reject(new Error(`the eserveless process exited (${code}) before it listened`))),
  ]);
  const { url } = JSON.parse(first) as { url: string };
  const pid = child.pid as number;
  return {
    url,
    pid,
    /** Resident memory now. */
    rss: () => procStatusBytes(pid, "VmRSS"),
    /** The highest resident memory since the last `resetPeak()` (or since the start). */
    peakRss: () => procStatusBytes(pid, "VmHWM"),
    /** Starts a new peak from the current resident memory (Linux: "5" > /proc/<pid>/clear_refs). */
    resetPeak: () => writeFileSync(`/proc/${pid}/clear_refs`, "5"),
    async stop(): Promise<void> {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

export type EserveslessProcess = Awaited<ReturnType<typeof startEserveslessProcess>>;
