import type Docker from "dockerode";
import { request } from "node:http";
import { ContainerFailedError } from "../errors.js";
import { containerLogs } from "./container-logs.js";
import { runtimeReason } from "./runtime-reason.js";
import { SocketDirError } from "./socket-dirs.js";

/** The header of the router's readiness probe; runtimes answer it without calling user code. */
export const PROBE_HEADER = "x-eserveless-probe";

/** How the runtimes (runtimes/node/server.cjs, runtimes/golang/dispatcher.go) begin the lines they print themselves. */

/** How many times a folder watch may cut a poll short before only the poll counts. */
const MAX_EARLY_LOOKS = 8;

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

/** Where a function answers HTTP: a TCP port (published, or on its project's network), or a Unix socket in its sealed folder. */
export type Endpoint = { host: string; port: number; socketPath?: undefined } | { socketPath: string };

/** How an endpoint is named in messages. */
export function describeEndpoint(endpoint: Endpoint): string {
  return endpoint.socketPath === undefined ? `${endpoint.host}:${endpoint.port}` : "its socket";
}

/** One HTTP probe: resolves true on any HTTP answer, false when nothing answers yet. */
export function probe(endpoint: Endpoint): Promise<boolean> {
  const where = endpoint.socketPath === undefined ? { host: endpoint.host, port: endpoint.port } : { socketPath: endpoint.socketPath };
  return new Promise((resolve) => {
    const req = request({ ...where, path: "/", method: "GET", headers: { [PROBE_HEADER]: "1" }, agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

/**
 * Waits until a started container answers HTTP at its endpoint, probing every
 * few milliseconds. Fails fast with the container's last log lines when it
 * exits (the message quotes only the runtime's own reason, through `redact`),
 * and after `timeoutMs` when it never answers. With `seal` (a socket), the
 * first probe waits until it resolved true: nothing connects before.
 */
export async function waitUntilReady(
  container: Docker.Container,
  input: Endpoint & {
    /** Resolves false while the socket is not there yet, true once its folder is sealed; throws when the folder is not as it must be. */
    seal?: () => Promise<boolean>;
    /** Calls back when the socket may have appeared (a folder watch), so it is sealed and probed then, not at the next poll; returns what stops it. */
    watch?: (changed: () => void) => () => void;
    timeoutMs: number;
    intervalMs?: number;
    signal?: AbortSignal;
    /** Takes the function's secrets out of the reason quoted in the error's message. */
    redact?: (text: string) => string;
    /** Told when a step ends: `socket` (it appeared and its folder is sealed), `probe` (it answered). */
    onStep?: (step: string) => void;
  },
): Promise<void> {
  const stop = new AbortController();
  const exited = container
    .wait({ abortSignal: stop.signal } as object)
    .then((result: { StatusCode: number }) => result.StatusCode)
    .catch(() => undefined);
  const deadline = Date.now() + input.timeoutMs;
  let sealed = input.seal === undefined;
  // Set by the watch: something changed since the last look, so the next look is now; `wake` ends a poll's sleep early.
  let changed = false;
  let wake: (() => void) | undefined;
  // The folder holds nothing but the socket: a container that keeps changing it gets a few early looks, then polling alone.
  let wakes = 0;
  const stopWatching = () => {
    unwatch?.();
    unwatch = undefined;
  };
  let unwatch = sealed
    ? undefined
    : input.watch?.(() => {
        if (++wakes > MAX_EARLY_LOOKS) return stopWatching();
        changed = true;
        wake?.();
      });
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
      if (!sealed) {
        sealed = await input.seal!().catch(async (error: unknown) => {
          if (!(error instanceof SocketDirError)) throw error;
          throw new ReadinessError(error.message, undefined, await containerLogs(container).catch(() => []));
        });
        if (sealed) input.onStep?.("socket");
      }
      if (sealed && (await probe(input))) {
        input.onStep?.("probe");
        return;
      }
      if (Date.now() > deadline) {
        const logs = await containerLogs(container).catch(() => []);
        throw new ReadinessError(
          `The function did not answer HTTP on ${describeEndpoint(input)} within ${Math.round(input.timeoutMs / 1000)} s. Make sure it starts quickly and does not block at load time` +
            ` (if eserveless itself runs in a container, set ESERVELESS_CONTAINER=auto so it joins the functions' networks).`,
          undefined,
          logs,
        );
      }
      if (sealed) stopWatching();
      if (!changed) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(woken, input.intervalMs ?? 5);
          function woken() {
            clearTimeout(timer);
            wake = undefined;
            resolve();
          }
          wake = woken;
        });
      }
      changed = false;
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
    stopWatching();
    stop.abort();
  }
}
