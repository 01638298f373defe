import type Docker from "dockerode";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import { loadRuntimeTemplates } from "./image/build-context.js";
import type { Config } from "./config.js";
import { CronScheduler } from "./cron/cron-scheduler.js";
import { createDeployer } from "./deploy/deployer.js";
import { APP_FILE_NAME, readStoredApp, storedAppCredentials, type AppFileSystem, type StoredApp } from "./github/app-setup.js";
import { createGitHubApp, type GitHubApp } from "./github/github-app.js";
import { functionTarget } from "./deploy/function-target.js";
import { createApp } from "./http/create-app.js";
import { createMetrics } from "./http/metrics-routes.js";
import type { ConfiguredApp } from "./http/setup-routes.js";
import { ContainerPool } from "./run/container-pool.js";
import { createStore } from "./store/store.js";

const RUNTIMES_DIR = fileURLToPath(new URL("../runtimes", import.meta.url));
const APP_MANIFEST = fileURLToPath(new URL("../github-app.yml", import.meta.url));
const appFileSystem: AppFileSystem = {
  readFile: (path) => readFileSync(path, "utf8"),
  writeFile: (path, data, options) => writeFileSync(path, data, options),
  chmod: chmodSync,
  rename: renameSync,
  unlink: unlinkSync,
};

/**
 * The id of this installation, kept in DATA_DIR: the label that tells its
 * containers and images from those of another eserveless on the same host.
 */
function instanceId(dataDir: string): string {
  const file = join(dataDir, "instance-id");
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(8).toString("hex")}\n`, { flag: "wx", mode: 0o644 });
  const id = readFileSync(file, "utf8").trim();
  if (!/^[0-9a-f]{16}$/.test(id)) throw new Error(`${file} does not hold an eserveless instance id; delete it to make a new one`);
  return id;
}

/**
 * Wires eserveless from a validated config and the I/O it is given (Docker
 * client, logger). Returns the HTTP app, which the caller serves, and a
 * `close` that stops what was started. Used by `main.ts` and the tests alike.
 */
export async function createEserveless(config: Config, io: { docker: Docker; log: Logger }) {
  const { docker, log } = io;
  mkdirSync(config.dataDir, { recursive: true });
  const store = createStore(join(config.dataDir, "eserveless.db"));

  // The GitHub App: from the environment, else as /setup stored it; /setup swaps it in at runtime.
  const appFile = join(config.dataDir, APP_FILE_NAME);
  let configuredApp: ConfiguredApp | undefined;
  let github: GitHubApp | undefined;
  let appProblem: string | undefined;
  const useStoredApp = (app: StoredApp) => {
    configuredApp = { source: "file", credentials: storedAppCredentials(app), slug: app.slug, name: app.name, htmlUrl: app.htmlUrl, createdAt: app.createdAt };
    github = createGitHubApp({ credentials: configuredApp.credentials, baseUrl: config.githubApiUrl });
  };
  if (config.github) {
    configuredApp = { source: "environment", credentials: config.github };
    github = createGitHubApp({ credentials: config.github, baseUrl: config.githubApiUrl });
    if (existsSync(appFile)) log.info({ file: appFile }, "GitHub App from the environment; the one /setup stored is ignored");
  } else {
    const stored = readStoredApp(appFile, appFileSystem);
    if (stored.kind === "ok") {
      useStoredApp(stored.app);
      // Some, not all, of APP_ID / PRIVATE_KEY / WEBHOOK_SECRET are set.
      if (config.missingGitHub.length < 3) log.warn({ missing: config.missingGitHub }, `GitHub App settings in the environment are incomplete (missing ${config.missingGitHub.join(", ")}) and ignored; using ${appFile}`);
      log.info({ appId: stored.app.appId, slug: stored.app.slug }, `GitHub App ${stored.app.slug} from ${appFile}`);
    } else {
      if (stored.kind === "invalid") {
        appProblem = stored.message;
        log.error({ file: appFile }, `${stored.message}; the GitHub App is not configured: fix or delete the file, or open /setup to create a new App`);
      }
      log.warn(
        { missing: config.missingGitHub },
        `GitHub App not configured (missing ${config.missingGitHub.join(", ")}); pushes cannot deploy until it is: open ${config.publicUrl}/setup to create it`,
      );
    }
  }
  const getGitHub = () => github;

  const instance = instanceId(config.dataDir);
  const pool = new ContainerPool({
    docker,
    instance,
    log: log.child({ component: "pool" }),
    readyTimeoutMs: config.pool.coldStartTimeoutMs,
    queueSize: config.pool.queueSize,
    pauseAfterMs: config.pool.pauseAfterMs,
    network: config.pool.network,
    onStartFailure: (target, error) => {
      store.appendLog(target.deploymentId, `${target.name}: a container failed to start on demand: ${(error as Error).message}`);
      for (const line of (error as { logs?: string[] }).logs ?? []) store.appendLog(target.deploymentId, `  ${target.name} | ${line}`);
    },
  });
  // Take over the previous run's containers; while Docker does not answer, try again every few seconds.
  let adoptRetry: NodeJS.Timeout | undefined;
  const adopt = async (): Promise<void> => {
    try {
      const live = store.liveFunctions().filter((fn) => fn.type === "http").map(functionTarget);
      const { adopted, removed } = await pool.adopt(live);
      if (adopted + removed > 0) log.info({ adopted, removed }, "took over the containers of the previous run");
    } catch (error) {
      log.error({ err: error }, "Docker is not reachable: start the Docker engine or set DOCKER_HOST; deployments and function URLs fail until it answers");
      adoptRetry = setTimeout(() => void adopt(), 5_000);
      adoptRetry.unref();
    }
  };
  await adopt();
  const metrics = createMetrics(() => pool.stats());
  const scheduler = new CronScheduler({ instance, store, docker, log: log.child({ component: "cron" }) });
  const deployer = createDeployer({
    instance,
    store,
    docker,
    pool,
    templates: await loadRuntimeTemplates(RUNTIMES_DIR),
    images: config.images,
    publicUrl: config.publicUrl,
    functionsUrl: config.functionsUrl,
    github: getGitHub,
    sourceLimits: config.sourceLimits,
    log,
    onLive: (repository) => scheduler.sync(repository),
  });
  scheduler.start();
  // Deployments a previous process left half-done end as errors, on their commits too.
  const interrupted = deployer.recoverInterrupted().then((count) => {
    if (count > 0) log.warn({ count }, "ended deployments interrupted by the last stop as errors");
  });
  const app = createApp({
    store,
    deployer,
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
    setup: {
      publicUrl: config.publicUrl,
      githubApiUrl: config.githubApiUrl,
      githubUrl: config.githubUrl,
      readManifest: () => readFileSync(APP_MANIFEST, "utf8"),
      appFile,
      fs: appFileSystem,
      current: () => configuredApp,
      onCreated: (app) => {
        useStoredApp(app);
        appProblem = undefined;
      },
      problem: () => appProblem,
      log,
    },
  });

  return {
    app,
    store,
    pool,
    deployer,
    scheduler,
    /**
     * Stops cron schedules (killing runs in progress), waits for running deployments and closes the database. With
     * `keepContainers` (a restart) function containers stay up for the next
     * start to adopt; otherwise they are removed.
     */
    async close(options: { keepContainers?: boolean } = {}): Promise<void> {
      clearTimeout(adoptRetry);
      await interrupted;
      await scheduler.stop();
      await deployer.close();
      await pool.close(options);
      store.close();
    },
  };
}
