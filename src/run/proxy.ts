import { request, type Agent, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

// RFC 9110 §7.6.1: meaningful for one connection only, never forwarded.
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]);

/** Why a proxied exchange failed; the router maps each to a status. */
export class ProxyError extends Error {
  constructor(
    readonly kind: "timeout" | "client_slow" | "upstream" | "client_gone" | "body_too_large",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "ProxyError";
  }
}

/** The header names a Connection header lists (RFC 9110 §7.6.1), lower-cased; the common single token without splitting. */
function connectionTokens(connection: string | string[]): string[] {
  const value = Array.isArray(connection) ? connection.join(",") : connection;
  if (!value.includes(",")) {
    const token = value.trim().toLowerCase();
    return token === "" ? [] : [token];
  }
  return value
    .split(",")
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
}

/**
 * Headers without hop-by-hop ones, including those the Connection header
 * names, and without those `skip` names (lower-cased), in one pass: the
 * router copies every request's and every response's headers, so no Set,
 * no entries array and no `delete` afterwards.
 */
export function endToEndHeaders(
  headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
  skip?: (name: string) => boolean,
): Record<string, string | string[]> {
  const connection = headers.connection;
  const named = connection === undefined ? undefined : connectionTokens(connection);
  const out: Record<string, string | string[]> = {};
  for (const key of Object.keys(headers)) {
    const value = headers[key];
    if (value === undefined) continue;
    const name = key.toLowerCase();
    if (HOP_BY_HOP.has(name) || named?.includes(name) || skip?.(name)) continue;
    out[name] = value;
  }
  return out;
}

/**
 * The headers to send with or without a body. Framing headers go only with
 * the body they describe: a `Content-Length` sent without its bytes makes the
 * function read the start of the next request on the pooled socket as a body,
 * and whatever follows as a request the router never checked.
 */
export function framedHeaders(headers: Record<string, string | string[]>, withBody: boolean): Record<string, string | string[]> {
  if (withBody) return headers;
  if (headers["content-length"] === undefined && headers["transfer-encoding"] === undefined) return headers;
  const { "content-length": _length, "transfer-encoding": _encoding, ...rest } = headers;
  return rest;
}

export interface ProxyInput {
  host: string;
  port: number;
  /** A keep-alive agent of the target replica, dropped with it, so no socket outlives its container. */
  agent: Agent;
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  /** The request body, streamed; never buffered. */
  body: Readable | null;
  /** Most bytes the body may have (413 past it). */
  maxBodyBytes: number;
  /** Time to the response headers before the exchange is abandoned. */
  timeoutMs: number;
  /**
   * Who waits for the answer: an AbortSignal aborted when the caller goes
   * away, or the node response the answer goes to, gone once it closes
   * unfinished (no AbortController per request on the hot path).
   */
  caller: AbortSignal | ServerResponse;
}

/** Who waits on each client socket: one 'close' listener per socket, however many pipelined requests it carries. */
const socketWatchers = new WeakMap<Socket, Set<() => void>>();

/**
 * Calls `onGone` once the caller of `outgoing` goes away before its response
 * is finished, at once when it already has; returns what stops watching. The
 * client's socket is watched, not only the response: a response queued
 * behind an earlier one on a pipelined connection has no socket yet and
 * never emits 'close' when the client leaves, so a function's answer would
 * be piped into it for ever, its container's slot held.
 */
export function whenCallerLeaves(outgoing: ServerResponse, onGone: () => void): () => void {
  let fired = false;
  const check = () => {
    if (fired || outgoing.writableFinished) return;
    fired = true;
    onGone();
  };
  const socket = outgoing.req.socket;
  if (socket.destroyed || outgoing.destroyed) {
    check();
    return () => undefined;
  }
  let watchers = socketWatchers.get(socket);
  if (!watchers) {
    const set = new Set<() => void>();
    watchers = set;
    socketWatchers.set(socket, set);
    socket.once("close", () => {
      socketWatchers.delete(socket);
      for (const watcher of set) watcher();
    });
  }
  watchers.add(check);
  outgoing.once("close", check);
  return () => {
    watchers.delete(check);
    outgoing.removeListener("close", check);
  };
}

