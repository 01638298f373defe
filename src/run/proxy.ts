import { request, type Agent, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

// RFC 9110 §7.6.1: meaningful for one connection only, never forwarded.
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]);

/** Why a proxied exchange failed; the router maps each to a status. */
export class ProxyError extends Error {
  constructor(
    readonly kind: "timeout" | "upstream" | "client_gone" | "body_too_large",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "ProxyError";
  }
}

/** Headers without hop-by-hop ones, including those the Connection header names. */
export function endToEndHeaders(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const named = new Set(
    String(headers.connection ?? "")
      .split(",")
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of Object.entries(headers)) {
    const name = key.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  return out;
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
  /** Aborted when the caller goes away. */
  signal: AbortSignal;
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
    const upstream = request({ host: input.host, port: input.port, agent: input.agent, method: input.method, path: input.path, headers: input.headers });
    const timer = setTimeout(() => fail(new ProxyError("timeout", `no answer within ${input.timeoutMs} ms`)), input.timeoutMs);
    const onAbort = () => fail(new ProxyError("client_gone", "the caller went away"));
    input.signal.addEventListener("abort", onAbort, { once: true });
    const done = () => {
      clearTimeout(timer);
      input.signal.removeEventListener("abort", onAbort);
    };
    upstream.once("response", (response) => {
      done();
      resolve(response);
    });
    upstream.once("error", (error) => {
      done();
      // A caller that went away mid-upload breaks the pipe too; that is not the function's fault.
      const callerGone = input.signal.aborted || input.body?.destroyed === true;
      reject(failure ?? new ProxyError(callerGone ? "client_gone" : "upstream", error.message, { cause: error }));
    });
    if (!input.body) {
      upstream.end();
      return;
    }
    let bytes = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        bytes += chunk.length;
        if (bytes > input.maxBodyBytes) callback(new ProxyError("body_too_large", `the request body passed ${input.maxBodyBytes} bytes`));
        else callback(null, chunk);
      },
    });
    pipeline(input.body, limit, upstream).catch((error: unknown) => {
      if (error instanceof ProxyError) fail(error);
      else if (input.body?.destroyed && !upstream.destroyed) fail(new ProxyError("client_gone", "the caller went away mid-upload"));
    });
  });
}
