import type Docker from "dockerode";
import { randomBytes } from "node:crypto";
import { newPool } from "./undici-dispatchers.js";
import type { Logger } from "pino";
import { EserveslessError, UpstreamError } from "../errors.js";
import { ContainerBudget, type Reservation } from "./container-budget.js";
import { redactEnvironment } from "../manifest/function-environment.js";
import { DEFAULT_SCALE_UP_AFTER_MS, FunctionPool, type Lease, type PoolSettings, type Replica, type Scaling, type CallerGone } from "./function-pool.js";
import { HOLDER_LABEL } from "./network-holders.js";
import { probe, waitUntilReady, type Endpoint } from "./readiness.js";
import { OutputCollector, followReplicaOutput, type OutputSink } from "./replica-output.js";
import type { ProjectNetworks } from "./project-networks.js";
import type { Pool } from "./pool.js";
import { CONTAINER_PORT, LABEL, SOCKET_LABEL, eserveslessLabels, sandboxDefaults, sandboxedContainer } from "./sandbox.js";
import type { SocketDirs } from "./socket-dirs.js";
import { slug } from "../slug.js";
import { statusCode } from "./docker-error.js";
import { waitingRoom } from "./waiting-room.js";

/** What to run: one http function of one deployment. */
export interface FunctionTarget {
  repository: string;
  name: string;
  image: string;
  commit: string;
  deploymentId: string;
  /** A preview's environment (`pr-12`): its replicas, containers and output are apart from production's. Production when absent. */
  environment?: string;
  env: Record<string, string>;
  /** The secrets its manifest entry declares: their values are looked up when a container is created, never kept here. */
  secrets?: readonly string[];
  memoryBytes?: number;
  scaling: Scaling;
}

/**
 * The values of those of `names` that are set for a project in the secrets
 * environment of `environment` (a preview's are `preview` ones): given to a
 * container at its creation only.
 */
export type SecretValues = (repository: string, names: readonly string[], environment?: string) => Record<string, string>;

/** What a function's pool key starts with: the repository, and a preview's environment after `@`, which no repository name holds. */
export function environmentKey(repository: string, environment?: string): string {
  return (!environment || environment === "production" ? repository : `${repository}@${environment}`).toLowerCase();
}

/** The pool key of a function: names are case-insensitive, like its URL. */
export function functionKey(repository: string, name: string, environment?: string): string {
  return `${environmentKey(repository, environment)}/${name}`.toLowerCase();
}

export interface ContainerPoolOptions extends Partial<Omit<PoolSettings, "enterWaitingRoom">> {
  /** Most requests that may wait for capacity across all functions (ESERVELESS_MAX_WAITING); unbounded when absent. */
  maxWaiting?: number;
  docker: Docker;
  /** This eserveless's id: it adopts and removes only the containers it labelled. */
  instance: string;
  log: Logger;
  /** Where function ports are published and probed. */
  publishHost?: string;
  /**
   * The network of each project, which its containers join. When eserveless
   * runs in a container ({@link ProjectNetworks.joinsNetworks}) it joins them
   * too and reaches each function by container name, nothing published.
   */
  networks: ProjectNetworks;
  /**
   * Where runtimes listen on a Unix socket (ESERVELESS_TRANSPORT=unix): each
   * container gets a folder of its own, mounted into it alone, and nothing is
   * published. Absent: TCP, a published port or the container's name. Images
   * whose runtime predates sockets (no {@link SOCKET_LABEL}) get TCP anyway.
   */
  sockets?: SocketDirs;
  /** How often idle replicas are paused or removed. */
  reapIntervalMs?: number;
  /** Told when a container of a deployment fails to start (the deployment log). */
  onStartFailure?: (target: FunctionTarget, error: unknown) => void;
  /** The server-wide budget every start takes room from; the default budget when absent. */
  budget?: ContainerBudget;
  /** CPUs each container may use (ESERVELESS_MAX_CPUS); the sandbox's default when absent. */
  cpus?: number;
  /** Where what each replica prints goes, in batches (kept after the container is gone); dropped when absent. */
  output?: OutputSink;
  /** Where the values of a function's declared secrets come from; none are given when absent. */
  secretValues?: SecretValues;
  now?: () => number;
}

/** Counts for metrics: containers by state and requests waiting. */
export interface PoolStats {
  ready: number;
  paused: number;
  draining: number;
  starting: number;
  queued: number;
}

