import type Docker from "dockerode";
import { request } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { ContainerFailedError } from "../errors.js";
import { containerLogs } from "./container-logs.js";
import { runtimeReason } from "./runtime-reason.js";

/** The header of the router's readiness probe; runtimes answer it without calling user code. */
export const PROBE_HEADER = "x-eserveless-probe";

/** How the runtimes (runtimes/node/server.cjs, runtimes/golang/dispatcher.go) begin the lines they print themselves. */

/** A function container that exited or never answered HTTP in time. */
export class ReadinessError extends ContainerFailedError {
  constructor(
    message: string,
    readonly exitCode: number | undefined,
    logs: string[],
  ) {
    super(message, { code: "not_ready", logs });
  }
}

/** One HTTP probe: resolves true on any HTTP answer, false when nothing answers yet. */
export function probe(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: "/", method: "GET", headers: { [PROBE_HEADER]: "1" }, agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

/**
 * Waits until a started container answers HTTP on host:port, probing every
 * few milliseconds. Fails fast with the container's last log lines when it
 * exits (the message quotes only the runtime's own reason, through `redact`),
 * and after `timeoutMs` when it never answers.
 */
export async function waitUntilReady(
  container: Docker.Container,
  input: {
    host: string;
    port: number;
    timeoutMs: number;
    intervalMs?: number;
    signal?: AbortSignal;
    /** Takes the function's secrets out of the reason quoted in the error's message. */
    redact?: (text: string) => string;
  },
): Promise<void> {
  const stop = new AbortController();
  const exited = container
    .wait({ abortSignal: stop.signal } as object)
    .then((result: { StatusCode: number }) => result.StatusCode)
    .catch(() => undefined);
  const deadline = Date.now() + input.timeoutMs;
  try {
    let exitCode: number | undefined;
    let done = false;
    void exited.then((code) => {
      if (!stop.signal.aborted) {
        exitCode = code;
        done = true;
      }
    });
    while (!done) {
      input.signal?.throwIfAborted();
      if (await probe(input.host, input.port)) return;
      if (Date.now() > deadline) {
        const logs = await containerLogs(container).catch(() => []);
        throw new ReadinessError(
          `The function did not answer HTTP on ${input.host}:${input.port} within ${Math.round(input.timeoutMs / 1000)} s. Make sure it starts quickly and does not block at load time` +
            ` (if eserveless itself runs in a container, set ESERVELESS_CONTAINER=auto so it joins the functions' networks).`,
          undefined,
          logs,
        );
      }
      await sleep(input.intervalMs ?? 5);
    }
    const logs = await containerLogs(container).catch(() => []);
    // The message becomes the deployment's public description: the runtime's own reason (it says it all
    // and fits a commit status), never a line the function printed (its environment, say).
    const why = runtimeReason(logs);
    throw new ReadinessError(
      why !== undefined
        ? (input.redact ?? String)(why)
        : `The function exited with code ${exitCode ?? "unknown"} before it answered HTTP; its output is in the deployment log (for signed-in viewers)`,
      exitCode,
      logs,
    );
  } finally {
    stop.abort();
  }
}
