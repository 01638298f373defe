import { spawn } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, closeSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { exec } from "./exec.js";

/** A loopback port free right now (the kernel's pick), for a process that must be told its port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Resident set size of a process from /proc (Linux), in bytes; undefined when it cannot be read. */
export function processRss(pid: number): number | undefined {
  try {
    const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

let clockTicks: number | undefined;

/** CPU time (user and system) a process used so far, in µs, from /proc; undefined when it cannot be read. */
export async function processCpuUs(pid: number): Promise<number | undefined> {
  try {
    clockTicks ??= Number((await exec("getconf", ["CLK_TCK"])).trim()) || 100;
    // Fields after the command name: utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "").split(" ");
    return ((Number(fields[11]) + Number(fields[12])) / clockTicks) * 1e6;
  } catch {
    return undefined;
  }
}

/** Polls `url` until it answers 200, or throws after `timeoutMs` (or when `exited` says the process is gone). */
export async function untilAnswers(url: string, timeoutMs: number, exited: () => string | undefined): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const gone = exited();
    if (gone) throw new Error(gone);
    const ok = await fetch(url).then(
      (r) => r.body?.cancel().then(() => r.ok) ?? r.ok,
      () => false,
    );
    if (ok) return;
    if (performance.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs / 1000} s`);
    await sleep(50);
  }
}

/** The node flags of package.json's `start` script (`node [flags] dist/main.js`), so the bench runs the server as operators do. */
export function startFlags(root: string): string[] {
  const start = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: { start: string } }).scripts.start;
  const match = /^node((?: --[\w-]+(?:=\S+)?)*) dist\/main\.js$/.exec(start);
  if (!match) throw new Error(`package.json's start script is not "node [flags] dist/main.js": ${start}`);
  return match[1]!.split(" ").filter(Boolean);
}

/**
 * eserveless as `npm start` runs it: `node [its flags] dist/main.js` (built
 * first with `tsc -p tsconfig.build.json`), configured by its environment
 * only, its log (JSON, LOG_LEVEL as set or info) appended to a file as an
 * operator would keep it. `nodeArgs` go before the script (--cpu-prof, say).
 */
export async function startServerProcess(root: string, env: Record<string, string>, nodeArgs: string[] = []) {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "eserveless-bench-"));
  const logFile = join(dataDir, "server.log");
  const out = openSync(logFile, "a");
  const child = spawn(process.execPath, [...startFlags(root), ...nodeArgs, join(root, "dist/main.js")], {
    cwd: root,
    // Only what a server would have: no tsx loader, no test variables.
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", PORT: String(port), HOST: "127.0.0.1", DATA_DIR: dataDir, LOG_FORMAT: "json", ...env },
    stdio: ["ignore", out, out],
    // Its own process group: a Ctrl-C in the terminal reaches the bench, which stops it after its step.
    detached: true,
  });
  closeSync(out);
  let exit: string | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once("exit", (code, signal) => {
      exit = `node dist/main.js exited (${code ?? signal}); its log is ${logFile}`;
      resolve();
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    await untilAnswers(`${url}/healthz`, 60_000, () => exit);
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  const pid = child.pid!;
  return {
    url,
    pid,
    dataDir,
    logFile,
    /** The instance label of its containers and images. */
    instance: readFileSync(join(dataDir, "instance-id"), "utf8").trim(),
    rss: () => processRss(pid),
    /** SIGTERM, as a service manager stops it; it leaves its containers (the bench removes them by label). */
    async stop(): Promise<void> {
      if (exit) return;
      child.kill("SIGTERM");
      const timeout = sleep(30_000).then(() => "timeout" as const);
      if ((await Promise.race([exited, timeout])) === "timeout") {
        child.kill("SIGKILL");
        await exited;
      }
    },
  };
}

export type ServerProcess = Awaited<ReturnType<typeof startServerProcess>>;