/**
 * The containers of all http functions: one {@link FunctionPool} per
 * function, for its live deployment. Starts containers on demand, switches
 * deployments without dropping requests, and reaps idle containers.
 */
export class ContainerPool implements Pool {
  readonly #docker: Docker;
  readonly #instance: string;
  readonly #log: Logger;
  readonly #publishHost: string;
  readonly #networks: ProjectNetworks;
  readonly #settings: PoolSettings;
  readonly #pools = new Map<string, FunctionPool>();
  /** Pools of replaced deployments finishing their requests, by their function's key; close() and removeProject wait for them. */
  readonly #retiring = new Map<Promise<void>, string>();
  readonly #now: () => number;
  readonly #onStartFailure: ContainerPoolOptions["onStartFailure"];
  readonly #reaper: NodeJS.Timeout;
  readonly #budget: ContainerBudget;
  readonly #nanoCpus: number | undefined;
  /** The budget room of each container, given back when it is removed. */
  readonly #reservations = new WeakMap<Docker.Container, Reservation>();
  readonly #output: OutputCollector | undefined;
  /** The output stream of each container, ended when it is removed. */
  readonly #following = new Map<Docker.Container, { stop(): void }>();
  readonly #secretValues: SecretValues | undefined;
  readonly #sockets: SocketDirs | undefined;
  /** The socket folder of each container that has one, removed with it. */
  readonly #socketDirs = new Map<Docker.Container, string>();
  /** Whether each image's runtime listens on ESERVELESS_SOCKET, asked once per image. */
  readonly #socketImages = new Map<string, Promise<boolean>>();

  constructor(options: ContainerPoolOptions) {
    this.#budget = options.budget ?? new ContainerBudget();
    this.#nanoCpus = options.cpus === undefined ? undefined : Math.round(options.cpus * 1e9);
    this.#docker = options.docker;
    this.#instance = options.instance;
    this.#log = options.log;
    this.#publishHost = options.publishHost ?? "127.0.0.1";
    this.#networks = options.networks;
    this.#now = options.now ?? Date.now;
    this.#onStartFailure = options.onStartFailure;
    this.#secretValues = options.secretValues;
    this.#sockets = options.sockets;
    this.#output = options.output ? new OutputCollector({ sink: options.output, log: this.#log, now: this.#now }) : undefined;
    this.#settings = {
      readyTimeoutMs: options.readyTimeoutMs ?? 30_000,
      queueSize: options.queueSize ?? 100,
      pauseAfterMs: options.pauseAfterMs ?? 0,
      drainTimeoutMs: options.drainTimeoutMs ?? 30_000,
      scaleUpAfterMs: options.scaleUpAfterMs ?? DEFAULT_SCALE_UP_AFTER_MS,
      enterWaitingRoom: options.maxWaiting === undefined ? undefined : waitingRoom(options.maxWaiting, () => this.#pools.values()),
      routerSaturated: options.routerSaturated,
    };
    this.#reaper = setInterval(() => void this.reap(), options.reapIntervalMs ?? 1000);
    this.#reaper.unref();
  }

