import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { Hono, type Context } from "hono";
import type { Logger } from "pino";
import { defaultLimits } from "../default-limits.js";
import { functionTarget } from "../deploy/function-target.js";
import { EserveslessError, NotFoundError } from "../errors.js";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { FunctionTarget } from "../run/container-pool.js";
import type { Pool } from "../run/pool.js";
import type { Lease } from "../run/function-pool.js";
import { ProxyError, proxyRequest } from "../run/proxy.js";
import type { LiveFunctionStore, LiveHttpFunction } from "../store/live-function-store.js";
import { FUNCTIONS_PATH, PREVIEWS_PATH, previewEnvironment, previewNumber } from "../urls.js";
import { peerOf } from "./forwarded-headers.js";
import { functionRequestHeaders } from "./function-request-headers.js";
import { functionResponseHeaders } from "./function-response-headers.js";
import { trustedProxies, type ProxyRange } from "./trusted-proxies.js";
import type { InvocationLog } from "./invocation-log.js";
import type { Metrics } from "./metrics-routes.js";


/** The node adapter's request and response, absent under `app.request()`. */
type NodeBindings = { incoming?: IncomingMessage; outgoing?: ServerResponse } | undefined;

/**
 * The function's response as a web Response, streamed. The lease is returned
 * when the body has been sent, and discarded when the function broke off.
 */
