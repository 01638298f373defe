import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
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
import { ProxyError, proxyRequest, callerGoneOf, type BodyOutcome, type FunctionResponse } from "../run/proxy.js";
import type { LiveFunctionStore, LiveHttpFunction } from "../store/live-function-store.js";
import { FUNCTIONS_PATH, PREVIEWS_PATH, previewEnvironment, previewNumber } from "../urls.js";
import { accessLog } from "./access-log.js";
import { errorAnswer } from "./error-handler.js";
import { peerOf, type Peer } from "./forwarded-headers.js";
import { functionRequestHeaders } from "./function-request-headers.js";
import { functionResponseHeaders } from "./function-response-headers.js";
import { hostSplit } from "./split-hosts.js";
import { trustedProxies, type ProxyRange } from "./trusted-proxies.js";
import type { InvocationLog } from "./invocation-log.js";
import type { Metrics } from "./metrics-routes.js";


/** The node adapter's request and response, absent under `app.request()`. */
type NodeBindings = { incoming?: IncomingMessage; outgoing?: ServerResponse } | undefined;

/** Returns the lease once the body ended: discarded when the function broke off, so its container is replaced. */
const settleLease = (lease: Lease) => (outcome: BodyOutcome) => (outcome === "broken" ? lease.discard("the response body broke off") : lease.release());

