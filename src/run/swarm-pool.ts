import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { EserveslessError, UpstreamError } from "../errors.js";
import type { ImagePusher } from "../image/push-image.js";
import { redactEnvironment } from "../manifest/function-environment.js";
import { slug } from "../slug.js";
import { environmentKey, functionKey, outputKey, type FunctionTarget, type PoolStats, type SecretValues } from "./container-pool.js";
import { DEFAULT_SCALE_UP_AFTER_MS, type Lease, type PoolSettings, type Replica, type CallerGone } from "./function-pool.js";
import type { Pool } from "./pool.js";
import { OutputCollector, followReplicaOutput, type OutputSink } from "./replica-output.js";
import type { ProjectNetworks } from "./project-networks.js";
import { ReadinessError, probe } from "./readiness.js";
import { runtimeReason } from "./runtime-reason.js";
import { CONTAINER_PORT, LABEL, eserveslessLabels } from "./sandbox.js";
import { SwarmFunction, type FunctionService } from "./swarm-function.js";
import type { SwarmSecrets } from "./swarm-secrets.js";
import { pollFor, sandboxedTask, type SwarmServices } from "./swarm-services.js";
import { waitingRoom } from "./waiting-room.js";

/** The label that tells an http function's service from a cron run's job. */
export const SERVICE_KIND_LABEL = `${LABEL}.kind`;

export interface SwarmPoolOptions extends Partial<Omit<PoolSettings, "enterWaitingRoom">> {
  /** Most requests that may wait for capacity across all functions (ESERVELESS_MAX_WAITING); unbounded when absent. */
  maxWaiting?: number;
  services: SwarmServices;
  /** Pushes each image to ESERVELESS_REGISTRY once and names it by digest. */
  images: ImagePusher;
  /** This eserveless's id: it adopts and removes only the services it labelled. */
  instance: string;
  log: Logger;
  /** Each project's attachable overlay network, which eserveless's own container joins. */
  networks: ProjectNetworks;
  /** Told when a function fails to start or scale (the deployment log). */
  onStartFailure?: (target: FunctionTarget, error: unknown) => void;
  /** CPUs each replica may use (ESERVELESS_MAX_CPUS); the sandbox's default when absent. */
  cpus?: number;
  secretValues?: SecretValues;
  /** Where a function's secrets go: Docker secrets mounted into its service alone, never its Env. */
  dockerSecrets: SwarmSecrets;
  /** Where what each function's tasks print goes, read through the manager (`docker service logs`); dropped when absent. */
  output?: OutputSink;
  /** How often replicas are counted and idle ones scaled down. */
  reapIntervalMs?: number;
  now?: () => number;
}

/**
 * The http functions of all projects on a Docker Swarm: one service per
 * function of a deployment (endpoint mode dnsrr, on its project's attachable
 * overlay network, its image by digest from the registry). A new deployment
 * is a new service: it is probed, requests switch to it, the old one drains
 * and is removed; a live service's image is never updated. There is no
 * paused tier: an idle function is scaled to its minReplicas, 0 included.
 */
export class SwarmPool implements Pool {
  readonly #services: SwarmServices;
  readonly #images: ImagePusher;
  readonly #instance: string;
  readonly #log: Logger;
  readonly #networks: ProjectNetworks;
  readonly #settings: PoolSettings;
  readonly #functions = new Map<string, SwarmFunction>();
  /** Services being made for a live deployment that had none (after a failed adoption, say). */
  readonly #creating = new Map<string, Promise<SwarmFunction>>();
  /** Services of replaced deployments finishing their requests, by their function's key; close() and removeProject wait for them. */
  readonly #retiring = new Map<Promise<void>, string>();
  /** The function (not live yet) of each replica {@link start} made: its service's first task. */
  readonly #started = new WeakMap<Replica, SwarmFunction>();
  readonly #onStartFailure: SwarmPoolOptions["onStartFailure"];
  readonly #nanoCpus: number | undefined;
  readonly #secretValues: SecretValues | undefined;
  readonly #dockerSecrets: SwarmSecrets;
  readonly #now: () => number;
  readonly #reaper: NodeJS.Timeout;
  readonly #output: OutputCollector | undefined;
  /** The output stream of each live function's service, ended when it goes. */
  readonly #following = new Map<SwarmFunction, { stop(): void }>();