  /**
   * Creates and starts a container for `target` and waits until it answers
   * HTTP. Throws a ContainerBudgetError (503) when the budget has no room.
   * `onStarting` is told once Docker was asked to start it.
   */
  async start(target: FunctionTarget, signal?: AbortSignal, onStarting?: () => void): Promise<Replica> {
    const started = performance.now();
    const steps = stepTimer();
    const preview = target.environment && target.environment !== "production" ? `${slug(target.environment)}-` : "";
    const name = `es-${slug(target.repository)}-${preview}${slug(target.name)}-${randomBytes(3).toString("hex")}`;
    const byName = this.#networks.joinsNetworks;
    let container: Docker.Container | undefined;
    let socketDir: string | undefined;
    // Read now, at creation: a container started after a change gets the new value.
    const secrets = target.secrets?.length ? (this.#secretValues?.(target.repository, target.secrets, target.environment) ?? {}) : {};
    for (let attempt = 1; ; attempt++) {
      const reservation = this.#budget.reserve(target.memoryBytes ?? sandboxDefaults.memoryBytes);
      container = undefined;
      socketDir = undefined;
      let networkMode: string | undefined;
      try {
        const serves = this.#sockets && !byName ? await this.#servesSocket(target.image) : false;
        // Side by side: the network is known after its first container, the folder is a few syscalls. Reached over its
        // socket, the container needs no address of its own: it joins its network's holder (see NetworkHolders).
        const [network, folder] = await Promise.allSettled([
          serves ? this.#networks.forFunction(target.repository, target.environment) : this.#networks.forProject(target.repository, target.environment),
          serves ? this.#sockets!.create() : undefined,
        ]);
        // Both settled: a folder made while the network failed is removed below.
        if (folder.status === "fulfilled") socketDir = folder.value;
        if (network.status === "rejected") throw network.reason;
        if (folder.status === "rejected") throw folder.reason;
        networkMode = network.value;
        steps.mark("network");
        container = await this.#docker.createContainer(
          sandboxedContainer({
            image: target.image,
            name,
            env: { ...target.env, ...secrets, ESERVELESS_FUNCTION: target.name, ESERVELESS_FUNCTION_TYPE: "http", PORT: String(CONTAINER_PORT) },
            labels: eserveslessLabels({ instance: this.#instance, repository: target.repository, commit: target.commit, deployment: target.deploymentId, function: target.name, environment: target.environment }),
            memoryBytes: target.memoryBytes,
            network: networkMode,
            nanoCpus: this.#nanoCpus,
            ...(byName || socketDir !== undefined ? {} : { publishHost: this.#publishHost }),
            socketDir,
          }),
        );
        if (socketDir !== undefined) this.#socketDirs.set(container, socketDir);
        this.#reservations.set(container, reservation);
        steps.mark("create");
        const starting = container.start();
        // Docker takes a few hundred ms from here, off this event loop: the caller's other work runs meanwhile.
        if (attempt === 1) onStarting?.();
        await starting;
        steps.mark("start");
        break;
      } catch (cause) {
        // Created but not started (a bad network, a port clash): do not leave it behind.
        if (container) await this.#remove(container);
        else if (socketDir !== undefined) await this.#sockets!.remove(socketDir);
        reservation.release();
        // The network (or its holder) may have been removed from outside: the next start checks it again.
        this.#networks.forget(target.repository, target.environment, networkMode);
        // Docker refuses to join a holder removed (404) or stopped (409) from outside: once more, with a new one.
        const refused = statusCode(cause);
        if (attempt === 1 && networkMode?.startsWith("container:") && (refused === 404 || refused === 409)) continue;
        if (cause instanceof EserveslessError) throw cause;
        throw new UpstreamError(`Docker could not start a container for ${target.name}: ${(cause as Error).message}`, { cause, code: "container_start_failed" });
      }
    }
    // From its first line (what it prints while loading is output too), asked for while it loads: never throws.
    const following = this.#follow(container, name, target, 0);
    try {
      const endpoint: Endpoint =
        socketDir !== undefined
          ? { socketPath: this.#sockets!.socketPath(socketDir) }
          : byName
            ? { host: name, port: CONTAINER_PORT }
            : { host: this.#publishHost, port: await publishedPort(container) };
      // A socket is connected to only once its folder is sealed: the container can no longer swap it.
      const seal = socketDir === undefined ? undefined : () => this.#sockets!.seal(socketDir!);
      const watch = socketDir === undefined ? undefined : (changed: () => void) => this.#sockets!.watch(socketDir!, changed);
      steps.mark("endpoint");
      await waitUntilReady(container, {
        ...endpoint,
        seal,
        watch,
        timeoutMs: this.#settings.readyTimeoutMs,
        signal,
        redact: (text) => redactEnvironment(text, { ...target.env, ...secrets }),
        onStep: steps.mark,
      });
      await following;
      const coldStartMs = Math.round(performance.now() - started);
      this.#log.info({ function: `${target.repository}/${target.name}`, container: name, ...endpoint, coldStartMs, steps: steps.done() }, "container ready");
      return { container, name, ...replicaEndpoint(endpoint), coldStartMs, state: "ready", inflight: 0, lastUsed: this.#now() };
    } catch (error) {
      // Its output stream is asked for before the container goes: its last lines (a crash trace) are kept.
      await following;
      await this.#remove(container);
      throw error;
    }
  }

  /** Lends a ready replica of the function's deployment, cold-starting one when none runs. */
  acquire(target: FunctionTarget, gone?: CallerGone): Promise<Lease> {
    return this.#poolFor(target).acquire(gone);
  }

  /**
   * Makes freshly started replicas current (a deployment going live): new
   * requests go to them at once, while replicas of the previous deployment
   * finish their requests and are removed. Functions of `repository` absent
   * from `targets` are dropped, in `environment` only (production unless told).
   */
  activate(repository: string, targets: Array<{ target: FunctionTarget; replicas: Replica[] }>, environment?: string): void {
    const prefix = `${environmentKey(repository, environment)}/`;
    const keep = new Set(targets.map(({ target }) => functionKey(target.repository, target.name, target.environment)));
    for (const [key, pool] of this.#pools) {
      if (key.startsWith(prefix) && !keep.has(key)) {
        this.#pools.delete(key);
        this.#retire(key, pool);
      }
    }
    for (const { target, replicas } of targets) {
      const pool = this.#poolFor(target);
      for (const replica of replicas) pool.add(replica);
    }
  }

  /** How many replicas of a function serve now (ready or paused), to start as many for a roll. */
  replicaCount(repository: string, name: string, environment?: string): number {
    return this.#pools.get(functionKey(repository, name, environment))?.replicas.filter((r) => r.state !== "draining").length ?? 0;
  }

  /**
   * Swaps a live function's replicas for freshly started ones of the same
   * deployment (a secret changed): new requests go to them at once, requests
   * waiting move over, and the old replicas finish theirs and are removed.
   */
  replace(target: FunctionTarget, replicas: Replica[]): void {
    const key = functionKey(target.repository, target.name, target.environment);
    const existing = this.#pools.get(key);
    this.#pools.delete(key);
    const pool = this.#poolFor(target);
    for (const replica of replicas) pool.add(replica);
    if (existing) this.#retire(key, existing, pool);
  }

  /**
   * Takes a removed project's functions out of the pool: new requests find
   * none, those in flight finish (up to the drain timeout), then its
   * containers are removed. Resolves to how many there were. Only those of
   * `environment` (production unless told): a closed preview goes alone.
   */
  async removeProject(repository: string, environment?: string): Promise<number> {
    const prefix = `${environmentKey(repository, environment)}/`;
    const pools = [...this.#pools].filter(([key]) => key.startsWith(prefix));
    for (const [key] of pools) this.#pools.delete(key);
    const containers = pools.reduce((sum, [, pool]) => sum + pool.replicas.length, 0);
    // Replaced deployments still finishing requests too: their containers share the network removed next.
    const retiring = [...this.#retiring].filter(([, key]) => key.startsWith(prefix)).map(([done]) => done);
    await Promise.all([...pools.map(([, pool]) => pool.close()), ...retiring]);
    return containers;
  }

  /** Removes replicas that never went live (a failed or superseded deployment). */
  async discard(replicas: Replica[]): Promise<void> {
    await Promise.all(replicas.map((r) => this.#removeReplica(r)));
  }

  /**
   * After a restart: takes over the running containers of live deployments
   * (so function URLs answer without a redeploy) and removes every other
   * container eserveless left behind. Returns how many of each.
   */
  async adopt(live: FunctionTarget[]): Promise<{ adopted: number; removed: number }> {
    const containers = await this.#docker.listContainers({ all: true, filters: { label: [`${LABEL}.instance=${this.#instance}`] } });
    let adopted = 0;
    let holders = 0;
    for (const info of containers) {
      const labels = info.Labels ?? {};
      // Its network's, kept or removed with it (ProjectNetworks).
      if (labels[HOLDER_LABEL] !== undefined) {
        holders++;
        continue;
      }
      const target = live.find(
        (t) =>
          t.deploymentId === labels[`${LABEL}.deployment`] &&
          functionKey(t.repository, t.name, t.environment) ===
            functionKey(labels[`${LABEL}.repository`] ?? "", labels[`${LABEL}.function`] ?? "", labels[`${LABEL}.environment`]),
      );
      const container = this.#docker.getContainer(info.Id);
      const name = info.Names[0]?.replace(/^\//, "") ?? info.Id;
      // A container started with a socket is reached there, whatever this start's transport; one with a port, there.
      const socketDir = this.#sockets?.fromMounts(info.Mounts);
      // Only containers on their project's network, or in its holder's namespace, are kept (not those an older eserveless put on
      // Docker's shared bridge, nor those of a holder that is gone); a restarted eserveless in a new container joins it before probing.
      const network = target ? await this.#networks.forProject(target.repository, target.environment) : undefined;
      const held = target && socketDir !== undefined ? await this.#networks.forFunction(target.repository, target.environment) : undefined;
      const onNetwork = network !== undefined && (network in (info.NetworkSettings?.Networks ?? {}) || info.HostConfig?.NetworkMode === held);
      if (socketDir !== undefined) this.#socketDirs.set(container, socketDir);
      const port = info.Ports.find((p) => p.PrivatePort === CONTAINER_PORT && p.PublicPort)?.PublicPort;
      const endpoint: Endpoint | undefined =
        socketDir !== undefined
          ? { socketPath: this.#sockets!.socketPath(socketDir) }
          : this.#networks.joinsNetworks
            ? { host: name, port: CONTAINER_PORT }
            : port === undefined
              ? undefined
              : { host: this.#publishHost, port };
      if (target && onNetwork && info.State === "paused") await container.unpause().catch(() => undefined);
      // Sealed again (a crash may have come between its start and its seal), and checked, before the first connection.
      const reachable = endpoint !== undefined && (socketDir === undefined || (await this.#sockets!.seal(socketDir).catch(() => false)));
      if (target && onNetwork && (info.State === "running" || info.State === "paused") && reachable && (await probe(endpoint))) {
        // It runs already: counted whatever the budget says.
        this.#reservations.set(container, this.#budget.reserve(target.memoryBytes ?? sandboxDefaults.memoryBytes, { force: true }));
        // What it printed before this start was collected by the previous one (or lost while none ran).
        await this.#follow(container, name, target, this.#now());
        this.#poolFor(target).add({ container, name, ...replicaEndpoint(endpoint), coldStartMs: 0, state: "ready", inflight: 0, lastUsed: this.#now() });
        adopted++;
      } else {
        await this.#remove(container);
      }
    }
    // Folders of containers gone while no eserveless ran (or removed from outside it).
    await this.#sockets?.prune(new Set(this.#socketDirs.values()));
    return { adopted, removed: containers.length - adopted - holders };
  }

  /** Pauses and removes idle replicas, keeps minReplicas warm. Runs on a timer; tests call it directly. */
  async reap(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((pool) => pool.tick()));
  }

  stats(): PoolStats {
    const stats: PoolStats = { ready: 0, paused: 0, draining: 0, starting: 0, queued: 0 };
    for (const pool of this.#pools.values()) {
      for (const r of pool.replicas) stats[r.state]++;
      stats.starting += pool.starting;
      stats.queued += pool.queued;
    }
    return stats;
  }

  /**
   * Stops the reaper. With `keepContainers` (a restart), containers stay up
   * for the next start to adopt; otherwise they are removed.
   */
  async close(options: { keepContainers?: boolean } = {}): Promise<void> {
    clearInterval(this.#reaper);
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    if (!options.keepContainers) await Promise.all(pools.map((pool) => pool.close()));
    await Promise.all(this.#retiring.keys());
    for (const following of this.#following.values()) following.stop();
    this.#following.clear();
    this.#output?.flush();
  }

  #poolFor(target: FunctionTarget): FunctionPool {
    const key = functionKey(target.repository, target.name, target.environment);
    const existing = this.#pools.get(key);
    if (existing?.deploymentId === target.deploymentId) return existing;
    const log = this.#log.child({ function: `${target.repository}/${target.name}`, deployment: target.deploymentId });
    const pool = new FunctionPool(
      target.deploymentId,
      target.scaling,
      this.#settings,
      {
        start: (signal) => this.start(target, signal),
        remove: (replica) => this.#removeReplica(replica),
        pause: (replica) => replica.container.pause(),
        unpause: (replica) => replica.container.unpause(),
        startFailed: (error) => this.#onStartFailure?.(target, error),
      },
      log,
      this.#now,
    );
    this.#pools.set(key, pool);
    if (existing) this.#retire(key, existing, pool);
    return pool;
  }

  /** Lets a replaced pool drain in the background; close() waits for it. */
  #retire(key: string, pool: FunctionPool, successor?: FunctionPool): void {
    const done = pool.close(successor).finally(() => this.#retiring.delete(done));
    this.#retiring.set(done, key);
  }

  async #removeReplica(replica: Replica): Promise<void> {
    // Its host port may be reused by a later container: no socket may survive it.
    void replica.dispatcher.destroy();
    await this.#remove(replica.container);
  }

  /** Collects what `container` prints from `sinceMs` on; a stream Docker refuses costs the output, not the replica. */
  async #follow(container: Docker.Container, name: string, target: FunctionTarget, sinceMs: number): Promise<void> {
    const output = this.#output;
    if (!output) return;
    try {
      const following = await followReplicaOutput(container, {
        sinceMs,
        now: this.#now,
        // A preview's output is kept apart from production's, under its environment key.
        onLine: (stream, at, line) => output.add({ repository: outputKey(target), function: target.name, replica: name, stream, at, line }),
        onEnd: () => this.#following.delete(container),
      });
      this.#following.set(container, following);
    } catch (error) {
      this.#log.warn({ err: error, container: name }, "could not follow the container's output; its console output is not kept");
    }
  }

  /** Whether the runtime of `image` listens on ESERVELESS_SOCKET (its image says so); an image that cannot be read is asked again next time. */
  #servesSocket(image: string): Promise<boolean> {
    let answer = this.#socketImages.get(image);
    if (!answer) {
      answer = this.#docker
        .getImage(image)
        .inspect()
        .then((info) => info.Config?.Labels?.[SOCKET_LABEL] === "ESERVELESS_SOCKET");
      answer.catch(() => this.#socketImages.delete(image));
      // Bounded: images come and go with deployments.
      if (this.#socketImages.size >= 1000) this.#socketImages.clear();
      this.#socketImages.set(image, answer);
    }
    return answer.catch(() => false);
  }

  /** Removes the socket folder of a removed container; one that stays is removed at the next start. */
  async #removeSocketDir(container: Docker.Container): Promise<void> {
    const dir = this.#socketDirs.get(container);
    if (dir === undefined) return;
    this.#socketDirs.delete(container);
    await this.#sockets?.remove(dir).catch((error: unknown) => this.#log.warn({ err: error, dir }, "could not remove a socket folder; the next start removes it"));
  }

  // Its output stream is left to end by itself when Docker removes it: its last lines (a crash trace) are kept.
  async #remove(container: Docker.Container): Promise<void> {
    try {
      await container.remove({ force: true });
      await this.#removeSocketDir(container);
    } catch (error) {
      // Already gone is fine; anything else is an orphan the next start removes.
      if (statusCode(error) !== 404) {
        this.#log.warn({ err: error, container: container.id }, "could not remove container; the next start removes it");
      } else {
        await this.#removeSocketDir(container);
      }
    } finally {
      this.#reservations.get(container)?.release();
    }
  }
}

/**
 * A replica's address fields and its own connection pool. Keep-alive, so warm
 * requests skip the connection set-up; idle connections close after 30 s at
 * most, before the runtimes' 65 s keep-alive, so we never reuse one the
 * container is closing. Over a Unix socket host and port only name it.
 */
function replicaEndpoint(endpoint: Endpoint): Pick<Replica, "host" | "port" | "socketPath" | "dispatcher" | "origin"> {
  const keepAlive = { keepAliveTimeout: 30_000, keepAliveMaxTimeout: 30_000 };
  if (endpoint.socketPath === undefined) {
    const origin = `http://${endpoint.host}:${endpoint.port}`;
    return { host: endpoint.host, port: endpoint.port, origin, dispatcher: newPool(origin, keepAlive) };
  }
  const origin = "http://localhost";
  return { host: "localhost", port: 0, socketPath: endpoint.socketPath, origin, dispatcher: newPool(origin, { ...keepAlive, socketPath: endpoint.socketPath }) };
}

/** Milliseconds spent in each step of a start, for the "container ready" line: where a slow cold start went. */
function stepTimer(): { mark: (step: string) => void; done: () => Record<string, number> } {
  let last = performance.now();
  const steps: Record<string, number> = {};
  return {
    mark: (step) => {
      const now = performance.now();
      steps[step] = Math.round((steps[step] ?? 0) + now - last);
      last = now;
    },
    done: () => steps,
  };
}

async function publishedPort(container: Docker.Container): Promise<number> {
  const info = await container.inspect();
  return Number(info.NetworkSettings.Ports[`${CONTAINER_PORT}/tcp`]?.[0]?.HostPort);
}

/** Where a function's output is kept: production's under its repository, a preview's under its environment key. */
export function outputKey(target: Pick<FunctionTarget, "repository" | "environment">): string {
  return target.environment && target.environment !== "production" ? environmentKey(target.repository, target.environment) : target.repository;
}