/** The function's response as a web Response, streamed; the lease goes back when its body ended. */
function streamResponse(upstream: FunctionResponse, lease: Lease, upstreamHeaders: Record<string, string | string[]>, extraHeaders: Record<string, string>, head: boolean): Response {
  const headers = new Headers();
  for (const [name, value] of Object.entries(upstreamHeaders)) {
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  for (const [name, value] of Object.entries(extraHeaders)) headers.append(name, value);
  const body = upstream.toWeb(settleLease(lease));
  const noBody = head || upstream.statusCode === 204 || upstream.statusCode === 304;
  if (noBody) void body.cancel();
  return new Response(noBody ? null : body, { status: upstream.statusCode, headers });
}

/**
 * The request body as a Node stream. Under the node adapter that is the
 * socket itself: reading `c.req.raw.body` there would make the adapter wrap
 * it in a web stream and consume it.
 */
function requestBody(method: string, incoming: IncomingMessage | undefined, web: ReadableStream | null): Readable | null {
  if (method === "GET" || method === "HEAD") return null;
  if (incoming) {
    const length = incoming.headers["content-length"];
    return incoming.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0") ? incoming : null;
  }
  return web ? Readable.fromWeb(web as never) : null;
}

/** Writes the function's response to the caller's socket; the lease goes back when its body ended. */
function pipeResponse(upstream: FunctionResponse, outgoing: ServerResponse, lease: Lease, headers: Record<string, string | string[]>, extra: Record<string, string>): void {
  for (const [name, value] of Object.entries(extra)) headers[name] = headers[name] ? [headers[name]].flat().concat(value) : value;
  // The function's reason phrase is not passed on, only its status code: node would throw on a control character in it.
  outgoing.writeHead(upstream.statusCode, headers);
  upstream.pipe(outgoing, settleLease(lease));
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
  /** PUBLIC_URL, named in the error for a dashboard path on the functions host. */
  publicUrl: string;
  /** Peers whose X-Forwarded-* headers are believed. */
  trustedProxies?: readonly ProxyRange[];
  /** Why a closed pull request's preview URLs answer 410; previews are not served when absent. */
  previews?: { gone(repository: string, number: number): string | undefined };
}

/** One call of a function, however it arrived: through hono or straight from the node listener. */
interface Call {
  method: string;
  /** The whole path, as errors are logged with. */
  requestPath: string;
  owner: string;
  repo: string;
  name: string;
  /** The pull request of a preview URL (/pr/…), as it appears in the path. */
  number: string | undefined;
  /** The path the function sees (what follows the function's name) and the query string. */
  path: string;
  search: string;
  headers: IncomingHttpHeaders;
  /** The node adapter's request and response; absent under `app.request()`. */
  incoming: IncomingMessage | undefined;
  outgoing: ServerResponse | undefined;
  /** The web request, when there is no node request. */
  web: Request | undefined;
}

/**
 * URLs the node adapter hands to hono as they are, with no normalizing nor
 * decoding to do (its own test, less `#`): the function router matches those
 * itself. Any other goes through hono, which routes it after normalizing.
 */
const VERBATIM_URL = /^\/[!$&-;=?-[\]_a-z~]*$/;
const DOT_SEGMENT = /\/\.\.?(?:[/?]|$)/;
/** Host values the node adapter takes as they are (`reValidHost`); others it checks, and may refuse with a 400. */
const VERBATIM_HOST = /^[a-z0-9._-]+(?::(?:[1-5]\d{3,4}|[6-9]\d{3}))?$/;

/**
 * `/fn/<owner>/<repo>/<function>/…`: every method, proxied to a ready
 * container of the live deployment; the function sees the rest of the path.
 * Bodies stream both ways; a caller that goes away aborts the upstream request.
 *
 * `routes` serve them in the hono app; `listener` serves the plain ones
 * straight from node's request listener, before hono, and hands the rest
 * (and every other path) to `next`: the same checks, errors and records,
 * without building a web Request nor routing on every request.
 */
export function invokeRoutes(options: InvokeOptions) {
  const maxBodyBytes = options.maxBodyBytes ?? defaultLimits.bodyBytes;
  const isTrusted = trustedProxies(options.trustedProxies ?? []);
  const access = accessLog(options.log);
  const sandbox = options.functionsUrl === undefined;
  const split = options.functionsUrl === undefined ? undefined : hostSplit({ ...options, functionsUrl: options.functionsUrl });
  const tooLarge = () =>
    new EserveslessError(`Request body too large: the limit is ${maxBodyBytes} bytes (ESERVELESS_MAX_BODY_BYTES)`, { status: 413, code: "body_too_large" });

  // What the pool runs for each live function, computed once: the store hands out the same object until a switch.
  const targets = new WeakMap<LiveHttpFunction, FunctionTarget>();
  const targetOf = (fn: LiveHttpFunction) => {
    let target = targets.get(fn);
    if (!target) targets.set(fn, (target = functionTarget(fn)));
    return target;
  };

  /** Proxies one call; resolves with the Response to send, or RESPONSE_ALREADY_SENT once it is on the socket. */
  const invoke = async (call: Call, peer: Peer): Promise<Response> => {
    const { method, owner, repo, name, number, path } = call;
    const repository = `${owner}/${repo}`;
    // A preview URL (/pr/<owner>/<repo>/<number>/<function>) looks the function up in the pull request's environment.
    const preview = number === undefined ? undefined : previewNumber(`pr-${number}`);
    if (number !== undefined && preview === undefined) throw new NotFoundError(`"${number}" is not a pull request number.`, { code: "function_not_found" });
    const fn = options.store.liveFunction(repository, name, preview === undefined ? undefined : previewEnvironment(preview));
    const gone = !fn && preview !== undefined ? options.previews?.gone(repository, preview) : undefined;
    if (gone) throw new EserveslessError(gone, { status: 410, code: "preview_removed" });
    if (!fn) throw new NotFoundError(`No function "${name}" is live in ${repository}. Check the name in .eserveless.yaml and that a deployment succeeded.`, { code: "function_not_found" });
    if (fn.type !== "http") throw new NotFoundError(`${repository}/${name} is a cron function; it runs on its schedule and has no URL.`, { code: "not_http" });
    if (Number(call.headers["content-length"] ?? 0) > maxBodyBytes) throw tooLarge();
    // A preview's invocations and metrics are its own, not production's.
    const label = preview === undefined ? `${fn.repository}/${fn.name}` : `${fn.repository}@pr-${preview}/${fn.name}`;
    const timeoutMs = fn.spec.timeout * 1000;

    const started = performance.now();
    const lease = await options.pool.acquire(targetOf(fn), callerGoneOf(call.outgoing ?? call.web!.signal)).catch((error: unknown) => {
      // Refused before reaching a container (429, 503): overload shows in the metrics too.
      const status = error instanceof EserveslessError ? error.status : 500;
      const ms = performance.now() - started;
      options.metrics.invocation(label, status, ms / 1000);
      // The log keeps the path only: query strings carry tokens and personal data.
      options.invocations.record(label, { at: Date.now(), method, path, status, ms: Math.round(ms), cold: false, container: null });
      throw error;
    });
    const finish = (status: number) => {
      const ms = performance.now() - started;
      const cold = lease.coldStartMs !== undefined;
      options.metrics.invocation(label, status, ms / 1000, lease.coldStartMs);
      options.invocations.record(label, { at: Date.now(), method, path, status, ms: Math.round(ms), cold, container: lease.replica.name });
      access.record({ function: label, method, path, status, ms: Math.round(ms), cold, container: lease.replica.name });
    };

    const headers = functionRequestHeaders(call.headers, { peer, adminToken: options.adminToken });
    const body = requestBody(method, call.incoming, call.web?.body ?? null);

    let upstream: FunctionResponse;
    try {
      upstream = await proxyRequest({
        dispatcher: lease.replica.dispatcher,
        origin: lease.replica.origin,
        method,
        path: path + call.search,
        headers,
        body,
        maxBodyBytes,
        timeoutMs,
        caller: call.outgoing ?? call.web!.signal,
      });
    } catch (error) {
      const kind = error instanceof ProxyError ? error.kind : "upstream";
      if (kind === "client_gone") {
        lease.release();
        finish(499);
        throw new EserveslessError("The caller went away", { status: 499, code: "client_gone" });
      }
      if (kind === "body_too_large") {
        // The caller's doing: only its connection to the function is cut (the function sees a truncated
        // body there); the container and the other callers' requests on it stay.
        lease.release();
        finish(413);
        throw tooLarge();
      }
      if (kind === "client_slow") {
        // Likewise: a caller that trickles its body must not get the function's container recycled under others.
        lease.release();
        finish(408);
        throw new EserveslessError(`The request body arrived too slowly: it was still being sent after ${label}'s ${timeoutMs / 1000} s timeout (manifest: timeout)`, {
          status: 408,
          code: "request_body_timeout",
        });
      }
      if (kind === "refused") {
        lease.release();
        finish(400);
        throw new EserveslessError(`The request cannot be forwarded to ${label}: ${(error as Error).message}`, { status: 400, code: "bad_request" });
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
    const extra: Record<string, string> = lease.coldStartMs !== undefined ? { "server-timing": `cold-start;dur=${lease.coldStartMs}` } : {};
    const answerHeaders = functionResponseHeaders(upstream.headers, { sandbox });
    let answer: Response;
    try {
      // Not for HEAD through hono: hono answers HEAD by wrapping the GET route's Response in one of its own,
      // which would have the adapter write the head a second time onto a socket that already has it.
      if (call.outgoing && (method !== "HEAD" || call.web === undefined)) {
        // Straight onto the socket: one write for head and body, no web streams.
        pipeResponse(upstream, call.outgoing, lease, answerHeaders, extra);
        answer = RESPONSE_ALREADY_SENT;
      } else answer = streamResponse(upstream, lease, answerHeaders, extra, method === "HEAD");
    } catch (error) {
      // A head node or a web Response refuses (a status out of range, a header it cannot send) is the function's
      // fault: it fails this request and its container, never the server nor the slot.
      upstream.cancel("its response head could not be passed on");
      // writeHead kept the status text it picked for the function's code; the error answer picks its own.
      if (call.outgoing && !call.outgoing.headersSent) call.outgoing.statusMessage = "";
      lease.discard(`its response head could not be passed on: ${(error as Error).message}`);
      finish(502);
      throw new EserveslessError(`${label} answered with a status line or headers that cannot be passed on (${(error as Error).message}); its container was replaced`, {
        status: 502,
        code: "function_bad_response",
        cause: error,
      });
    }
    finish(upstream.statusCode);
    return answer;
  };

  const handler = (c: Context) => {
    const { owner, repo, name, number } = c.req.param() as { owner: string; repo: string; name: string; number?: string };
    const node = c.env as NodeBindings;
    const url = new URL(c.req.url);
    const prefix = url.pathname.split("/").slice(0, number === undefined ? 5 : 6).join("/");
    const call: Call = {
      method: c.req.method,
      requestPath: c.req.path,
      owner,
      repo,
      name,
      number,
      path: url.pathname.slice(prefix.length) || "/",
      search: url.search,
      headers: node?.incoming?.headers ?? Object.fromEntries(c.req.raw.headers),
      incoming: node?.incoming,
      outgoing: node?.outgoing,
      web: c.req.raw,
    };
    return invoke(call, peerOf(node?.incoming, isTrusted));
  };
  const functions = new Hono().all(`${FUNCTIONS_PATH}/:owner/:repo/:name`, handler).all(`${FUNCTIONS_PATH}/:owner/:repo/:name/*`, handler);
  const routes = options.previews
    ? functions.all(`${PREVIEWS_PATH}/:owner/:repo/:number/:name`, handler).all(`${PREVIEWS_PATH}/:owner/:repo/:number/:name/*`, handler)
    : functions;

  /** The call a plain function URL makes; undefined for anything hono must route. */
  const directCall = (incoming: IncomingMessage, outgoing: ServerResponse): Call | undefined => {
    const url = incoming.url ?? "";
    const previewUrl = options.previews !== undefined && url.startsWith(`${PREVIEWS_PATH}/`);
    if (!url.startsWith(`${FUNCTIONS_PATH}/`) && !previewUrl) return undefined;
    const host = incoming.headers.host;
    if (host === undefined || !VERBATIM_HOST.test(host) || !VERBATIM_URL.test(url) || DOT_SEGMENT.test(url)) return undefined;
    const query = url.indexOf("?");
    const pathname = query === -1 ? url : url.slice(0, query);
    // "", "fn", owner, repo, name… or "", "pr", owner, repo, number, name…
    const segments = pathname.split("/", previewUrl ? 6 : 5);
    if (segments.length < (previewUrl ? 6 : 5) || segments.some((segment, i) => i > 0 && segment === "")) return undefined;
    const prefix = segments.join("/").length;
    return {
      method: incoming.method ?? "GET",
      requestPath: pathname,
      owner: segments[2]!,
      repo: segments[3]!,
      number: previewUrl ? segments[4] : undefined,
      name: segments[previewUrl ? 5 : 4]!,
      path: pathname.slice(prefix) || "/",
      search: query === -1 ? "" : url.slice(query),
      headers: incoming.headers,
      incoming,
      outgoing,
      web: undefined,
    };
  };

  /** Answers an error as the app's onError does, in JSON; the connection closes when a request body was left unread. */
  const answerError = (thrown: unknown, call: Call, outgoing: ServerResponse) => {
    const { error, status, body } = errorAnswer(thrown, { log: options.log, method: call.method, path: call.requestPath });
    if (outgoing.headersSent || outgoing.destroyed) return;
    const json = JSON.stringify(body);
    const headers: Record<string, string | number> = { ...error.headers, "content-type": "application/json", "content-length": Buffer.byteLength(json) };
    if (call.incoming && !call.incoming.readableEnded) headers.connection = "close";
    try {
      outgoing.writeHead(status, headers);
      outgoing.end(json);
    } catch {
      // An answer node cannot write closes this caller's connection; it must never take the server down.
      outgoing.destroy();
    }
  };

  const listener = (next: (incoming: IncomingMessage, outgoing: ServerResponse) => unknown) => (incoming: IncomingMessage, outgoing: ServerResponse) => {
    const call = directCall(incoming, outgoing);
    if (!call) return next(incoming, outgoing);
    const peer = peerOf(incoming, isTrusted);
    const misplaced = split?.(incoming.headers, peer, call.requestPath);
    if (misplaced) return answerError(misplaced, call, outgoing);
    return invoke(call, peer).catch((error: unknown) => answerError(error, call, outgoing));
  };

  return { routes, listener, flushLog: access.flush };
}
