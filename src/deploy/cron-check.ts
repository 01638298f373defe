import type Docker from "dockerode";
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { cronSettings } from "../cron/cron-scheduler.js";
import { ContainerFailedError, UpstreamError } from "../errors.js";
import { redactEnvironment } from "../manifest/function-environment.js";
import { runOnce } from "../run/run-once.js";
import { runtimeReason } from "../run/runtime-reason.js";
import { eserveslessLabels } from "../run/sandbox.js";
import type { LiveCronFunction } from "../store/live-function-store.js";
import { slug } from "../slug.js";

/** How long a cron function's check may take: loading its module, finding it, checking it. */
export const CRON_CHECK_TIMEOUT_MS = 30_000;

/** The most of a failed check's output that goes to the deployment log. */
const MAX_CHECK_OUTPUT_BYTES = 8 * 1024;

/** A cron function that its runtime refuses: it would fail at every tick. */
export class CronCheckError extends ContainerFailedError {
  constructor(
    message: string,
    readonly exitCode: number | null,
    /** What the check printed, line by line. */
    logs: string[],
  ) {
    super(message, { code: "cron_check_failed", logs });
  }
}


/**
 * Checks, before a deployment goes live, that its cron function `fn` can
 * run: one container of the new image, with the environment and limits of a
 * real run and `ESERVELESS_FUNCTION_TYPE=cron-check`, in which the runtime
 * loads the module (node) or starts the binary (Go), finds the function and
 * checks that it is callable as a cron function, without calling it.
 * Resolves with the check's duration in milliseconds; throws a
 * {@link CronCheckError} (the commit's fault) naming the function and the
 * runtime's reason, or an UpstreamError when Docker cannot run it.
 */
export async function checkCronFunction(
  docker: Docker,
  fn: LiveCronFunction,
  options: {
    instance: string;
    signal: AbortSignal;
    log: Logger;
    timeoutMs?: number;
    /** The project's network, as its runs use. */
    network: string;
    /** The values of the secrets it declares, as its runs get them. */
    secrets?: Record<string, string>;
  },
): Promise<number> {
  const settings = cronSettings(fn, options.secrets);
  const timeoutMs = options.timeoutMs ?? CRON_CHECK_TIMEOUT_MS;
  const started = performance.now();
  const result = await runOnce(docker, {
    image: fn.image,
    name: `es-check-${slug(fn.repository)}-${slug(fn.name)}-${randomBytes(3).toString("hex")}`,
    env: { ...settings.env, ESERVELESS_FUNCTION_TYPE: "cron-check" },
    labels: eserveslessLabels({ instance: options.instance, repository: fn.repository, commit: fn.commit, deployment: fn.deploymentId, function: fn.name }),
    memoryBytes: settings.memoryBytes,
    network: options.network,
    timeoutMs,
    signal: options.signal,
    maxOutputBytes: MAX_CHECK_OUTPUT_BYTES,
    log: options.log,
  }).catch((cause: unknown) => {
    options.signal.throwIfAborted();
    throw new UpstreamError(`Docker could not run the check of ${fn.name}: ${(cause as Error).message}`, { cause, code: "container_start_failed" });
  });
  options.signal.throwIfAborted();
  if (result.reason === "exited" && result.exitCode === 0) return Math.round(performance.now() - started);

  const logs = result.output
    .split("\n")
    .map((line) => line.trimEnd())
    .filter((line) => line !== "");
  // The runtime says why in a line of its own. The message becomes the deployment's public description:
  // it quotes that reason only, never a line the function printed (its environment, say).
  const why = runtimeReason(logs);
  let message: string;
  if (result.reason === "timeout") {
    message = `its check did not end within ${Math.round(timeoutMs / 1000)} s: loading it must not block (the function itself is called only on schedule)`;
  } else if (result.killed === "removed") {
    throw new UpstreamError(`${fn.name}: the container of its check was removed from outside eserveless`, { code: "container_removed" });
  } else if (result.killed === "out_of_memory") {
    message = `killed for using more than its ${Math.round(settings.memoryBytes / 1024 ** 2)} MiB of memory while loading`;
  } else if (why) {
    message = redactEnvironment(why, settings.env);
  } else {
    message = `exited with code ${result.exitCode ?? "unknown"} while loading; its output is in the deployment log (for signed-in viewers)`;
  }
  throw new CronCheckError(`${fn.name}: ${message}`, result.exitCode, logs);
}
