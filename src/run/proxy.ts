import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { pipeline, Transform, type Readable } from "node:stream";
import type { Dispatcher } from "undici";
import type { CallerGone } from "./function-pool.js";

// RFC 9110 §7.6.1: meaningful for one connection only, never forwarded.
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]);

/** Why a proxied exchange failed; the router maps each to a status. */
export class ProxyError extends Error {
  constructor(
    /** `refused`: undici would not send the request as the caller made it (a bad request, not a bad function). */
    readonly kind: "timeout" | "client_slow" | "upstream" | "client_gone" | "body_too_large" | "refused",
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
  /** Connections to the target replica only, closed with it, so no socket outlives its container. */
  dispatcher: Dispatcher;
  /** The replica's origin (`http://host:port`); over a Unix socket only a name, the dispatcher connects to the socket. */
  origin: string;
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

/** How a response body ended: sent whole, cut short by the caller leaving, or broken off by the function. */
export type BodyOutcome = "complete" | "caller_gone" | "broken";

/** A function's answer: its head, and a body that waits for where it goes. */
export interface FunctionResponse {
  readonly statusCode: number;
  /** As the function sent them, names lower-cased, repeated ones as arrays. */
  readonly headers: Record<string, string | string[]>;
  /**
   * Writes the body to `outgoing`, whose head the caller wrote, and ends it;
   * `done` is called once with how the body ended. `outgoing` is destroyed
   * when the function broke off, so the caller sees a cut, not an end.
   */
  pipe(outgoing: ServerResponse, done: (outcome: BodyOutcome) => void): void;
  /** The body as a web stream (errored when the function broke off); `done` as for {@link pipe}. */
  toWeb(done: (outcome: BodyOutcome) => void): ReadableStream<Uint8Array>;
  /** Ends the exchange unread: its head could not be passed on. */
  cancel(reason: string): void;
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
function whenCallerLeaves(outgoing: ServerResponse, onGone: () => void): () => void {
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
 * Whether `caller` left, for {@link Pool.acquire}: its signal aborted, or the
 * response or its client's socket destroyed (a response queued behind another
 * on a pipelined connection has no socket of its own to tell).
 */
export function callerGoneOf(caller: AbortSignal | ServerResponse): CallerGone {
  return caller instanceof AbortSignal ? () => caller.aborted : () => caller.destroyed || caller.req.socket.destroyed;
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

/** Most bytes of a body kept while nothing reads it yet (between the head and `pipe`); past it the function is paused. */
const MAX_EARLY_BYTES = 64 * 1024;

/** undici's codes for a request it refuses to send as given: the caller's doing, not the function's. */
const REFUSED_REQUEST = new Set(["UND_ERR_INVALID_ARG", "UND_ERR_NOT_SUPPORTED"]);

/** Where the body goes: `write` answers false when it is full, and the exchange then waits for `resume`. */
interface Sink {
  write(chunk: Buffer): boolean;
  /** Ends the body, with its last chunk when that is still to write. */
  end(last?: Buffer): void;
  fail(error: Error): void;
}

/** One request to a function and its response, as undici's dispatch handler. */
class Exchange implements Dispatcher.DispatchHandler, FunctionResponse {
  statusCode = 0;
  headers: Record<string, string | string[]> = {};
  #controller: Dispatcher.DispatchController | undefined;
  /** Why the exchange was ended on our side (timeout, the caller gone, a bad body). */
  #failure: ProxyError | undefined;
  #settled = false;
  #outcome: BodyOutcome | undefined;
  #early: Buffer[] = [];
  #earlyBytes = 0;
  #sink: Sink | undefined;
  #done: ((outcome: BodyOutcome) => void) | undefined;
  #body: Transform | undefined;
  /** Set once the caller's whole body went to undici; till then a timeout may be the caller's slowness, not the function's. */
  #sent = false;
  /** What happened to the response body when it ended otherwise than complete. */
  #outcomeError: Error | undefined;
  readonly #timer: NodeJS.Timeout;
  /** Set by watchCaller, which may find the caller gone already (and end the exchange) before it returns. */
  #caller: { gone(): boolean; stop(): void } = { gone: () => true, stop: () => undefined };

  constructor(
    private readonly input: ProxyInput,
    private readonly resolve: (response: FunctionResponse) => void,
    private readonly reject: (error: ProxyError) => void,
  ) {
    this.#timer = setTimeout(() => this.#timeout(), input.timeoutMs);
    this.#caller = watchCaller(input.caller, () => this.#abort(new ProxyError("client_gone", "the caller went away")));
    if (this.#failure) return;
    const body = input.body === null ? null : this.#limited(input.body);
    const { method, path, origin } = input;
    input.dispatcher.dispatch({ origin, method, path, headers: framedHeaders(input.headers, body !== null), body, headersTimeout: 0, bodyTimeout: 0 }, this);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    // Ended while it waited for a connection: it goes no further.
    if (this.#failure) controller.abort(this.#failure);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    clearTimeout(this.#timer);
    this.statusCode = statusCode;
    this.headers = headers as Record<string, string | string[]>;
    this.#settled = true;
    this.resolve(this);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    // undici hands over an empty chunk on each resume while a chunked body waits for its next piece: a web
    // stream would take it, pull, resume undici at once and get another, on microtasks only, starving the loop.
    if (chunk.length === 0) return;
    if (this.#sink) {
      if (!this.#sink.write(chunk)) controller.pause();
      return;
    }
    this.#early.push(chunk);
    this.#earlyBytes += chunk.length;
    if (this.#earlyBytes >= MAX_EARLY_BYTES) controller.pause();
  }

  onResponseEnd(): void {
    this.#end("complete");
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    clearTimeout(this.#timer);
    // A caller that went away mid-upload breaks the request too; that is not the function's fault.
    const callerGone = this.#caller.gone() || this.input.body?.destroyed === true;
    if (this.#settled) {
      this.#end(callerGone || this.#failure?.kind === "client_gone" ? "caller_gone" : "broken", error);
      return;
    }
    this.#caller.stop();
    this.#settled = true;
    const code = (error as { code?: unknown }).code;
    this.reject(
      this.#failure ??
        (error instanceof ProxyError
          ? error
          : callerGone
            ? new ProxyError("client_gone", error.message, { cause: error })
            : typeof code === "string" && REFUSED_REQUEST.has(code)
              ? new ProxyError("refused", error.message, { cause: error })
              : new ProxyError("upstream", error.message, { cause: error })),
    );
  }

  pipe(outgoing: ServerResponse, done: (outcome: BodyOutcome) => void): void {
    let waiting = false;
    const resume = () => {
      waiting = false;
      this.#controller?.resume();
    };
    this.#attach(
      {
        write: (chunk) => {
          if (outgoing.write(chunk)) return true;
          if (!waiting) {
            waiting = true;
            outgoing.once("drain", resume);
          }
          return false;
        },
        end: (last) => outgoing.end(last),
        fail: () => outgoing.destroy(),
      },
      done,
    );
  }

  toWeb(done: (outcome: BodyOutcome) => void): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>({
      start: (stream) => {
        this.#attach(
          {
            write: (chunk) => {
              stream.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
              return (stream.desiredSize ?? 0) > 0;
            },
            end: (last) => {
              if (last !== undefined) stream.enqueue(new Uint8Array(last.buffer, last.byteOffset, last.length));
              stream.close();
            },
            fail: (error) => stream.error(error),
          },
          done,
        );
      },
      pull: () => this.#controller?.resume(),
      cancel: () => this.#abort(new ProxyError("client_gone", "the caller stopped reading")),
    });
  }

  cancel(reason: string): void {
    this.#abort(new ProxyError("upstream", reason));
  }

  /** Sends what arrived before `sink` was given, then the rest as it comes. */
  #attach(sink: Sink, done: (outcome: BodyOutcome) => void): void {
    this.#sink = sink;
    this.#done = done;
    const early = this.#early;
    this.#early = [];
    // A body that came whole with its head (most answers) goes with the end: node then writes head and body
    // to the caller's socket at once, with no second pass through the response's stream nor an empty write.
    const last = this.#outcome === "complete" ? early.pop() : undefined;
    let ready = true;
    for (const chunk of early) ready = sink.write(chunk);
    if (this.#outcome) this.#finish(this.#outcome, last);
    else if (ready) this.#controller?.resume();
  }

  #end(outcome: BodyOutcome, error?: Error): void {
    if (this.#outcome) return;
    this.#outcome = outcome;
    this.#caller.stop();
    this.#outcomeError = error;
    if (this.#sink) this.#finish(outcome);
  }

  #finish(outcome: BodyOutcome, last?: Buffer): void {
    if (outcome === "complete") this.#sink!.end(last);
    else this.#sink!.fail(this.#outcomeError ?? new Error("the response was cut short"));
    this.#done!(outcome);
  }

  #timeout(): void {
    // Still waiting for the caller's bytes while undici takes all it is given: the caller is slow.
    const callerSlow = this.#body !== undefined && !this.#sent && !this.#body.isPaused();
    this.#abort(
      callerSlow
        ? new ProxyError("client_slow", `the request body was still arriving after ${this.input.timeoutMs} ms`)
        : new ProxyError("timeout", `no answer within ${this.input.timeoutMs} ms`),
    );
  }

  /** Ends the exchange from our side, at once when it has not reached a connection yet. */
  #abort(error: ProxyError): void {
    if (this.#failure || this.#outcome) return;
    this.#failure = error;
    if (this.#controller) {
      this.#controller.abort(error);
      return;
    }
    if (this.#settled) return;
    clearTimeout(this.#timer);
    this.#caller.stop();
    this.#settled = true;
    this.reject(error);
  }

  /** The caller's body, cut at `maxBodyBytes` and at its declared length: a body that does not match fails the exchange instead of desyncing the socket. */
  #limited(source: Readable): Transform {
    const { maxBodyBytes, headers } = this.input;
    const declared = headers["content-length"] === undefined ? undefined : Number(headers["content-length"]);
    const mismatch = () => new ProxyError("upstream", `the request body does not match its Content-Length of ${declared} bytes`);
    let bytes = 0;
    const sent = () => (this.#sent = true);
    const limit = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        bytes += chunk.length;
        if (bytes > maxBodyBytes) callback(new ProxyError("body_too_large", `the request body passed ${maxBodyBytes} bytes`));
        else if (declared !== undefined && bytes > declared) callback(mismatch());
        else callback(null, chunk);
      },
      flush(callback) {
        if (declared !== undefined && bytes !== declared) return callback(mismatch());
        sent();
        callback(null);
      },
    });
    this.#body = limit;
    // Its failure reaches undici through `limit`, and this exchange through onResponseError.
    pipeline(source, limit, () => undefined);
    return limit;
  }
}

/**
 * Sends one request to a function container and resolves with the response
 * head once it arrives; its body then goes where the caller says (see
 * {@link FunctionResponse}), with back-pressure both ways. undici's dispatch
 * API carries it: its parser and connection pool cost about a third less CPU
 * per request than node's http client (bench/invoke.ts measures the router).
 */
export function proxyRequest(input: ProxyInput): Promise<FunctionResponse> {
  return new Promise((resolve, reject) => void new Exchange(input, resolve, reject));
}
