import type Docker from "dockerode";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import { loadRuntimeTemplates } from "./image/build-context.js";
import { Slots } from "./slots.js";
import type { Config } from "./config.js";
import { CronScheduler } from "./cron/cron-scheduler.js";
import { createDeployer } from "./deploy/deployer.js";
import { createPreviews } from "./deploy/previews.js";
import { ContainerFailedError } from "./errors.js";
import { APP_FILE_NAME, PendingStates, type AppFileSystem } from "./github/app-setup.js";
import { GitHubAppHolder } from "./github/github-app-holder.js";
import { functionTarget } from "./deploy/function-target.js";
import { createApp } from "./http/create-app.js";
import { removeProject } from "./deploy/remove-project.js";
import { createSecretRoller } from "./deploy/roll-secrets.js";
import { secretActions } from "./http/secret-routes.js";
import { secretEnvironmentOf } from "./contract/secret.js";
import { createMetrics } from "./http/metrics-routes.js";
import { adoptContainers } from "./run/adopt-containers.js";
import { ContainerBudget } from "./run/container-budget.js";
import { routerSaturation } from "./run/router-saturation.js";
import { ContainerPool, type FunctionTarget } from "./run/container-pool.js";
import type { RunOnceInput } from "./run/run-once.js";
import { ImagePusher } from "./image/push-image.js";
import type { Pool } from "./run/pool.js";
import { SwarmPool } from "./run/swarm-pool.js";
import { SwarmServices } from "./run/swarm-services.js";
import { runSwarmJob } from "./cron/swarm-job.js";
import { SwarmSecrets } from "./run/swarm-secrets.js";
import type { Store } from "./store/store.js";
import { NetworkHolders } from "./run/network-holders.js";
import { ProjectNetworks } from "./run/project-networks.js";
import { SocketDirs } from "./run/socket-dirs.js";
import { SubnetPool } from "./run/subnet-pool.js";
import { LABEL } from "./run/sandbox.js";

const RUNTIMES_DIR = fileURLToPath(new URL("../runtimes", import.meta.url));
const APP_MANIFEST = fileURLToPath(new URL("../github-app.yml", import.meta.url));

/** The database file under DATA_DIR. */
export const DATABASE_FILE_NAME = "eserveless.db";

/**
 * The id of this installation, kept in DATA_DIR: the label that tells its
 * containers and images from those of another eserveless on the same host.
 */