/**
 * Calls `onGone` once the caller goes away, at once when it already has (it
 * left while its request waited for a container); returns whether it has and
 * how to stop listening.
 */
function watchCaller(caller: AbortSignal | ServerResponse, onGone: () => void): { gone(): boolean; stop(): void } {
  if (caller instanceof AbortSignal) {
    if (caller.aborted) onGone();
    else caller.addEventListener("abort", onGone, { once: true });
    return { gone: () => caller.aborted, stop: () => caller.removeEventListener("abort", onGone) };
  }
  let gone = false;
  const stop = whenCallerLeaves(caller, () => {
    gone = true;
    onGone();
  });
  return { gone: () => gone, stop };
}

/**
 * Sends one request to a function container and resolves with its response
 * once the headers arrive. Bodies stream both ways with back-pressure.
 */
export function proxyRequest(input: ProxyInput): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    let failure: ProxyError | undefined;
    const fail = (error: ProxyError) => {
      failure ??= error;
      upstream.destroy(error);
    };
    const upstream = request({ host: input.host, port: input.port, agent: input.agent, method: input.method, path: input.path, headers: framedHeaders(input.headers, input.body !== null) });
    // Set once the whole body went to the function; till then a timeout may be the caller's slowness, not the function's.
    let sent = input.body === null;
    const timer = setTimeout(() => {
      // Still waiting for the caller's bytes while the function takes all it is given: the caller is slow.
      const callerSlow = !sent && !upstream.writableNeedDrain;
      fail(
        callerSlow
          ? new ProxyError("client_slow", `the request body was still arriving after ${input.timeoutMs} ms`)
          : new ProxyError("timeout", `no answer within ${input.timeoutMs} ms`),
      );
    }, input.timeoutMs);
    const caller = watchCaller(input.caller, () => fail(new ProxyError("client_gone", "the caller went away")));
    const done = () => {
      clearTimeout(timer);
      caller.stop();
    };
    upstream.once("response", (response) => {
      done();
      resolve(response);
    });
    upstream.once("error", (error) => {
      done();
      // A caller that went away mid-upload breaks the pipe too; that is not the function's fault.
      const callerGone = caller.gone() || input.body?.destroyed === true;
      reject(failure ?? new ProxyError(callerGone ? "client_gone" : "upstream", error.message, { cause: error }));
    });
    if (!input.body) {
      upstream.end();
      return;
    }
    // A body that does not match its declared length fails and destroys the socket instead of desyncing it.
    const declared = input.headers["content-length"] === undefined ? undefined : Number(input.headers["content-length"]);
    const mismatch = () => new ProxyError("upstream", `the request body does not match its Content-Length of ${declared} bytes`);
    let bytes = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        bytes += chunk.length;
        if (bytes > input.maxBodyBytes) callback(new ProxyError("body_too_large", `the request body passed ${input.maxBodyBytes} bytes`));
        else if (declared !== undefined && bytes > declared) callback(mismatch());
        else callback(null, chunk);
      },
      flush(callback) {
        callback(declared !== undefined && bytes !== declared ? mismatch() : null);
      },
    });
    pipeline(input.body, limit, upstream).then(
      () => {
        sent = true;
      },
      (error: unknown) => {
      // The body was not fully forwarded: the socket goes with it, whatever happened to the response.
      if (error instanceof ProxyError) fail(error);
      else if (input.body?.destroyed) fail(new ProxyError("client_gone", "the caller went away mid-upload"));
      else fail(new ProxyError("upstream", `the request body could not be sent: ${(error as Error).message}`, { cause: error }));
      },
    );
  });
}