  constructor(options: SwarmPoolOptions) {
    this.#services = options.services;
    this.#images = options.images;
    this.#instance = options.instance;
    this.#log = options.log;
    this.#networks = options.networks;
    this.#onStartFailure = options.onStartFailure;
    this.#nanoCpus = options.cpus === undefined ? undefined : Math.round(options.cpus * 1e9);
    this.#secretValues = options.secretValues;
    this.#dockerSecrets = options.dockerSecrets;
    this.#now = options.now ?? Date.now;
    this.#output = options.output ? new OutputCollector({ sink: options.output, log: this.#log, now: this.#now }) : undefined;
    this.#settings = {
      readyTimeoutMs: options.readyTimeoutMs ?? 30_000,
      queueSize: options.queueSize ?? 100,
      pauseAfterMs: 0,
      drainTimeoutMs: options.drainTimeoutMs ?? 30_000,
      scaleUpAfterMs: options.scaleUpAfterMs ?? DEFAULT_SCALE_UP_AFTER_MS,
      enterWaitingRoom: options.maxWaiting === undefined ? undefined : waitingRoom(options.maxWaiting, () => this.#functions.values()),
    };
    this.#reaper = setInterval(() => void this.reap(), options.reapIntervalMs ?? 1000);
    this.#reaper.unref();
  }

