import type Docker from "dockerode";
import type { Logger } from "pino";
import type { Dispatcher } from "undici";
import { EserveslessError } from "../errors.js";
import { fallbackConnector } from "./fallback-connector.js";
import { newAgent } from "./undici-dispatchers.js";
import { dropGone, lend, shedNewest, type CallerGone, type Lease, type PoolSettings, type Replica, type Scaling } from "./function-pool.js";
import { probe as probeHttp } from "./readiness.js";
import { CONTAINER_PORT } from "./sandbox.js";
import type { ServiceTask, SwarmServices } from "./swarm-services.js";
import type { Queue } from "./waiting-room.js";

/** How long an address that refused or timed out a connection is avoided. */
const SUSPECT_MS = 10_000;
/** How often the task list is read while requests wait for a replica. */
const POLL_MS = 100;

interface Waiter {
  enqueuedAt: number;
  gone?: CallerGone;
  /** No replica ran when it arrived: it waits for a cold start. */
  cold: boolean;
  resolve(lease: Lease): void;
  reject(error: unknown): void;
  timer: NodeJS.Timeout;
}

/** The service of one function of one deployment, as {@link SwarmFunction} drives it. */
export interface FunctionService {
  id: string;
  name: string;
  /** The project's overlay network, where its tasks' addresses are read. */
  network: string;
}

/**
 * One http function of one deployment on a swarm: one service, whose
 * running tasks are its replicas. It lends them to requests up to
 * `concurrency` each (the router picks the replica, not a VIP), sets the
 * service's replicas from the demand (0 when idle and minReplicas is 0, 1 on
 * a cold start), and avoids for a while a task that could not be reached.
 * Swarm replaces crashed tasks and those of a dead node by itself.
 */
export class SwarmFunction implements Queue {
  readonly replicas: Replica[] = [];
  /** Connections to its replicas, one per request (no keep-alive), falling back to another replica when one cannot be reached. */
  readonly dispatcher: Dispatcher;
  #desired: number;
  /** The replicas the service was last set to: what a refused scale falls back to, so the next tick asks again. */
  #applied: number;
  #scaling: Promise<void> = Promise.resolve();
  readonly #waiters: Waiter[] = [];
  readonly #suspect = new Map<string, number>();
  readonly #taskOf = new WeakMap<Replica, string>();
  #refreshing: Promise<void> | undefined;
  #polling = false;
  #closed = false;
  #turn = 0;
  /** When a request last asked for a replica: replicas asked for since then are not scaled away. */
  #lastDemand: number;