function streamResponse(upstream: IncomingMessage, lease: Lease, upstreamHeaders: Record<string, string | string[]>, extraHeaders: Record<string, string>, callerGone: () => boolean): Response {
  upstream.once("close", () => {
    // Cut short by the function (not by a caller that went away): replace it.
    if (upstream.complete || callerGone()) lease.release();
    else lease.discard("the response body broke off");
  });
  const headers = new Headers();
  for (const [name, value] of Object.entries(upstreamHeaders)) {
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  for (const [name, value] of Object.entries(extraHeaders)) headers.append(name, value);
  const noBody = upstream.statusCode === 204 || upstream.statusCode === 304;
  if (noBody) upstream.resume();
  return new Response(noBody ? null : (Readable.toWeb(upstream) as ReadableStream<Uint8Array>), {
    status: upstream.statusCode ?? 502,
    statusText: upstream.statusMessage,
    headers,
  });
}

/**
 * The request body as a Node stream. Under the node adapter that is the
 * socket itself: reading `c.req.raw.body` there would make the adapter wrap
 * it in a web stream and consume it.
 */
function requestBody(c: Context, incoming: IncomingMessage | undefined): Readable | null {
  if (c.req.method === "GET" || c.req.method === "HEAD") return null;
  if (incoming) {
    const length = incoming.headers["content-length"];
    return incoming.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0") ? incoming : null;
  }
  return c.req.raw.body ? Readable.fromWeb(c.req.raw.body as never) : null;
}

/** Aborts when the caller goes away before its response is complete. */
function callerSignal(outgoing: ServerResponse): AbortSignal {
  const controller = new AbortController();
  outgoing.once("close", () => {
    if (!outgoing.writableFinished) controller.abort();
  });
  return controller.signal;
}

/**
 * Pipes the function's response to the caller's socket. The lease is
 * returned when the function finished its response or the caller went away,
 * and discarded when the function broke off mid-body.
 */
function pipeResponse(upstream: IncomingMessage, outgoing: ServerResponse, lease: Lease, headers: Record<string, string | string[]>, extra: Record<string, string>): void {
  for (const [name, value] of Object.entries(extra)) headers[name] = headers[name] ? [headers[name]].flat().concat(value) : value;
  outgoing.writeHead(upstream.statusCode ?? 502, upstream.statusMessage, headers);
  upstream.pipe(outgoing);
  outgoing.once("close", () => {
    if (!outgoing.writableFinished) upstream.destroy();
  });
  upstream.once("close", () => {
    if (upstream.complete || (outgoing.destroyed && !outgoing.writableFinished)) {
      lease.release();
      return;
    }
    lease.discard("the response body broke off");
    outgoing.destroy();
  });
}

export interface InvokeOptions {
  store: LiveFunctionStore;
  /** Where each invocation is recorded for `eserveless logs`. */
  invocations: InvocationLog;
  pool: Pool;
  metrics: Metrics;
  log: Logger;
  /** Largest request body, in bytes (413 past it). */
  maxBodyBytes?: number;
  /** Never forwarded to functions when a caller sends it as a bearer token. */
  adminToken?: string | undefined;
  /** ESERVELESS_FUNCTIONS_URL; without it functions share the dashboard's origin, and their responses are sandboxed. */
  functionsUrl?: string | undefined;
  /** Peers whose X-Forwarded-* headers are believed. */
  trustedProxies?: readonly ProxyRange[];
  /** Why a closed pull request's preview URLs answer 410; previews are not served when absent. */
  previews?: { gone(repository: string, number: number): string | undefined };
}

/**
 * `/fn/<owner>/<repo>/<function>/…`: every method, proxied to a ready
 * container of the live deployment; the function sees the rest of the path.
 * Bodies stream both ways; a caller that goes away aborts the upstream request.
 */
export function invokeRoutes(options: InvokeOptions) {
  const maxBodyBytes = options.maxBodyBytes ?? defaultLimits.bodyBytes;
  const isTrusted = trustedProxies(options.trustedProxies ?? []);
  const sandbox = options.functionsUrl === undefined;
  const tooLarge = () =>
    new EserveslessError(`Request body too large: the limit is ${maxBodyBytes} bytes (ESERVELESS_MAX_BODY_BYTES)`, { status: 413, code: "body_too_large" });

  // What the pool runs for each live function, computed once: the store hands out the same object until a switch.
  const targets = new WeakMap<LiveHttpFunction, FunctionTarget>();
  const targetOf = (fn: LiveHttpFunction) => {
    let target = targets.get(fn);
    if (!target) targets.set(fn, (target = functionTarget(fn)));
    return target;
  };

  const handler = async (c: Context) => {
    const { owner, repo, name, number } = c.req.param() as { owner: string; repo: string; name: string; number?: string };
    const repository = `${owner}/${repo}`;
    // A preview URL (/pr/<owner>/<repo>/<number>/<function>) looks the function up in the pull request's environment.
    const preview = number === undefined ? undefined : previewNumber(`pr-${number}`);
    if (number !== undefined && preview === undefined) throw new NotFoundError(`"${number}" is not a pull request number.`, { code: "function_not_found" });
    const fn = options.store.liveFunction(repository, name, preview === undefined ? undefined : previewEnvironment(preview));
    const gone = !fn && preview !== undefined ? options.previews?.gone(repository, preview) : undefined;
    if (gone) throw new EserveslessError(gone, { status: 410, code: "preview_removed" });
    if (!fn) throw new NotFoundError(`No function "${name}" is live in ${repository}. Check the name in .eserveless.yaml and that a deployment succeeded.`, { code: "function_not_found" });
    if (fn.type !== "http") throw new NotFoundError(`${repository}/${name} is a cron function; it runs on its schedule and has no URL.`, { code: "not_http" });
    if (Number(c.req.header("content-length") ?? 0) > maxBodyBytes) throw tooLarge();
    // A preview's invocations and metrics are its own, not production's.
    const label = preview === undefined ? `${fn.repository}/${fn.name}` : `${fn.repository}@pr-${preview}/${fn.name}`;

    const url = new URL(c.req.url);
    const prefix = url.pathname.split("/").slice(0, preview === undefined ? 5 : 6).join("/");
    // The log keeps the path only: query strings carry tokens and personal data.
    const path = url.pathname.slice(prefix.length) || "/";
    const timeoutMs = fn.spec.timeout * 1000;
    const node = c.env as NodeBindings;

    const started = performance.now();
    const lease = await options.pool.acquire(targetOf(fn)).catch((error: unknown) => {
      // Refused before reaching a container (429, 503): overload shows in the metrics too.
      const status = error instanceof EserveslessError ? error.status : 500;
      const ms = performance.now() - started;
      options.metrics.invocation(label, status, ms / 1000);
      options.invocations.record(label, { at: Date.now(), method: c.req.method, path, status, ms: Math.round(ms), cold: false, container: null });
      throw error;
    });
    const finish = (status: number) => {
      const ms = performance.now() - started;
      options.metrics.invocation(label, status, ms / 1000, lease.coldStartMs);
      options.invocations.record(label, { at: Date.now(), method: c.req.method, path, status, ms: Math.round(ms), cold: lease.coldStartMs !== undefined, container: lease.replica.name });
      options.log.info(
        { function: label, method: c.req.method, path, status, ms: Math.round(ms), cold: lease.coldStartMs !== undefined, container: lease.replica.name },
        "invocation",
      );
    };

    const headers = functionRequestHeaders(node?.incoming?.headers ?? Object.fromEntries(c.req.raw.headers), {
      peer: peerOf(node?.incoming, isTrusted),
      adminToken: options.adminToken,
    });
    const body = requestBody(c, node?.incoming);

    let upstream: IncomingMessage;
    try {
      upstream = await proxyRequest({
        host: lease.replica.host,
        port: lease.replica.port,
        agent: lease.replica.agent,
        method: c.req.method,
        path: path + url.search,
        headers,
        body,
        maxBodyBytes,
        timeoutMs,
        signal: node?.outgoing ? callerSignal(node.outgoing) : c.req.raw.signal,
      });
    } catch (error) {
      const kind = error instanceof ProxyError ? error.kind : "upstream";
      if (kind === "client_gone") {
        lease.release();
        finish(499);
        throw new EserveslessError("The caller went away", { status: 499, code: "client_gone" });
      }
      if (kind === "body_too_large") {
        // The function saw a truncated body; do not reuse its connection state.
        lease.discard("request body over the limit");
        finish(413);
        throw tooLarge();
      }
      if (kind === "timeout") {
        lease.discard(`no answer within ${timeoutMs} ms`);
        finish(504);
        throw new EserveslessError(`${label} did not answer within its ${timeoutMs / 1000} s timeout (manifest: timeout); its container was recycled`, {
          status: 504,
          code: "function_timeout",
        });
      }
      lease.discard(`request failed: ${(error as Error).message}`);
      finish(502);
      throw new EserveslessError(`${label} failed before it answered (its process crashed or closed the connection); its container was replaced`, {
        status: 502,
        code: "function_crashed",
        cause: error,
      });
    }
    finish(upstream.statusCode ?? 502);
    const extra: Record<string, string> = lease.coldStartMs !== undefined ? { "server-timing": `cold-start;dur=${lease.coldStartMs}` } : {};
    if (node?.outgoing) {
      // Straight onto the socket: one write for head and body, no web streams.
      pipeResponse(upstream, node.outgoing, lease, functionResponseHeaders(upstream.headers, { sandbox }), extra);
      return RESPONSE_ALREADY_SENT;
    }
    const callerGone = () => c.req.raw.signal.aborted;
    return streamResponse(upstream, lease, functionResponseHeaders(upstream.headers, { sandbox }), extra, callerGone);
  };
  const routes = new Hono().all(`${FUNCTIONS_PATH}/:owner/:repo/:name`, handler).all(`${FUNCTIONS_PATH}/:owner/:repo/:name/*`, handler);
  if (!options.previews) return routes;
  return routes.all(`${PREVIEWS_PATH}/:owner/:repo/:number/:name`, handler).all(`${PREVIEWS_PATH}/:owner/:repo/:number/:name/*`, handler);
}