function instanceId(dataDir: string, fs: AppFileSystem): string {
  const file = join(dataDir, "instance-id");
  try {
    fs.writeFile(file, `${randomBytes(8).toString("hex")}\n`, { flag: "wx", mode: 0o600 });
  } catch (error) {
    // An earlier start made it: keep it, its containers and images carry it.
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  // Like every file in DATA_DIR, its owner's only (earlier versions made it 0644).
  fs.chmod(file, 0o600);
  const id = fs.readFile(file).trim();
  if (!/^[0-9a-f]{16}$/.test(id)) throw new Error(`${file} does not hold an eserveless instance id; delete it to make a new one`);
  return id;
}

/** The I/O eserveless is given; `main.ts` makes the real ones, tests their own. */
export interface EserveslessIo {
  docker: Docker;
  log: Logger;
  /** The database (DATA_DIR/eserveless.db in main.ts). Its opener closes it, after `close`. */
  store: Store;
  /** DATA_DIR's files (the instance id, the App /setup stores) and github-app.yml. */
  fs: AppFileSystem;
  /** The clock of sign-ins, cron runs, idle containers and setup links. */
  now: () => number;
}

/**
 * Wires eserveless from a validated config and the I/O it is given. Returns
 * the HTTP app, which the caller serves, and a `close` that stops what was
 * started. Used by `main.ts` and the tests alike.
 */
export async function createEserveless(config: Config, io: EserveslessIo) {
  const { docker, log, store, fs, now } = io;
  if (config.adminToken === undefined) {
    log.warn(
      "ESERVELESS_ADMIN_TOKEN is not set, so the CLI, the API (/api) and the dashboard are off; set one, such as `export ESERVELESS_ADMIN_TOKEN=$(openssl rand -hex 32)`, and restart",
    );
  }
  const appFile = join(config.dataDir, APP_FILE_NAME);
  const github = GitHubAppHolder.load({
    environment: config.github,
    missing: config.missingGitHub,
    appFile,
    fs,
    baseUrl: config.githubApiUrl,
    publicUrl: config.publicUrl,
    log,
  });
  const getGitHub = () => github.client();

  const instance = instanceId(config.dataDir, fs);
  const swarm =
    config.orchestrator.kind === "swarm"
      ? { services: new SwarmServices(docker), images: new ImagePusher(docker, config.orchestrator.registry), dockerSecrets: new SwarmSecrets(docker, instance) }
      : undefined;
  if (swarm) await checkSwarm(swarm.services, { image: config.images.node, labels: { [`${LABEL}.managed`]: "true", [`${LABEL}.instance`]: instance } }, log);
  const networks = new ProjectNetworks({
    docker,
    instance,
    // A swarm's overlay networks span every node: larger than a single host's bridges.
    subnets: new SubnetPool(config.networks.pool, config.orchestrator.kind === "swarm" ? config.orchestrator.networkSize : config.networks.size),
    self: config.networks.container,
    driver: swarm ? "overlay" : "bridge",
    // From a runtime's base image: a host that built a function has one.
    holders: new NetworkHolders({ docker, instance, images: [config.images.node, config.images.golang], log: log.child({ component: "networks" }) }),
    log: log.child({ component: "networks" }),
  });
  // Read as each container is created: a preview's get `preview` secrets, never production's.
  const secretValues = (repository: string, names: readonly string[], environment?: string) => store.secretValues(repository, secretEnvironmentOf(environment), names);
  // One budget for every function container: http replicas and cron runs.
  const budget = new ContainerBudget(config.containerBudget);
  // For signed-in viewers only: the reason and the lines quote what the function printed.
  const onStartFailure = (target: FunctionTarget, error: unknown) => {
    store.appendLog(target.deploymentId, `${target.name}: a container failed to start on demand: ${(error as Error).message}`, { private: true });
    if (error instanceof ContainerFailedError) for (const line of error.logs) store.appendLog(target.deploymentId, `  ${target.name} | ${line}`, { private: true });
  };
  const pool: Pool = swarm
    ? new SwarmPool({
        ...swarm,
        cpus: config.functionCpus,
        instance,
        log: log.child({ component: "pool" }),
        readyTimeoutMs: config.pool.coldStartTimeoutMs,
        queueSize: config.pool.queueSize,
        maxWaiting: config.pool.maxWaiting,
        networks,
        now,
        output: (lines) => store.appendOutput(lines),
        secretValues,
        onStartFailure,
      })
    : new ContainerPool({
        budget,
        cpus: config.functionCpus,
        docker,
        instance,
        log: log.child({ component: "pool" }),
        readyTimeoutMs: config.pool.coldStartTimeoutMs,
        queueSize: config.pool.queueSize,
        maxWaiting: config.pool.maxWaiting,
        pauseAfterMs: config.pool.pauseAfterMs,
        scaleUpAfterMs: config.pool.scaleUpAfterMs,
        // Requests that wait because the router or the host has no CPU to spare are not the function's queueing.
        routerSaturated: routerSaturation({ minIdleCores: config.pool.scaleUpIdleCpus }),
        networks,
        // ESERVELESS_TRANSPORT: a socket folder per container under DATA_DIR/sockets, or TCP.
        sockets: config.transport === "unix" ? new SocketDirs(config.socketsDir) : undefined,
        now,
        // What functions print, kept per function in the store (a bounded ring), shown by `eserveless logs` and the dashboard.
        output: (lines) => store.appendOutput(lines),
        secretValues,
        onStartFailure,
      });
  const adoption = await adoptContainers({
    pool,
    live: () => store.allLiveFunctions().filter((fn) => fn.type === "http").map(functionTarget),
    // The networks of projects and previews with nothing live any more: their containers went with the adoption.
    then: () => networks.prune(store.allLiveFunctions()),
    log,
  });
  const metrics = createMetrics(() => pool.stats());
  const roller = createSecretRoller({ store, pool, log: log.child({ component: "secrets" }) });
  const scheduler = new CronScheduler({
    instance,
    store,
    docker,
    networks,
    log: log.child({ component: "cron" }),
    now,
    budget,
    cpus: config.functionCpus,
    secretValues,
    // On a swarm a tick is a one-shot job on whichever node has room.
    ...(swarm ? { run: (input: RunOnceInput) => runSwarmJob({ ...swarm, log: log.child({ component: "cron" }) }, input) } : {}),
  });
  const previews =
    config.previews.max > 0
      ? createPreviews({
          store,
          github: getGitHub,
          // The deployer is made below; a pull request event arrives only once the app serves.
          deploy: (request) => deployer.enqueue(request),
          pool,
          networks,
          docker,
          instance,
          urls: { publicUrl: config.publicUrl, functionsUrl: config.functionsUrl },
          maxPreviews: config.previews.max,
          idleTimeout: config.previews.idleTimeout,
          log: log.child({ component: "previews" }),
        })
      : undefined;
  const deployer = createDeployer({
    instance,
    store,
    docker,
    pool,
    networks,
    templates: await loadRuntimeTemplates(RUNTIMES_DIR),
    images: config.images,
    build: {
      network: () => networks.forBuilds(),
      memoryBytes: config.build.memoryBytes,
      cpus: config.build.cpus,
      timeoutMs: config.build.timeoutMs,
      slots: new Slots(config.build.maxConcurrent),
    },
    publicUrl: config.publicUrl,
    functionsUrl: config.functionsUrl,
    github: getGitHub,
    sourceLimits: config.sourceLimits,
    manifestLimits: config.manifestLimits,
    keepReleases: config.keepReleases,
    checks: config.checks,
    log,
    onLive: (repository) => scheduler.sync(repository),
    secrets: roller,
    previews: previews?.hooks,
  });
  scheduler.start();
  // Deployments a previous process left half-done end as errors, on their commits too.
  const interrupted = deployer.recoverInterrupted().then((count) => {
    if (count > 0) log.warn({ count }, "ended deployments interrupted by the last stop as errors");
  });
  const { app, listener, flushLog } = createApp({
    store,
    deployer,
    secrets: secretActions({ store, roller, log: log.child({ component: "secrets" }) }),
    removeProject: (repository) => removeProject(repository, { store, pool, scheduler, networks, docker, instance }),
    previews,
    pool,
    docker,
    scheduler,
    metrics,
    github: getGitHub,
    publicUrl: config.publicUrl,
    functionsUrl: config.functionsUrl,
    trustedProxies: config.trustedProxies,
    adminToken: config.adminToken,
    maxBodyBytes: config.pool.maxBodyBytes,
    maxUploadBytes: config.sourceLimits.maxBytes,
    log,
    now,
    setup: {
      publicUrl: config.publicUrl,
      githubApiUrl: config.githubApiUrl,
      githubUrl: config.githubUrl,
      readManifest: () => fs.readFile(APP_MANIFEST),
      appFile,
      fs,
      current: () => github.configured(),
      onCreated: (app) => github.useStored(app),
      problem: () => github.problem(),
      states: new PendingStates({ now }),
      now,
      log,
    },
  });

  return {
    /** The hono app: every route; `app.request()` in tests. */
    app,
    /** What a node server serves: plain function URLs straight to the router, the rest through `app`. */
    listener,
    pool,
    networks,
    deployer,
    scheduler,
    /** Pull-request previews (undefined with ESERVELESS_MAX_PREVIEWS=0). */
    previews,
    /** The GitHub App in use; /setup swaps one in. */
    github,
    /** Settles once the deployments the last stop interrupted are ended, and the images of those that never went live removed. */
    recovered: interrupted,
    /**
     * Stops cron schedules (killing runs in progress) and waits for running
     * deployments. With `keepContainers` (a restart) function containers stay
     * up for the next start to adopt; otherwise they are removed. The store
     * stays open for its opener to close.
     */
    async close(options: { keepContainers?: boolean } = {}): Promise<void> {
      adoption.stop();
      await interrupted;
      await scheduler.stop();
      await deployer.close();
      await previews?.idle();
      await pool.close(options);
      flushLog();
      if (!options.keepContainers) {
        // Docker may be gone by now; the next start prunes the networks with nothing live.
        await networks.removeAll().catch((error: unknown) => log.warn({ err: error }, "could not remove the project networks at stop"));
      }
    },
  };
}

/**
 * Checks at start that this engine manages an active swarm, and warns when
 * its dockerd lacks --no-new-privileges: Engine 20.10 ignores the setting per
 * service, so only the daemon's default keeps setuid binaries from raising a
 * function's privileges. Workers cannot be asked from here: each node's
 * dockerd must run with it (README, Scale out with Docker Swarm).
 */
async function checkSwarm(services: SwarmServices, probe: { image: string; labels: Record<string, string> }, log: Logger): Promise<void> {
  const manager = await services.isManager().catch((error: unknown) => {
    log.error({ err: error }, "Docker is not reachable: ESERVELESS_ORCHESTRATOR=swarm needs the Docker socket of a swarm manager");
    return true;
  });
  if (!manager) log.error("ESERVELESS_ORCHESTRATOR=swarm, but this Docker engine is not a manager of an active swarm: run `docker swarm init` (or mount a manager's socket); deployments fail until it is");
  const noNewPrivileges = await services.noNewPrivileges(probe.image, probe.labels);
  if (noNewPrivileges === undefined) {
    log.warn({ image: probe.image }, "could not check that this node's dockerd runs with --no-new-privileges (a container of the node image did not run); every node's dockerd must");
  } else if (!noNewPrivileges) {
    log.warn(
      "this node's dockerd runs without --no-new-privileges; Docker Swarm cannot set it per service, so function replicas could gain privileges through setuid binaries. Start every node's dockerd with --no-new-privileges (or \"no-new-privileges\": true in daemon.json)",
    );
  } else {
    log.info("this node's dockerd runs with --no-new-privileges; every other node's must too (Swarm cannot set it per service)");
  }
}