  /**
   * Creates a service of one replica for `target` (its image pushed first)
   * and waits until its task answers HTTP. A task that fails first fails the
   * start with its last lines; the service is then removed.
   */
  async start(target: FunctionTarget, signal?: AbortSignal, onStarting?: () => void): Promise<Replica> {
    const started = performance.now();
    const { service, secrets } = await this.#createService(target, 1);
    onStarting?.();
    try {
      const found = await pollFor(
        async () => {
          const failed = await this.#services.failed(service.id);
          if (failed.length > 0) {
            const logs = await this.#services.logs(service.id).catch(() => []);
            const why = runtimeReason(logs);
            const first = failed[0]!;
            throw new ReadinessError(
              why !== undefined
                ? redactEnvironment(why, { ...target.env, ...secrets })
                : `The function's task ${first.state}${first.error ? ` (${first.error})` : ""}${first.exitCode === undefined ? "" : `, exit code ${first.exitCode}`} before it answered HTTP; its output is in the deployment log (for signed-in viewers)`,
              first.exitCode,
              logs,
            );
          }
          for (const task of await this.#services.running(service.id, service.network)) if (await probe({ host: task.address, port: CONTAINER_PORT })) return task;
          return undefined;
        },
        this.#settings.readyTimeoutMs,
        50,
        signal,
      );
      if (!found) {
        const logs = await this.#services.logs(service.id).catch(() => []);
        throw new ReadinessError(`The function did not answer HTTP within ${Math.round(this.#settings.readyTimeoutMs / 1000)} s on the swarm. Make sure it starts quickly and that every node can pull from the registry.`, undefined, logs);
      }
      const coldStartMs = Math.round(performance.now() - started);
      this.#log.info({ function: `${target.repository}/${target.name}`, service: service.name, task: found.id, node: found.node, coldStartMs }, "service ready");
      const fn = this.#newFunction(target, service, 1);
      const replica = { ...fn.replicaOf(found), coldStartMs };
      fn.add(replica, found.id);
      this.#started.set(replica, fn);
      return replica;
    } catch (error) {
      await this.#services.remove(service.id).catch(() => undefined);
      this.#pruneSecrets();
      throw error;
    }
  }

  /** Lends a replica of the function's live deployment, scaling its service up from 0 when needed. */
  async acquire(target: FunctionTarget, gone?: CallerGone): Promise<Lease> {
    return (await this.#functionFor(target)).acquire(gone);
  }

  activate(repository: string, targets: Array<{ target: FunctionTarget; replicas: Replica[] }>, environment?: string): void {
    const prefix = `${environmentKey(repository, environment)}/`;
    const keep = new Set(targets.map(({ target }) => functionKey(target.repository, target.name, target.environment)));
    for (const [key, fn] of this.#functions) {
      if (key.startsWith(prefix) && !keep.has(key)) {
        this.#functions.delete(key);
        this.#retire(key, fn);
      }
    }
    for (const { target, replicas } of targets) this.#install(target, replicas);
  }

  replicaCount(repository: string, name: string, environment?: string): number {
    return this.#functions.get(functionKey(repository, name, environment))?.replicas.length ?? 0;
  }

  /** Swaps a live function's service for the one freshly started (a secret changed); several starts become one service of as many replicas. */
  replace(target: FunctionTarget, replicas: Replica[]): void {
    this.#install(target, replicas);
  }

  async removeProject(repository: string, environment?: string): Promise<number> {
    const prefix = `${environmentKey(repository, environment)}/`;
    const functions = [...this.#functions].filter(([key]) => key.startsWith(prefix));
    for (const [key] of functions) this.#functions.delete(key);
    const replicas = functions.reduce((sum, [, fn]) => sum + fn.replicas.length, 0);
    // Replaced deployments' services still finishing requests too: their tasks are on the network removed next.
    const retiring = [...this.#retiring].filter(([, key]) => key.startsWith(prefix)).map(([done]) => done);
    await Promise.all([...functions.map(([, fn]) => fn.close()), ...retiring]);
    return replicas;
  }

  async discard(replicas: Replica[]): Promise<void> {
    await Promise.all(replicas.map((r) => this.#started.get(r)?.close()));
  }

  /**
   * After a restart: takes over the services of live deployments (joining
   * their networks first) and removes every other service this instance left
   * (a superseded deployment's, a cron run's job). Counts services.
   */
  async adopt(live: FunctionTarget[]): Promise<{ adopted: number; removed: number }> {
    const services = await this.#services.list(`${LABEL}.instance=${this.#instance}`);
    let adopted = 0;
    for (const service of services) {
      const labels = service.labels;
      const key = functionKey(labels[`${LABEL}.repository`] ?? "", labels[`${LABEL}.function`] ?? "", labels[`${LABEL}.environment`]);
      const target = service.job ? undefined : live.find((t) => t.deploymentId === labels[`${LABEL}.deployment`] && functionKey(t.repository, t.name, t.environment) === key);
      if (!target || this.#functions.has(key)) {
        await this.#services.remove(service.id);
        continue;
      }
      const network = await this.#networks.forProject(target.repository);
      const fn = this.#newFunction(target, { id: service.id, name: service.name, network }, service.replicas ?? 0);
      this.#functions.set(key, fn);
      // What it printed before was collected by the previous run.
      await this.#follow(fn, target, this.#now());
      await fn.refresh();
      adopted++;
    }
    // Those of services removed here, or while eserveless was down.
    await this.#dockerSecrets.prune().catch((error: unknown) => this.#log.warn({ err: error }, "could not remove unused Docker secrets; the next removal retries"));
    return { adopted, removed: services.length - adopted };
  }

  async reap(): Promise<void> {
    await Promise.all(
      [...this.#functions.values()].map((fn) => fn.tick().catch((error: unknown) => this.#log.warn({ err: error, service: fn.service.name }, "could not read a service's tasks"))),
    );
  }

  stats(): PoolStats {
    const stats: PoolStats = { ready: 0, paused: 0, draining: 0, starting: 0, queued: 0 };
    for (const fn of this.#functions.values()) {
      for (const r of fn.replicas) stats[r.state]++;
      stats.starting += fn.starting;
      stats.queued += fn.queued;
    }
    return stats;
  }

  /** Stops the reaper. With `keepContainers` (a restart) services stay for the next start to adopt; otherwise they are removed. */
  async close(options: { keepContainers?: boolean } = {}): Promise<void> {
    clearInterval(this.#reaper);
    const functions = [...this.#functions.values()];
    this.#functions.clear();
    await Promise.all(functions.map((fn) => fn.close(undefined, { keepService: options.keepContainers === true })));
    await Promise.all(this.#retiring.keys());
    for (const following of this.#following.values()) following.stop();
    this.#following.clear();
    this.#output?.flush();
  }

  /** Makes the service of `replicas` (started by {@link start}) current for `target`; extra services of the same start are removed. */
  #install(target: FunctionTarget, replicas: Replica[]): void {
    const started = replicas.flatMap((r) => this.#started.get(r) ?? []);
    const fn = started[0];
    if (!fn) throw new EserveslessError(`No started service for ${target.name}`, { code: "internal" });
    // One service per function: the other starts' services go, and this one gets as many replicas.
    for (const extra of started.slice(1)) void extra.close();
    fn.scaleTo(Math.max(replicas.length, target.scaling.minReplicas, 1));
    const key = functionKey(target.repository, target.name, target.environment);
    const existing = this.#functions.get(key);
    this.#functions.set(key, fn);
    if (existing) this.#retire(key, existing, fn);
    void this.#follow(fn, target, 0);
  }

  #newFunction(target: FunctionTarget, service: FunctionService, desired: number): SwarmFunction {
    const log = this.#log.child({ function: `${target.repository}/${target.name}`, deployment: target.deploymentId, service: service.name });
    return new SwarmFunction(target.deploymentId, service, target.scaling, this.#settings, desired, {
      services: this.#services,
      docker: this.#services.docker,
      log,
      now: this.#now,
      onScaleFailure: (error) => this.#onStartFailure?.(target, error),
      onRemoved: () => this.#pruneSecrets(),
    });
  }

  /** The live deployment's function; a service of 0 replicas is made when it has none (its first request scales it). */
  async #functionFor(target: FunctionTarget): Promise<SwarmFunction> {
    const key = functionKey(target.repository, target.name, target.environment);
    const existing = this.#functions.get(key);
    if (existing?.deploymentId === target.deploymentId) return existing;
    let creating = this.#creating.get(key);
    if (!creating) {
      creating = this.#createService(target, 0).then(({ service }) => {
        const fn = this.#newFunction(target, service, 0);
        const previous = this.#functions.get(key);
        this.#functions.set(key, fn);
        if (previous) this.#retire(key, previous, fn);
        void this.#follow(fn, target, 0);
        return fn;
      });
      this.#creating.set(key, creating);
      void creating.finally(() => this.#creating.delete(key)).catch(() => undefined);
    }
    return creating;
  }

  async #createService(target: FunctionTarget, replicas: number): Promise<{ service: FunctionService; secrets: Record<string, string> }> {
    const preview = target.environment && target.environment !== "production" ? `${slug(target.environment)}-` : "";
    // Swarm names are DNS labels: at most 63 characters.
    const name = `es-${slug(target.repository).slice(0, 24)}-${preview}${slug(target.name).slice(0, 16)}-${randomBytes(3).toString("hex")}`.slice(0, 63);
    const secrets = target.secrets?.length ? (this.#secretValues?.(target.repository, target.secrets, target.environment) ?? {}) : {};
    try {
      const [image, network] = await Promise.all([this.#images.reference(target.image), this.#networks.forProject(target.repository)]);
      const labels = {
        ...eserveslessLabels({ instance: this.#instance, repository: target.repository, commit: target.commit, deployment: target.deploymentId, function: target.name, environment: target.environment }),
        [SERVICE_KIND_LABEL]: "function",
      };
      // Mounted as files the runtime exports, never in the spec's Env, which `docker service inspect` shows.
      const mounted = await this.#dockerSecrets.mount(secrets, { repository: target.repository, commit: target.commit, deployment: target.deploymentId, environment: target.environment });
      try {
        const task = sandboxedTask({
          image,
          env: { ...target.env, ESERVELESS_FUNCTION: target.name, ESERVELESS_FUNCTION_TYPE: "http", PORT: String(CONTAINER_PORT) },
          labels,
          network,
          memoryBytes: target.memoryBytes,
          nanoCpus: this.#nanoCpus,
          restart: "any",
          secrets: mounted.references,
        });
        const id = await this.#services.create(name, labels, task, replicas);
        return { service: { id, name, network }, secrets };
      } catch (error) {
        mounted.release();
        this.#pruneSecrets();
        throw error;
      } finally {
        mounted.release();
      }
    } catch (cause) {
      this.#networks.forget(target.repository);
      if (cause instanceof EserveslessError) throw cause;
      throw new UpstreamError(`Docker Swarm could not start a service for ${target.name}: ${(cause as Error).message}`, { cause, code: "container_start_failed" });
    }
  }

  /** Collects what the function's tasks print from `sinceMs` on; a stream Docker refuses costs the output, not the function. */
  async #follow(fn: SwarmFunction, target: FunctionTarget, sinceMs: number): Promise<void> {
    const output = this.#output;
    if (!output) return;
    try {
      const service = this.#services.docker.getService(fn.service.id);
      const following = await followReplicaOutput(service, {
        sinceMs,
        now: this.#now,
        onLine: (stream, at, line) => output.add({ repository: outputKey(target), function: target.name, replica: fn.service.name, stream, at, line }),
        onEnd: () => this.#following.delete(fn),
      });
      this.#following.set(fn, following);
    } catch (error) {
      this.#log.warn({ err: error, service: fn.service.name }, "could not follow the service's output; its console output is not kept");
    }
  }

  /** Removes the Docker secrets no service mounts any more; a failure is retried by the next removal. */
  #pruneSecrets(): void {
    void this.#dockerSecrets.prune().catch((error: unknown) => this.#log.warn({ err: error }, "could not remove unused Docker secrets; the next removal retries"));
  }

  #retire(key: string, fn: SwarmFunction, successor?: SwarmFunction): void {
    // Its stream ends when its service is removed: its last lines are kept.
    const done = fn.close(successor).finally(() => this.#retiring.delete(done));
    this.#retiring.set(done, key);
  }
}
