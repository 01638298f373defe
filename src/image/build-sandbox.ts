import type Docker from "dockerode";
import type { Slots } from "../slots.js";

/**
 * The limits an image build runs under. A build runs the project's install
 * scripts (npm's `preinstall` and the like), so it is untrusted code: the
 * runtime templates run them as a non-root user (uid 65500), and these
 * settings confine the build's containers.
 */
export interface BuildSandbox {
  /** The network builds run on: it reaches the internet, not functions nor other builds (see ProjectNetworks). */
  network: () => Promise<string>;
  /** Memory of each build step, swap included (`ESERVELESS_BUILD_MEMORY`). */
  memoryBytes: number;
  /** CPUs each build step may use (`ESERVELESS_BUILD_CPUS`). */
  cpus: number;
  /** Past this the build is stopped and fails (`ESERVELESS_BUILD_TIMEOUT`). */
  timeoutMs: number;
  /** Builds that run at once across repositories (`ESERVELESS_MAX_CONCURRENT_BUILDS`). */
  slots: Slots;
}

/**
 * Processes (threads included) that the build user may have per running
 * build. The classic builder has no pids limit, but it passes ulimits on:
 * RLIMIT_NPROC counts every process of the build's uid on the host, which
 * only builds use, so this caps all running builds together, fork bombs
 * included, far below the kernel's pid_max (32768 on many hosts).
 */
export const BUILD_PROCESSES_PER_SLOT = 1024;

const CPU_PERIOD_US = 100_000;

/**
 * The classic builder's options for a sandboxed build on `network`, as
 * Docker 20.10 honours them for each RUN step's container (checked there:
 * memory and memswap, cpuquota over cpuperiod, networkmode and ulimits reach
 * the step's cgroup and limits; there is no pids or capability option).
 */
export function sandboxedBuildOptions(sandbox: BuildSandbox, network: string): Record<string, string | number> {
  const nproc = BUILD_PROCESSES_PER_SLOT * sandbox.slots.max;
  return {
    networkmode: network,
    memory: sandbox.memoryBytes,
    memswap: sandbox.memoryBytes,
    cpuperiod: CPU_PERIOD_US,
    cpuquota: Math.max(1000, Math.round(sandbox.cpus * CPU_PERIOD_US)),
    // A string: the Engine API takes this query parameter as JSON, which docker-modem leaves arrays out of.
    ulimits: JSON.stringify([{ Name: "nproc", Soft: nproc, Hard: nproc }]),
  };
}

/**
 * Watches Docker's events for containers killed for memory, to tell why a
 * build step ended: the step's own exit code does not (npm reports a killed
 * install script as exit 1). `stop()` ends the watch.
 */
export async function watchOutOfMemory(docker: Docker): Promise<{
  /** Whether the container whose id starts with `idPrefix` ran out of memory; waits up to `waitMs` for its end to be reported. */
  outOfMemory(idPrefix: string, waitMs?: number): Promise<boolean>;
  stop(): void;
}> {
  const oom = new Set<string>();
  const died = new Set<string>();
  const listeners = new Set<() => void>();
  let broken = false;
  const stream = (await docker.getEvents({ filters: { type: ["container"], event: ["oom", "die"] } })) as NodeJS.ReadableStream & { destroy(): void };
  let pending = "";
  stream.on("data", (chunk: Buffer) => {
    pending += chunk.toString("utf8");
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      const event = parseEvent(line);
      if (event?.id) ((event.Action ?? event.status) === "oom" ? oom : died).add(event.id);
    }
    for (const listener of listeners) listener();
  });
  // A broken watch only loses the memory hint; the build's own error still says what failed.
  const end = () => {
    broken = true;
    for (const listener of listeners) listener();
  };
  stream.on("error", end);
  stream.on("end", end);
  const has = (set: Set<string>, prefix: string) => [...set].some((id) => id.startsWith(prefix));
  return {
    async outOfMemory(idPrefix, waitMs = 2000) {
      // Docker reports `oom` before `die`, and `die` before the build fails: wait for `die`.
      if (!broken && !has(died, idPrefix)) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, waitMs);
          function done() {
            clearTimeout(timer);
            listeners.delete(check);
            resolve();
          }
          const check = () => {
            if (broken || has(died, idPrefix)) done();
          };
          listeners.add(check);
        });
      }
      return has(oom, idPrefix);
    },
    stop: () => stream.destroy(),
  };
}

/** One line of Docker's event stream; undefined for anything else. */
function parseEvent(line: string): { Action?: string; status?: string; id?: string } | undefined {
  if (line.trim() === "") return undefined;
  try {
    return JSON.parse(line) as { Action?: string; status?: string; id?: string };
  } catch {
    return undefined;
  }
}
