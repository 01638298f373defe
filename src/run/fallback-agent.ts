import { Agent, type ClientRequestArgs } from "node:http";
import { connect } from "node:net";
import type { Duplex } from "node:stream";

/** How long a connect to a replica may take before another one is tried: on an overlay it takes a millisecond, a dead node never answers. */
export const CONNECT_TIMEOUT_MS = 500;

/**
 * An HTTP agent for the replicas of one function on a swarm: it connects
 * to the replica the pool picked, and when that fails (refused, or no answer
 * within `connectTimeoutMs`: a stopped task, a dead node) to another one
 * `next` names, up to `maxTries`. Nothing of the request is sent before a
 * connection is made, so a retry never repeats a byte the function saw.
 * No keep-alive: a pooled socket to a node that died would swallow a request.
 */
export class FallbackAgent extends Agent {
  constructor(
    private readonly options: {
      /** Another replica, none of `tried` (`host:port`); undefined when none is left. */
      next: (tried: ReadonlySet<string>) => { host: string; port: number } | undefined;
      /** Told of each replica (`host:port`) that could not be reached, so the pool avoids it for a while. */
      unreachable: (address: string) => void;
      connectTimeoutMs?: number;
      maxTries?: number;
    },
  ) {
    super({ keepAlive: false });
  }

  override createConnection(request: ClientRequestArgs, callback?: (error: Error | null, socket: Duplex) => void): undefined {
    const tried = new Set<string>();
    let tries = 0;
    const attempt = (host: string, port: number) => {
      tries++;
      tried.add(`${host}:${port}`);
      const socket = connect({ host, port });
      const timer = setTimeout(() => socket.destroy(new Error(`no connection to ${host}:${port} within ${this.options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS} ms`)), this.options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS);
      const onError = (error: Error) => {
        clearTimeout(timer);
        socket.destroy();
        this.options.unreachable(`${host}:${port}`);
        const next = tries < (this.options.maxTries ?? 3) ? this.options.next(tried) : undefined;
        if (next === undefined) callback?.(error, socket);
        else attempt(next.host, next.port);
      };
      socket.once("error", onError);
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.removeListener("error", onError);
        callback?.(null, socket);
      });
    };
    attempt(String(request.host), Number(request.port));
    return undefined;
  }
}
