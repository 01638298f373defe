import type Docker from "dockerode";
import type { Logger } from "pino";
import type { Dispatcher } from "undici";
import { EserveslessError } from "../errors.js";
import type { HttpSpec } from "../manifest/manifest-schema.js";
import { ContainerBudgetError } from "./container-budget.js";
import { errorMessage } from "./docker-error.js";
import type { Queue } from "./waiting-room.js";

/**
 * How one function scales: the settings of its manifest entry, whose schema
 * holds their defaults (`concurrency` requests one replica serves at once).
 */
export type Scaling = Pick<HttpSpec, "concurrency" | "minReplicas" | "maxReplicas"> & {
  /** Idle time before a replica above minReplicas is removed: the entry's `idleTimeout`, in milliseconds. */
  idleTimeoutMs: number;
};

/** A started container of a function that answers HTTP. */
export interface Replica {
  container: Docker.Container;
  name: string;
  host: string;
  port: number;
  /** Set when it is reached over this Unix socket (its dispatcher connects there, host and port only name it). */
  socketPath?: string;
  /** Keep-alive connections to this replica only; destroyed with it. */
  dispatcher: Dispatcher;
  /** What requests to it are addressed to: `http://host:port`, or only a name over a socket. */
  origin: string;
  /** Milliseconds from create to the first HTTP answer (0 when adopted). */
  coldStartMs: number;
  state: "ready" | "paused" | "draining";
  inflight: number;
  lastUsed: number;
  /** A pause or unpause under way; requests lent the replica wait for it. */
  transition?: Promise<void>;
  /** Its removal, once asked for: it is removed once, and whoever asks again waits for that one. */
  removed?: Promise<void>;
}

/** A replica lent to one request. */
export interface Lease {
  replica: Replica;
  /** Set when the request waited for a container started for it: how long it waited. */
  coldStartMs?: number;
  /** Returns the replica; call once the response has ended. */
  release(): void;
  /** Returns a replica that hung or crashed: it is removed and replaced on demand. */
  discard(reason: string): void;
}

/**
 * Lends `replica` to one request: counts it in flight until the lease is
 * released or discarded, whichever comes first (the other is then a no-op),
 * and calls the pool's `then` for it.
 */
export function lend(replica: Replica, now: () => number, coldStartMs: number | undefined, then: { release(): void; discard(reason: string): void }): Lease {
  replica.inflight++;
  replica.lastUsed = now();
  let done = false;
  const finish = () => {
    if (done) return false;
    done = true;
    replica.inflight--;
    replica.lastUsed = now();
    return true;
  };
  return {
    replica,
    coldStartMs,
    release: () => {
      if (finish()) then.release();
    },
    discard: (reason: string) => {
      if (finish()) then.discard(reason);
    },
  };
}

/** Whether the caller of a request has left (hung up); asked only of requests that wait for a slot. */
export type CallerGone = () => boolean;

/** What a waiting request whose caller left is rejected with. */
const callerLeft = () => new EserveslessError("The caller went away while its request waited for a container", { status: 499, code: "client_gone" });

/**
 * Takes the requests whose caller left out of `waiters`, rejecting each with
 * a 499: a queue of requests nobody waits for would turn live callers away
 * with 429s and start containers for nobody. Asked where the queue decides
 * something (full, serving, growing), not watched per request: a listener per
 * waiting request cost the router's heap a mark-compact a second under load.
 */
export function dropGone<W extends { gone?: CallerGone; timer: NodeJS.Timeout; reject(error: unknown): void }>(waiters: W[]): void {
  let kept = 0;
  for (const waiter of waiters) {
    if (waiter.gone?.()) {
      clearTimeout(waiter.timer);
      waiter.reject(callerLeft());
    } else waiters[kept++] = waiter;
  }
  waiters.length = kept;
}

/** Turns the most recent of `waiters` away with `error`: the server's waiting room gives its place to a shorter queue. */
export function shedNewest<W extends { timer: NodeJS.Timeout; reject(error: unknown): void }>(waiters: W[], error: Error): void {
  const waiter = waiters.pop();
  if (!waiter) return;
  clearTimeout(waiter.timer);
  waiter.reject(error);
}

/** What a function pool does with Docker; the container pool provides it. */
export interface ReplicaDriver {
  start(signal?: AbortSignal): Promise<Replica>;
  remove(replica: Replica): Promise<void>;
  pause(replica: Replica): Promise<void>;
  unpause(replica: Replica): Promise<void>;
  /** A start failed; the driver records why (the deployment log). */
  startFailed(error: unknown): void;
}

