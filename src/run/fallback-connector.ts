import { connect } from "node:net";
import type { buildConnector } from "undici";

/** How long a connect to a replica may take before another one is tried: on an overlay it takes a millisecond, a dead node never answers. */
export const CONNECT_TIMEOUT_MS = 500;

/** Port 80 when an origin names none, as undici passes it. */
const portOf = (port: string) => (port === "" ? 80 : Number(port));

/**
 * An undici connector for the replicas of one function on a swarm: it
 * connects to the replica the pool picked (the request's origin), and when
 * that fails (refused, or no answer within `connectTimeoutMs`: a stopped
 * task, a dead node) to another one `next` names, up to `maxTries`. Nothing
 * of the request is written before a connection is made, so a retry never
 * repeats a byte the function saw. Use it without keep-alive: a pooled socket
 * to a node that died would swallow a request.
 */
export function fallbackConnector(options: {
  /** Another replica, none of `tried` (`host:port`); undefined when none is left. */
  next: (tried: ReadonlySet<string>) => { host: string; port: number } | undefined;
  /** Told of each replica (`host:port`) that could not be reached, so the pool avoids it for a while. */
  unreachable: (address: string) => void;
  connectTimeoutMs?: number;
  maxTries?: number;
}): buildConnector.connector {
  const timeoutMs = options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
  return (target, callback) => {
    const tried = new Set<string>();
    let tries = 0;
    const attempt = (host: string, port: number) => {
      tries++;
      tried.add(`${host}:${port}`);
      const socket = connect({ host, port });
      const timer = setTimeout(() => socket.destroy(new Error(`no connection to ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
      const onError = (error: Error) => {
        clearTimeout(timer);
        socket.destroy();
        options.unreachable(`${host}:${port}`);
        const next = tries < (options.maxTries ?? 3) ? options.next(tried) : undefined;
        if (next === undefined) callback(error, null);
        else attempt(next.host, next.port);
      };
      socket.once("error", onError);
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.removeListener("error", onError);
        callback(null, socket);
      });
    };
    attempt(target.hostname, portOf(target.port));
  };
}
