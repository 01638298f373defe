import type Docker from "dockerode";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { UpstreamError } from "../errors.js";
import { waitUntilReady } from "./readiness.js";
import { CONTAINER_PORT, LABEL, eserverlessLabels, sandboxedContainer } from "./sandbox.js";

/** What to run: one function of one deployment. */
export interface FunctionTarget {
  repository: string;
  name: string;
  image: string;
  commit: string;
  deploymentId: string;
  env: Record<string, string>;
  memoryBytes?: number;
}

/** A started container of a function that answers HTTP. */
export interface Replica {
  key: string;
  deploymentId: string;
  container: Docker.Container;
  host: string;
  port: number;
  /** Milliseconds from create to the first HTTP answer. */
  coldStartMs: number;
  inflight: number;
}

/** A replica lent to one request; `release` must be called when the response ends. */
export interface Lease {
  replica: Replica;
  /** Set when this request waited for a container to start. */
  coldStartMs?: number;
  release(): void;
}

interface FunctionReplicas {
  deploymentId: string;
  replicas: Replica[];
  starting?: Promise<Replica>;
}

/** The pool key of a function: names are case-insensitive, like its URL. */
export function functionKey(repository: string, name: string): string {
  return `${repository}/${name}`.toLowerCase();
}

const slug = (text: string) => text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");

/**
 * Starts, lends and removes the containers of http functions. A function
 * has one current deployment; its replicas are started on demand and shared
 * by concurrent requests.
 */
export class ContainerPool {
  readonly #docker: Docker;
  readonly #log: Logger;
  readonly #publishHost: string;
  readonly #readyTimeoutMs: number;
  readonly #drainTimeoutMs: number;
  readonly #functions = new Map<string, FunctionReplicas>();

  constructor(options: { docker: Docker; log: Logger; publishHost?: string; readyTimeoutMs?: number; drainTimeoutMs?: number }) {
    this.#docker = options.docker;
    this.#log = options.log;
    this.#publishHost = options.publishHost ?? "127.0.0.1";
    this.#readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
    this.#drainTimeoutMs = options.drainTimeoutMs ?? 30_000;
  }

  /** Creates and starts a container for `target` and waits until it answers HTTP. */
  async start(target: FunctionTarget, signal?: AbortSignal): Promise<Replica> {
    const started = performance.now();
    const name = `es-${slug(target.repository)}-${slug(target.name)}-${randomBytes(3).toString("hex")}`;
    let container: Docker.Container;
    try {
      container = await this.#docker.createContainer(
        sandboxedContainer({
          image: target.image,
          name,
          env: { ...target.env, ESERVELESS_FUNCTION: target.name, ESERVELESS_FUNCTION_TYPE: "http", PORT: String(CONTAINER_PORT) },
          labels: eserverlessLabels({ repository: target.repository, commit: target.commit, deployment: target.deploymentId, function: target.name }),
          memoryBytes: target.memoryBytes,
          publishHost: this.#publishHost,
        }),
      );
      await container.start();
    } catch (cause) {
      throw new UpstreamError(`Docker could not start a container for ${target.name}: ${(cause as Error).message}`, { cause, code: "container_start_failed" });
    }
    try {
      const info = await container.inspect();
      const port = Number(info.NetworkSettings.Ports[`${CONTAINER_PORT}/tcp`]?.[0]?.HostPort);
      await waitUntilReady(container, { host: this.#publishHost, port, timeoutMs: this.#readyTimeoutMs, signal });
      const coldStartMs = Math.round(performance.now() - started);
      this.#log.debug({ function: target.name, container: name, port, coldStartMs }, "container ready");
      return { key: functionKey(target.repository, target.name), deploymentId: target.deploymentId, container, host: this.#publishHost, port, coldStartMs, inflight: 0 };
    } catch (error) {
      await this.#removeContainer(container);
      throw error;
    }
  }

  /** Lends a ready replica of the function, cold-starting one when none runs for its deployment. */
  async acquire(target: FunctionTarget): Promise<Lease> {
    const key = functionKey(target.repository, target.name);
    let entry = this.#functions.get(key);
    if (!entry || entry.deploymentId !== target.deploymentId) {
      if (entry) this.#retire(entry);
      entry = { deploymentId: target.deploymentId, replicas: [] };
      this.#functions.set(key, entry);
    }
    const warm = entry.replicas.reduce<Replica | undefined>((best, r) => (!best || r.inflight < best.inflight ? r : best), undefined);
    if (warm) return this.#lend(warm);

    const current = entry;
    current.starting ??= this.start(target)
      .then((replica) => {
        if (this.#functions.get(key) === current) current.replicas.push(replica);
        else this.#drainAndRemove([replica]);
        return replica;
      })
      .finally(() => {
        current.starting = undefined;
      });
    const replica = await current.starting;
    return this.#lend(replica, replica.coldStartMs);
  }

  /**
   * Makes freshly started replicas current for their functions (a deployment
   * going live). Replicas of previous deployments finish their requests and
   * are removed; functions of `repository` without a new replica are dropped.
   */
  activate(repository: string, deploymentId: string, replicas: Replica[]): void {
    const prefix = `${repository.toLowerCase()}/`;
    for (const [key, entry] of this.#functions) {
      if (key.startsWith(prefix) && !replicas.some((r) => r.key === key)) {
        this.#functions.delete(key);
        this.#retire(entry);
      }
    }
    for (const replica of replicas) {
      const previous = this.#functions.get(replica.key);
      if (previous) this.#retire(previous);
      this.#functions.set(replica.key, { deploymentId, replicas: [replica] });
    }
  }

  /** Removes replicas that never went live (a failed or superseded deployment). */
  async discard(replicas: Replica[]): Promise<void> {
    await Promise.all(replicas.map((r) => this.#removeContainer(r.container)));
  }

  /** Removes containers a previous run of eserveless left behind. */
  async removeOrphans(): Promise<number> {
    const containers = await this.#docker.listContainers({ all: true, filters: { label: [`${LABEL}.managed=true`] } });
    await Promise.all(containers.map((c) => this.#removeContainer(this.#docker.getContainer(c.Id))));
    return containers.length;
  }

  /** Stops and removes every container of the pool. */
  async close(): Promise<void> {
    const all = [...this.#functions.values()].flatMap((entry) => entry.replicas);
    this.#functions.clear();
    await this.discard(all);
  }

  #lend(replica: Replica, coldStartMs?: number): Lease {
    replica.inflight++;
    let released = false;
    return {
      replica,
      coldStartMs,
      release: () => {
        if (!released) replica.inflight--;
        released = true;
      },
    };
  }

  #retire(entry: FunctionReplicas): void {
    const replicas = entry.replicas.splice(0);
    this.#drainAndRemove(replicas);
  }

  /** Lets in-flight requests finish (bounded), then removes the containers. */
  #drainAndRemove(replicas: Replica[]): void {
    void (async () => {
      const deadline = Date.now() + this.#drainTimeoutMs;
      while (replicas.some((r) => r.inflight > 0) && Date.now() < deadline) await sleep(50);
      await this.discard(replicas);
    })();
  }

  async #removeContainer(container: Docker.Container): Promise<void> {
    try {
      await container.remove({ force: true });
    } catch (error) {
      // Already gone is fine; anything else leaves an orphan the next start removes.
      if ((error as { statusCode?: number }).statusCode !== 404) {
        this.#log.warn({ err: error, container: container.id }, "could not remove container; it is removed at the next start");
      }
    }
  }
}