interface Waiter {
  enqueuedAt: number;
  gone?: CallerGone;
  resolve(lease: Lease): void;
  reject(error: unknown): void;
  timer: NodeJS.Timeout;
}

export interface PoolSettings {
  /** Longest a request waits for a container to start (cold start timeout). */
  readyTimeoutMs: number;
  /** Requests that may wait for capacity before 429. */
  queueSize: number;
  /** Idle time before a replica is paused; 0 disables the paused tier. */
  pauseAfterMs: number;
  /** Longest in-flight requests may run on a replaced replica before it is removed. */
  drainTimeoutMs: number;
  /**
   * How long a request may wait for a slot on a running replica before the
   * pool starts another (ESERVELESS_SCALE_UP_AFTER_MS): scaling follows
   * measured queueing, not concurrency alone.
   */
  scaleUpAfterMs: number;
  /**
   * Whether the router itself is the bottleneck (its event loop busy): then
   * requests wait because of it, not of the function, and no replica starts
   * for queueing. Never, when absent.
   */
  routerSaturated?: () => boolean;
  /** Called before a request waits on a queue: throws when the server may hold no more (ESERVELESS_MAX_WAITING, see `waiting-room.ts`). */
  enterWaitingRoom?: (queue: Queue) => void;
}

/**
 * The default of {@link PoolSettings.scaleUpAfterMs}: a fast function whose
 * queue drains within it stays on one replica; a slow one whose requests wait
 * longer gets more.
 */
export const DEFAULT_SCALE_UP_AFTER_MS = 50;

const MAX_BACKOFF_MS = 60_000;
/** How long keeping minReplicas warm waits after the budget refused a start. */
const BUDGET_RETRY_MS = 10_000;

/**
 * The replicas of one function of one deployment: lends them to requests up
 * to `concurrency` each, starts more up to `maxReplicas`, queues past that
 * (bounded), pauses and removes idle ones, and backs off a function that
 * keeps failing to start.
 */
export class FunctionPool implements Queue {
  readonly replicas: Replica[] = [];
  #starting = 0;
  /** Starts in flight, which close() stops and waits for. */
  readonly #starts = new Set<{ abort: AbortController; settled: Promise<unknown> }>();
  readonly #waiters: Waiter[] = [];
  #failures = 0;
  #backoffUntil = 0;
  #lastStartError: unknown;
  #closed = false;
  /** The budget refused the last start: said once in the deployment log, and keeping warm waits until then. */
  #budgetRefusedUntil: number | undefined;
  /** When the last replica joined: queueing is measured from then, so a new replica gets its chance to drain the queue. */
  #grewAt = Number.NEGATIVE_INFINITY;
  /** Looks at the queue again once its oldest request may have waited scaleUpAfterMs. */
  #scaleTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly deploymentId: string,
    readonly scaling: Scaling,
    private readonly settings: PoolSettings,
    private readonly driver: ReplicaDriver,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Requests waiting for capacity. */
  get queued(): number {
    return this.#waiters.length;
  }