  constructor(
    readonly deploymentId: string,
    readonly service: FunctionService,
    readonly scaling: Scaling,
    private readonly settings: PoolSettings,
    desired: number,
    private readonly parts: {
      services: Pick<SwarmServices, "running" | "scale" | "remove">;
      docker: Pick<Docker, "getContainer">;
      log: Logger;
      now: () => number;
      onScaleFailure?: (error: unknown) => void;
      /** Told once its service is removed (its Docker secrets may go). */
      onRemoved?: () => void;
      /** Whether a task answers HTTP; the readiness probe when absent. */
      probe?: (task: ServiceTask) => Promise<boolean>;
    },
  ) {
    this.#desired = desired;
    this.#applied = desired;
    this.#lastDemand = parts.now();
    this.dispatcher = newAgent({ connect: fallbackConnector({ next: (tried) => this.#pick(tried), unreachable: (address) => this.#avoid(address) }), pipelining: 0 });
  }

  /** The replicas the service is set to run. */
  get desired(): number {
    return this.#desired;
  }

  get queued(): number {
    return this.#waiters.length;
  }

  dropGone(): void {
    dropGone(this.#waiters);
  }

  shed(error: Error): void {
    shedNewest(this.#waiters, error);
  }

  /** Replicas asked for that do not answer yet. */
  get starting(): number {
    return Math.max(0, this.#desired - this.replicas.length);
  }

  /** Takes a replica started for this service (the deployment's first), known by its task. */
  add(replica: Replica, taskId: string): void {
    this.#taskOf.set(replica, taskId);
    this.replicas.push(replica);
    this.#dispatch();
  }

  /** Sets the service's replicas (a deployment's minReplicas, a roll's count), within maxReplicas; the task list is read as they come. */
  scaleTo(count: number): void {
    const want = Math.min(this.scaling.maxReplicas, count);
    if (want === this.#desired) return;
    this.#setReplicas(want);
    void this.#scaling.then(() => this.refresh()).catch(() => undefined);
  }

  /** Lends a replica with room, scaling the service up (from 0 too) when none has. */
  acquire(gone?: CallerGone): Promise<Lease> {
    if (this.#closed) return Promise.reject(new EserveslessError("This version of the function was replaced; retry", { status: 503, code: "replaced", headers: { "retry-after": "1" } }));
    this.#lastDemand = this.parts.now();
    const replica = this.#pick();
    if (replica) return Promise.resolve(this.#lend(replica));
    // Those whose caller left give their places up before anyone is refused.
    if (this.#waiters.length >= this.settings.queueSize) dropGone(this.#waiters);
    if (this.#waiters.length >= this.settings.queueSize && this.#desired >= this.scaling.maxReplicas) {
      return Promise.reject(
        new EserveslessError(`Too many requests: all ${this.scaling.maxReplicas} replicas are busy and ${this.settings.queueSize} requests are waiting`, {
          status: 429,
          code: "queue_full",
          headers: { "retry-after": "1" },
        }),
      );
    }
    try {
      this.settings.enterWaitingRoom?.(this);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return new Promise<Lease>((resolve, reject) => {
      const cold = this.replicas.length === 0;
      const waiter: Waiter = {
        enqueuedAt: this.parts.now(),
        gone,
        cold,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#removeWaiter(waiter);
          waiter.reject(
            this.replicas.length > 0
              ? new EserveslessError(`All ${this.replicas.length} replicas stayed busy for ${this.settings.readyTimeoutMs / 1000} s; raise concurrency or maxReplicas in .eserveless.yaml`, {
                  status: 503,
                  code: "queue_timeout",
                  headers: { "retry-after": "1" },
                })
              : new EserveslessError(`The function did not become ready within ${this.settings.readyTimeoutMs / 1000} s; its deployment log has its last lines`, {
                  status: 503,
                  code: "cold_start_timeout",
                }),
          );
        }, this.settings.readyTimeoutMs),
      };
      this.#waiters.push(waiter);
      this.#grow();
      this.#poll();
    });
  }

  /**
   * Reads the running tasks: new ones join once they answer the probe,
   * those gone leave (their requests in flight end on their own).
   */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#refresh().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  async #refresh(): Promise<void> {
    const tasks = await this.parts.services.running(this.service.id, this.service.network);
    const byId = new Map(tasks.map((task) => [task.id, task]));
    for (const replica of [...this.replicas]) {
      if (byId.has(this.#taskOf.get(replica) ?? "")) continue;
      this.replicas.splice(this.replicas.indexOf(replica), 1);
      replica.state = "draining";
    }
    // Scaled to 0: the tasks still listed are being stopped, and a request sent to one would find it gone.
    if (this.#desired === 0) return;
    const known = new Set(this.replicas.map((r) => this.#taskOf.get(r)));
    const fresh = tasks.filter((task) => !known.has(task.id));
    const probe = this.parts.probe ?? ((task: ServiceTask) => probeHttp({ host: task.address, port: CONTAINER_PORT }));
    const ready = await Promise.all(fresh.map(async (task) => ((await probe(task)) ? task : undefined)));
    for (const task of ready) if (task && !this.#closed && this.#desired > 0) this.add(this.replicaOf(task), task.id);
  }

  /** A replica for a running task; its container lives on its node's engine. */
  replicaOf(task: ServiceTask): Replica {
    return {
      container: this.parts.docker.getContainer(task.containerId),
      name: `${this.service.name}.${task.id.slice(0, 12)}`,
      host: task.address,
      port: CONTAINER_PORT,
      dispatcher: this.dispatcher,
      origin: `http://${task.address}:${CONTAINER_PORT}`,
      coldStartMs: 0,
      state: "ready",
      inflight: 0,
      lastUsed: this.parts.now(),
    };
  }

  /** Reads the task list often while requests wait, until they are served or gone. */
  #poll(): void {
    if (this.#polling) return;
    this.#polling = true;
    const loop = async () => {
      while (this.#waiters.length > 0 && !this.#closed) {
        await this.refresh().catch((error: unknown) => this.parts.log.warn({ err: error }, "could not read the service's tasks"));
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      this.#polling = false;
    };
    void loop();
  }

  /**
   * Housekeeping, called periodically: reads the tasks, scales down to the
   * replicas used within the idle timeout (not below minReplicas), keeps
   * minReplicas up.
   */
  async tick(): Promise<void> {
    if (this.#closed) return;
    await this.refresh();
    if (this.#waiters.length > 0) return;
    const now = this.parts.now();
    const used = this.replicas.filter((r) => r.inflight > 0 || now - r.lastUsed < this.scaling.idleTimeoutMs).length;
    // Replicas still starting are kept while demand is recent; one that never answers (a crash loop) goes with the idle timeout.
    const starting = now - this.#lastDemand < this.scaling.idleTimeoutMs ? Math.max(0, this.#desired - this.replicas.length) : 0;
    const want = Math.min(this.scaling.maxReplicas, Math.max(this.scaling.minReplicas, used + starting));
    if (want !== this.#desired) {
      if (want < this.#desired) this.parts.log.info({ service: this.service.name, from: this.#desired, to: want }, "scaling idle replicas down");
      // Every task goes, and none is left to fall back on: the next request waits for a new one, not for one being stopped.
      if (want === 0) for (const replica of this.replicas.splice(0)) replica.state = "draining";
      this.#setReplicas(want);
    }
  }

  /**
   * Stops lending: waiting requests move to `successor` (or get a 404), those
   * in flight finish (up to the drain timeout), then the service is removed.
   */
  async close(successor?: { acquire(): Promise<Lease> }, options: { keepService?: boolean } = {}): Promise<void> {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) {
      clearTimeout(waiter.timer);
      if (successor) successor.acquire().then(waiter.resolve, waiter.reject);
      else waiter.reject(new EserveslessError("The function was removed", { status: 404, code: "function_removed" }));
    }
    if (options.keepService) return;
    const deadline = this.parts.now() + this.settings.drainTimeoutMs;
    for (const replica of this.replicas) replica.state = "draining";
    while (this.replicas.some((r) => r.inflight > 0) && this.parts.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    await this.#scaling;
    await this.parts.services
      .remove(this.service.id)
      .then(() => this.parts.onRemoved?.())
      .catch((error: unknown) => this.parts.log.warn({ err: error, service: this.service.name }, "could not remove a service; the next start removes it"));
    void this.dispatcher.destroy();
  }

  /** Asks for as many replicas as waiting and in-flight requests need, up to maxReplicas. */
  #grow(): void {
    // No replica is asked for callers who left.
    dropGone(this.#waiters);
    const inflight = this.replicas.reduce((sum, r) => sum + r.inflight, 0);
    const need = Math.ceil((inflight + this.#waiters.length) / this.scaling.concurrency);
    const want = Math.min(this.scaling.maxReplicas, Math.max(need, this.scaling.minReplicas, 1));
    if (want > this.#desired) this.#setReplicas(want);
  }

  #setReplicas(count: number): void {
    this.#desired = count;
    this.#scaling = this.#scaling.then(() =>
      this.parts.services.scale(this.service.id, count).then(() => void (this.#applied = count), (error: unknown) => {
        this.parts.log.warn({ err: error, service: this.service.name, replicas: count }, "could not scale the service");
        // Unless asked for another count since, the service still has its last one: the next tick or request asks again.
        if (this.#desired === count) this.#desired = this.#applied;
        this.parts.onScaleFailure?.(error);
        // A refused scale-up leaves waiting requests nothing to wait for; a refused scale-down keeps the tasks they can have.
        if (count > 0 && this.replicas.length === 0) {
          const failure = new EserveslessError(`The function did not become ready: ${(error as Error).message}`, { status: 503, code: "not_ready", cause: error });
          for (const waiter of this.#waiters.splice(0)) {
            clearTimeout(waiter.timer);
            waiter.reject(failure);
          }
        }
      }),
    );
  }

  /** The least busy replica with room, not among `tried`, avoiding addresses that failed lately. */
  #pick(tried?: ReadonlySet<string>): Replica | undefined {
    const now = this.parts.now();
    let best: Replica | undefined;
    // Ties go round the replicas, so sequential requests spread over the nodes too.
    const start = this.#turn++ % Math.max(1, this.replicas.length);
    for (const r of [...this.replicas.slice(start), ...this.replicas.slice(0, start)]) {
      if (r.state !== "ready" || r.inflight >= this.scaling.concurrency || tried?.has(`${r.host}:${r.port}`)) continue;
      if ((this.#suspect.get(`${r.host}:${r.port}`) ?? 0) > now) continue;
      if (!best || r.inflight < best.inflight) best = r;
    }
    return best;
  }

  #avoid(address: string): void {
    this.#suspect.set(address, this.parts.now() + SUSPECT_MS);
    void this.refresh().catch(() => undefined);
  }

  #lend(replica: Replica, coldStartMs?: number): Lease {
    return lend(replica, this.parts.now, coldStartMs, {
      release: () => this.#dispatch(),
      discard: (reason) => {
        // Swarm replaces a task that crashed; a hung one is avoided for a while.
        this.parts.log.warn({ replica: replica.name, reason }, "avoiding a replica that failed a request");
        this.#avoid(`${replica.host}:${replica.port}`);
        this.#dispatch();
      },
    });
  }

  /** Hands free capacity to waiting requests, oldest first; those that waited for the first replica had a cold start. */
  #dispatch(): void {
    while (this.#waiters.length > 0) {
      // A caller that left gets no slot.
      if (this.#waiters[0]!.gone?.()) {
        dropGone(this.#waiters);
        continue;
      }
      const replica = this.#pick();
      if (!replica) break;
      const waiter = this.#waiters.shift()!;
      clearTimeout(waiter.timer);
      waiter.resolve(this.#lend(replica, waiter.cold ? this.parts.now() - waiter.enqueuedAt : undefined));
    }
    if (this.#waiters.length > 0) this.#grow();
  }

  #removeWaiter(waiter: Waiter): void {
    const index = this.#waiters.indexOf(waiter);
    if (index >= 0) this.#waiters.splice(index, 1);
  }
}
