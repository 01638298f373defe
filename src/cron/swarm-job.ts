import type { Logger } from "pino";
import { setTimeout as sleep } from "node:timers/promises";
import type { ImagePusher } from "../image/push-image.js";
import { RunOnceError, type RunOnceInput, type RunOnceResult } from "../run/run-once.js";
import { tailText } from "../run/run-output.js";
import type { SwarmSecrets } from "../run/swarm-secrets.js";
import { sandboxedTask, type SwarmServices } from "../run/swarm-services.js";
import { SERVICE_KIND_LABEL } from "../run/swarm-pool.js";
import { LABEL } from "../run/sandbox.js";

/** How often a job's task is looked at while it runs. */
const POLL_MS = 250;
/** Task states after which it runs no more. */
const ENDED = new Set(["complete", "failed", "rejected", "shutdown", "orphaned", "remove"]);

/**
 * Runs a cron tick on a swarm as a one-shot `replicated-job` service (Engine
 * API 1.41): one task on whichever node has room, the sandbox of a function,
 * never restarted. Same contract as {@link runOnce}: killed (the job removed)
 * past `timeoutMs` or when `signal` aborts, its output read through the
 * manager, the job removed afterwards whatever happened.
 */
export async function runSwarmJob(parts: { services: SwarmServices; images: ImagePusher; dockerSecrets: SwarmSecrets; log?: Logger }, input: RunOnceInput): Promise<RunOnceResult> {
  const { services } = parts;
  const signal = input.signal ?? new AbortController().signal;
  const pruneSecrets = () => void parts.dockerSecrets.prune().catch((cause: unknown) => parts.log?.warn({ err: cause }, "could not remove unused Docker secrets; the next removal retries"));
  let id: string;
  try {
    const image = await parts.images.reference(input.image);
    const labels = { ...input.labels, [SERVICE_KIND_LABEL]: "cron-run" };
    // The secrets leave the spec's Env: mounted as Docker secrets, which the runtime exports.
    const secretNames = new Set(input.secretNames ?? []);
    const env = Object.fromEntries(Object.entries(input.env).filter(([key]) => !secretNames.has(key)));
    const values = Object.fromEntries(Object.entries(input.env).filter(([key]) => secretNames.has(key)));
    const mounted = await parts.dockerSecrets.mount(values, {
      repository: input.labels[`${LABEL}.repository`] ?? "",
      commit: input.labels[`${LABEL}.commit`] ?? "",
      deployment: input.labels[`${LABEL}.deployment`] ?? "",
      environment: input.labels[`${LABEL}.environment`],
    });
    try {
      id = await services.createJob(
        input.name.slice(0, 63),
        labels,
        sandboxedTask({ image, env, labels, network: input.network, memoryBytes: input.memoryBytes, nanoCpus: input.nanoCpus, restart: "none", secrets: mounted.references }),
      );
    } catch (cause) {
      mounted.release();
      pruneSecrets();
      throw cause;
    } finally {
      mounted.release();
    }
  } catch (cause) {
    throw new RunOnceError(cause, { text: "", truncated: false });
  }
  const started = performance.now();
  let outcome: Omit<RunOnceResult, "output" | "truncated"> | undefined;
  let failure: unknown;
  try {
    const deadline = Date.now() + input.timeoutMs;
    for (;;) {
      if (signal.aborted) {
        outcome = { reason: "stopped", exitCode: null, durationMs: performance.now() - started };
        break;
      }
      if (Date.now() > deadline) {
        outcome = { reason: "timeout", exitCode: null, durationMs: performance.now() - started };
        break;
      }
      const task = (await services.tasks(id))[0];
      const state = task?.Status?.State ?? "";
      if (ENDED.has(state)) {
        if (state === "rejected") throw new Error(`Swarm rejected the run: ${task?.Status?.Err ?? "no reason given"}`);
        const exitCode = task?.Status?.ContainerStatus?.ExitCode ?? (state === "complete" ? 0 : null);
        outcome = { reason: "exited", exitCode, durationMs: performance.now() - started };
        if (state !== "complete" && /out of memory|OOM/i.test(task?.Status?.Err ?? "")) outcome.killed = "out_of_memory";
        break;
      }
      await sleep(POLL_MS);
    }
  } catch (cause) {
    failure = cause;
  }
  const output = await services
    .logs(id, 2000)
    .then((lines) => tailText(Buffer.from(lines.map((line) => `${line}\n`).join("")), input.maxOutputBytes))
    .catch((cause: Error) => ({ text: `(output unavailable: ${cause.message})`, truncated: false }));
  await services
    .remove(id)
    .then(pruneSecrets)
    .catch((cause: unknown) => parts.log?.warn({ err: cause, service: id }, "could not remove a cron job's service; it is removed at the next start"));
  if (!outcome) throw new RunOnceError(failure, output);
  return { ...outcome, output: output.text, truncated: output.truncated };
}
