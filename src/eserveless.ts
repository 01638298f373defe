import type Docker from "dockerode";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import { loadRuntimeTemplates } from "./build/build-context.js";
import type { Config } from "./config.js";
import { createDeployer } from "./deploy/deployer.js";
import { createGitHubApp } from "./github/github-app.js";
import { createApp } from "./http/create-app.js";
import { ContainerPool } from "./run/container-pool.js";
import { createStore } from "./store/store.js";

const RUNTIMES_DIR = fileURLToPath(new URL("../runtimes", import.meta.url));

/**
 * Wires eserveless from a validated config and the I/O it is given (Docker
 * client, logger). Returns the HTTP app, which the caller serves, and a
 * `close` that stops what was started. Used by `main.ts` and the tests alike.
 */
export async function createEserveless(config: Config, io: { docker: Docker; log: Logger }) {
  const { docker, log } = io;
  mkdirSync(config.dataDir, { recursive: true });
  const store = createStore(join(config.dataDir, "eserveless.db"));
  const github = config.github ? createGitHubApp({ credentials: config.github, baseUrl: config.githubApiUrl }) : undefined;
  if (!github) {
    log.warn({ missing: config.missingGitHub }, `GitHub App not configured (missing ${config.missingGitHub.join(", ")}); pushes cannot deploy until it is`);
  }

  const pool = new ContainerPool({ docker, log: log.child({ component: "pool" }) });
  try {
    const removed = await pool.removeOrphans();
    if (removed > 0) log.info({ removed }, "removed containers left by a previous run");
  } catch (error) {
    log.error({ err: error }, "Docker is not reachable: start the Docker engine or set DOCKER_HOST; deployments and function URLs fail until it answers");
  }
  const deployer = createDeployer({
    store,
    docker,
    pool,
    templates: await loadRuntimeTemplates(RUNTIMES_DIR),
    images: config.images,
    publicUrl: config.publicUrl,
    github: () => github,
    sourceLimits: config.sourceLimits,
    log,
  });
  const app = createApp({ store, deployer, pool, docker, github: () => github, publicUrl: config.publicUrl, adminToken: config.adminToken, log });

  return {
    app,
    store,
    pool,
    deployer,
    /** Waits for running deployments, removes the containers and closes the database. */
    async close(): Promise<void> {
      await deployer.idle();
      await pool.close();
      store.close();
    },
  };
}
