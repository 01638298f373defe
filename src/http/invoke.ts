import type { IncomingMessage } from "node:http";
import { Hono, type Context } from "hono";
import { proxy } from "hono/proxy";
import type { Logger } from "pino";
import { containerEnvironment } from "../manifest/function-environment.js";
import { EserverlessError, NotFoundError } from "../errors.js";
import type { FunctionSpec } from "../manifest/manifest-schema.js";
import type { ContainerPool, Lease } from "../run/container-pool.js";
import { PROBE_HEADER } from "../run/readiness.js";
import type { Store } from "../store/store.js";

const DEFAULT_TIMEOUT_SECONDS = 30;

/** The caller's address appended to any X-Forwarded-For it sent (the node adapter exposes the socket). */
function forwardedFor(c: Context): string | undefined {
  const remote = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket.remoteAddress;
  const previous = c.req.header("x-forwarded-for");
  return [previous, remote].filter(Boolean).join(", ") || undefined;
}

/** Ends the lease when the response body is fully sent or the client goes away. */
function releaseWhenDone(body: ReadableStream<Uint8Array>, lease: Lease): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          lease.release();
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        lease.release();
        controller.error(error);
      }
    },
    cancel(reason) {
      lease.release();
      return reader.cancel(reason);
    },
  });
}

/**
 * `/fn/<owner>/<repo>/<function>/…`: every method, proxied to a ready
 * container of the live deployment; the function sees the rest of the path.
 */
export function invokeRoutes(options: { store: Store; pool: ContainerPool; log: Logger }) {
  const handler = async (c: Context) => {
    const { owner, repo, name } = c.req.param() as { owner: string; repo: string; name: string };
    const repository = `${owner}/${repo}`;
    const fn = options.store.liveFunction(repository, name);
    if (!fn) throw new NotFoundError(`No function "${name}" is live in ${repository}. Check the name in .eserveless.yaml and that a deployment succeeded.`, { code: "function_not_found" });
    if (fn.type !== "http") throw new NotFoundError(`${repository}/${name} is a cron function; it runs on its schedule and has no URL.`, { code: "not_http" });

    const url = new URL(c.req.url);
    const prefix = url.pathname.split("/").slice(0, 5).join("/");
    const path = url.pathname.slice(prefix.length) || "/";
    const spec = fn.spec as FunctionSpec & { entry: string };
    const timeoutMs = (spec.timeout ?? DEFAULT_TIMEOUT_SECONDS) * 1000;

    const started = performance.now();
    const lease = await options.pool.acquire({
      repository: fn.repository,
      name: fn.name,
      image: fn.image,
      commit: fn.commit,
      deploymentId: fn.deploymentId,
      env: containerEnvironment(spec, spec),
      memoryBytes: spec.memory,
    });
    let response: Response;
    try {
      response = await proxy(`http://${lease.replica.host}:${lease.replica.port}${path}${url.search}`, {
        raw: c.req.raw,
        headers: {
          ...c.req.header(),
          [PROBE_HEADER]: undefined,
          "x-forwarded-for": forwardedFor(c),
          "x-forwarded-host": url.host,
          "x-forwarded-proto": url.protocol.replace(":", ""),
        },
        signal: AbortSignal.any([c.req.raw.signal, AbortSignal.timeout(timeoutMs)]),
      });
    } catch (error) {
      lease.release();
      if ((error as Error).name === "TimeoutError") {
        throw new EserverlessError(`${repository}/${name} did not answer within its ${timeoutMs / 1000} s timeout`, { status: 504, code: "function_timeout" });
      }
      throw new EserverlessError(`${repository}/${name} failed before it answered (${(error as Error).message})`, { status: 502, code: "function_crashed" });
    }
    const headers = new Headers(response.headers);
    if (lease.coldStartMs !== undefined) headers.append("server-timing", `cold-start;dur=${lease.coldStartMs}`);
    options.log.info(
      { function: `${repository}/${name}`, method: c.req.method, path, status: response.status, ms: Math.round(performance.now() - started), cold: lease.coldStartMs !== undefined },
      "invocation",
    );
    const body = response.body ? releaseWhenDone(response.body, lease) : (lease.release(), null);
    return new Response(body, { status: response.status, statusText: response.statusText, headers });
  };
  return new Hono().all("/fn/:owner/:repo/:name", handler).all("/fn/:owner/:repo/:name/*", handler);
}