  dropGone(): void {
    dropGone(this.#waiters);
  }

  shed(error: Error): void {
    shedNewest(this.#waiters, error);
  }

  get starting(): number {
    return this.#starting;
  }

  /**
   * Lends a replica, starting, resuming or waiting for one as needed. Not
   * async: a request that finds a free replica (most, under load) costs one
   * resolved promise, not a chain of them.
   */
  acquire(gone?: CallerGone): Promise<Lease> {
    let obtained: Lease | Promise<Lease>;
    try {
      obtained = this.#obtain(gone);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return obtained instanceof Promise ? obtained.then((lease) => this.#ready(lease, gone)) : this.#ready(obtained, gone);
  }

  /** The lease once a pause or unpause of its replica settled; when it could not be resumed, the replica is replaced and another lease sought. */
  #ready(lease: Lease, gone?: CallerGone): Promise<Lease> {
    const transition = lease.replica.transition;
    if (!transition) return Promise.resolve(lease);
    return transition.then(
      () => lease,
      (error: unknown) => {
        lease.discard(`could not be resumed: ${errorMessage(error)}`);
        return this.acquire(gone);
      },
    );
  }

  /** A lease at once, or the promise of one; throws when the request is refused. */
  #obtain(gone: CallerGone | undefined): Lease | Promise<Lease> {
    if (this.#closed) throw new EserveslessError("This version of the function was replaced; retry", { status: 503, code: "replaced", headers: { "retry-after": "1" } });
    const replica = this.#pick();
    if (replica) {
      if (replica.state === "paused") this.#resume(replica);
      return this.#lend(replica);
    }
    const wait = this.#backoffUntil - this.now();
    if (wait > 0 && this.replicas.length === 0) {
      const seconds = Math.ceil(wait / 1000);
      throw new EserveslessError(`The function keeps failing to start (${errorMessage(this.#lastStartError)}); next try in ${seconds} s. Its deployment log has the details.`, {
        status: 503,
        code: "start_backoff",
        headers: { "retry-after": String(seconds) },
      });
    }
    // Requests that replicas already starting will take do not count against the queue, nor those whose caller left.
    let queued = this.#waiters.length - this.#starting * this.scaling.concurrency;
    if (queued >= this.settings.queueSize) {
      dropGone(this.#waiters);
      queued = this.#waiters.length - this.#starting * this.scaling.concurrency;
    }
    // A full queue is queueing measured too: grow at once if there is room, else refuse.
    const full = queued >= this.settings.queueSize;
    if (full && !this.#canGrow()) {
      throw new EserveslessError(`Too many requests: all ${this.scaling.maxReplicas} replicas are busy and ${this.settings.queueSize} requests are waiting`, {
        status: 429,
        code: "queue_full",
        headers: { "retry-after": "1" },
      });
    }
    // Before the start: a request the server's waiting room turns away starts no container.
    this.settings.enterWaitingRoom?.(this);
    if (full) this.#start();
    return new Promise<Lease>((resolve, reject) => {
      const waiter: Waiter = {
        enqueuedAt: this.now(),
        gone,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#removeWaiter(waiter);
          waiter.reject(
            this.#live() > 0
              ? new EserveslessError(
                  `All ${this.#live()} replicas stayed busy for ${this.settings.readyTimeoutMs / 1000} s; raise concurrency or maxReplicas in .eserveless.yaml`,
                  { status: 503, code: "queue_timeout", headers: { "retry-after": "1" } },
                )
              : new EserveslessError(`The function did not become ready within ${this.settings.readyTimeoutMs / 1000} s; its deployment log has its last lines`, {
                  status: 503,
                  code: "cold_start_timeout",
                }),
          );
        }, this.settings.readyTimeoutMs),
      };
      this.#waiters.push(waiter);
      this.#scaleUp();
    });
  }

  /** Adds a replica started elsewhere (a deployment's first, or one adopted after a restart). */
  add(replica: Replica): void {
    this.replicas.push(replica);
    this.#grewAt = this.now();
    this.#dispatch();
  }

  /**
   * Housekeeping, called periodically: pauses and removes idle replicas and
   * keeps `minReplicas` warm.
   */
  async tick(): Promise<void> {
    if (this.#closed) return;
    const now = this.now();
    for (const replica of [...this.replicas]) {
      if (replica.inflight > 0 || replica.state === "draining") continue;
      const idle = now - replica.lastUsed;
      if (idle >= this.scaling.idleTimeoutMs && this.#live() > this.scaling.minReplicas) {
        this.log.info({ container: replica.name, idleMs: idle }, "removing idle container");
        this.#retire(replica);
      } else if (replica.state === "ready" && !replica.transition && this.settings.pauseAfterMs > 0 && idle >= this.settings.pauseAfterMs) {
        replica.state = "paused";
        const pause = this.driver.pause(replica).catch((error: unknown) => {
          // Could not pause (it may have exited): treat it as gone.
          this.log.warn({ err: error, container: replica.name }, "pause failed; removing the container");
          this.#retire(replica);
        });
        this.#track(replica, pause);
        await pause;
      }
    }
    const waitForBudget = this.#budgetRefusedUntil !== undefined && this.now() < this.#budgetRefusedUntil;
    if (this.#live() + this.#starting < this.scaling.minReplicas && this.now() >= this.#backoffUntil && !waitForBudget) this.#start();
  }

  /**
   * Stops lending and removes every replica once its requests finished (or
   * the drain timeout passed). Waiting requests are moved to `successor`.
   */
  async close(successor?: FunctionPool): Promise<void> {
    this.#closed = true;
    // A container still starting is stopped and removed before close resolves: its project's network can go after.
    for (const start of this.#starts) start.abort.abort();
    clearTimeout(this.#scaleTimer);
    this.#scaleTimer = undefined;
    for (const waiter of this.#waiters.splice(0)) {
      clearTimeout(waiter.timer);
      if (successor) successor.acquire().then(waiter.resolve, waiter.reject);
      else waiter.reject(new EserveslessError("The function was removed", { status: 404, code: "function_removed" }));
    }
    const deadline = this.now() + this.settings.drainTimeoutMs;
    const replicas = this.replicas.splice(0);
    for (const replica of replicas) replica.state = "draining";
    while (replicas.some((r) => r.inflight > 0) && this.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    await Promise.all([...replicas.map((r) => this.#remove(r)), ...[...this.#starts].map((start) => start.settled)]);
  }

  #live(): number {
    let live = 0;
    for (const r of this.replicas) if (r.state !== "draining") live++;
    return live;
  }

  /** The least busy replica with room: ready ones first, then a paused one. */
  #pick(): Replica | undefined {
    let best: Replica | undefined;
    for (const r of this.replicas) {
      if (r.state !== "ready" || r.inflight >= this.scaling.concurrency) continue;
      if (!best || r.inflight < best.inflight) best = r;
    }
    return best ?? this.replicas.find((r) => r.state === "paused");
  }

  /**
   * Unpauses a replica, after any pause still under way. It is marked ready
   * at once so it can be lent; requests wait for `transition` before using it.
   */
  #resume(replica: Replica): void {
    replica.state = "ready";
    this.#track(replica, (replica.transition ?? Promise.resolve()).then(() => this.driver.unpause(replica)));
  }

  /** Records a pause or unpause as the replica's transition until it settles. */
  #track(replica: Replica, transition: Promise<void>): void {
    replica.transition = transition;
    const clear = () => {
      if (replica.transition === transition) replica.transition = undefined;
    };
    transition.then(clear, clear);
  }

  #remove(replica: Replica): Promise<void> {
    // close() waits for a removal its last request's release already began: the container is gone when it resolves.
    replica.removed ??= this.driver.remove(replica);
    return replica.removed;
  }

  #canGrow(): boolean {
    return this.#live() + this.#starting < this.scaling.maxReplicas && this.now() >= this.#backoffUntil;
  }

  #lend(replica: Replica, coldStartMs?: number): Lease {
    return lend(replica, this.now, coldStartMs, {
      release: () => {
        if (replica.state === "draining" && replica.inflight === 0) void this.#remove(replica);
        this.#dispatch();
      },
      discard: (reason) => {
        this.log.warn({ container: replica.name, reason, inflight: replica.inflight }, "replacing container");
        this.#retire(replica);
        this.#dispatch();
      },
    });
  }

  /**
   * Takes a replica out of the pool (idle, or one that failed a request: a
   * timeout, a crash, a bad answer): it gets no more requests, and goes at
   * once when it has none, else once those it has finished (each bounded by
   * the function's timeout) or after the drain timeout. Removed at once, a
   * replica that failed one request would cut its other callers' requests:
   * with 100 at a time, one caller who makes its own request time out would
   * fail 99 others with a 502.
   */
  #retire(replica: Replica): void {
    const index = this.replicas.indexOf(replica);
    if (index >= 0) this.replicas.splice(index, 1);
    replica.state = "draining";
    if (replica.inflight === 0) {
      void this.#remove(replica);
      return;
    }
    setTimeout(() => void this.#remove(replica), this.settings.drainTimeoutMs).unref();
  }

  /**
   * Hands free capacity to waiting requests, oldest first, and starts more
   * when they still wait. Only those served by `started`, a replica that
   * just started for them, had a cold start; the others waited in the queue.
   */
  #dispatch(started?: Replica): void {
    while (this.#waiters.length > 0) {
      // A caller that left gets no slot.
      if (this.#waiters[0]!.gone?.()) {
        dropGone(this.#waiters);
        continue;
      }
      const replica = this.#pick();
      if (!replica) break;
      if (replica.state === "paused") this.#resume(replica);
      const waiter = this.#waiters.shift()!;
      clearTimeout(waiter.timer);
      waiter.resolve(this.#lend(replica, replica === started ? this.now() - waiter.enqueuedAt : undefined));
    }
    if (this.#waiters.length > 0) this.#scaleUp();
  }

  /**
   * Starts replicas for requests that queue, up to maxReplicas. With none
   * running, one starts at once, and no other before it runs. With some, only requests that
   * waited for a slot at least scaleUpAfterMs (counted from when the last
   * replica joined) count: one replica starts per `concurrency` of them, less
   * those starting. A fast function drains its queue sooner and stays small.
   * scaleUpAfterMs 0 starts one per `concurrency` waiting requests at once.
   */
  #scaleUp(): void {
    // At maxReplicas nothing is to be measured: this runs on every release while requests wait.
    if (this.#waiters.length === 0 || !this.#canGrow()) return;
    if (this.#live() === 0 && this.settings.scaleUpAfterMs > 0) {
      // No container starts for callers who left.
      if (this.#starting === 0) dropGone(this.#waiters);
      if (this.#waiters.length === 0) return;
      // Waiting for a start is not queueing for a slot: one start at a time until a replica runs.
      if (this.#starting === 0) this.#start();
      return;
    }
    // A look is already due no later than the oldest waiter can be overdue (or the saturation recheck):
    // this runs on every release while requests wait, and the answer cannot change before then.
    if (this.#scaleTimer !== undefined) return;
    const now = this.now();
    if (this.settings.scaleUpAfterMs > 0 && this.settings.routerSaturated?.()) {
      // Another container would take CPU from the router that keeps them waiting: look again later.
      this.#recheckScaleUpIn(this.settings.scaleUpAfterMs);
      return;
    }
    dropGone(this.#waiters);
    if (this.#waiters.length === 0) return;
    const since = (waiter: Waiter) => Math.max(waiter.enqueuedAt, this.#grewAt);
    let overdue = 0;
    // Waiters are in arrival order: the overdue ones are at the front.
    while (overdue < this.#waiters.length && now - since(this.#waiters[overdue]!) >= this.settings.scaleUpAfterMs) overdue++;
    if (overdue > this.#starting * this.scaling.concurrency) {
      const waitedMs = now - since(this.#waiters[0]!);
      this.log.info({ waitedMs, waiting: this.#waiters.length, replicas: this.#live(), starting: this.#starting }, "requests wait for a slot: starting another container");
    }
    while (overdue > this.#starting * this.scaling.concurrency && this.#canGrow()) this.#start();
    if (overdue < this.#waiters.length && this.#canGrow()) this.#recheckScaleUpIn(since(this.#waiters[overdue]!) + this.settings.scaleUpAfterMs - now);
  }

  #recheckScaleUpIn(ms: number): void {
    if (this.#scaleTimer !== undefined) return;
    this.#scaleTimer = setTimeout(() => {
      this.#scaleTimer = undefined;
      if (!this.#closed) this.#scaleUp();
    }, Math.max(ms, 1));
    this.#scaleTimer.unref();
  }

  #start(): void {
    this.#starting++;
    const abort = new AbortController();
    const settled = this.driver.start(abort.signal).then(
      (replica) => {
        this.#starting--;
        this.#failures = 0;
        this.#budgetRefusedUntil = undefined;
        if (this.#closed) return this.#remove(replica);
        this.replicas.push(replica);
        this.#grewAt = this.now();
        this.#dispatch(replica);
      },
      (error: unknown) => {
        this.#starting--;
        // Stopped by close(): not the function's failure.
        if (this.#closed) return;
        if (error instanceof ContainerBudgetError) {
          this.#refusedByBudget(error);
          return;
        }
        this.#failures++;
        this.#lastStartError = error;
        // 1 s, 2 s, 4 s … so a crashing function is not restarted in a tight loop.
        this.#backoffUntil = this.now() + Math.min(500 * 2 ** this.#failures, MAX_BACKOFF_MS);
        this.driver.startFailed(error);
        if (this.#starting === 0 && this.#live() === 0) {
          const failure = new EserveslessError(`The function did not become ready: ${errorMessage(error)}`, { status: 503, code: "not_ready", cause: error });
          for (const waiter of this.#waiters.splice(0)) {
            clearTimeout(waiter.timer);
            waiter.reject(failure);
          }
        }
      },
    );
    const start = { abort, settled: settled.catch(() => undefined) };
    this.#starts.add(start);
    void start.settled.finally(() => this.#starts.delete(start));
  }

  /**
   * The server has no room for another container: not the function's fault,
   * so no backoff. Requests that no replica can serve get the refusal (503,
   * its reason and Retry-After) at once instead of waiting for a timeout.
   */
  #refusedByBudget(error: ContainerBudgetError): void {
    if (this.#budgetRefusedUntil === undefined) this.driver.startFailed(error);
    this.#budgetRefusedUntil = this.now() + BUDGET_RETRY_MS;
    if (this.#starting > 0 || this.#live() > 0) return;
    for (const waiter of this.#waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
  }

  #removeWaiter(waiter: Waiter): void {
    const index = this.#waiters.indexOf(waiter);
    if (index >= 0) this.#waiters.splice(index, 1);
  }
}
