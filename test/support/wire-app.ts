import Docker from "dockerode";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { loadRuntimeTemplates } from "../../src/image/build-context.js";
import { CronScheduler } from "../../src/cron/cron-scheduler.js";
import { createDeployer } from "../../src/deploy/deployer.js";
import type { GitHubApp } from "../../src/github/github-app.js";
import { createApp, type AppOptions } from "../../src/http/create-app.js";
import { createMetrics } from "../../src/http/metrics-routes.js";
import { ContainerPool } from "../../src/run/container-pool.js";
import { createStore } from "../../src/store/store.js";
import { testNetworks } from "./test-networks.js";
import { readConfig } from "../../src/config.js";
import { BuildSlots } from "../../src/image/build-slots.js";

const RUNTIMES = fileURLToPath(new URL("../../runtimes", import.meta.url));

/**
 * The real parts of eserveless (SQLite file, Docker client, pool, deployer,
 * scheduler) wired by hand, for tests that swap one of them per app: the
 * GitHub App getter, the admin token, a Docker client that cannot connect.
 */
export async function wireApp(options: { github: () => GitHubApp | undefined }) {
  const dir = mkdtempSync(join(tmpdir(), "eserveless-app-"));
  const store = createStore(join(dir, "eserveless.db"));
  const log = pino({ level: "silent" });
  const docker = new Docker();
  const instance = "test-wired";
  const networks = testNetworks(docker, instance);
  const config = readConfig({});
  const pool = new ContainerPool({ instance, docker, log, networks });
  const publicUrl = "http://localhost:3000";
  const deployer = createDeployer({
    instance,
    store,
    docker,
    pool,
    networks,
    templates: await loadRuntimeTemplates(RUNTIMES),
    images: { node: "node:20-alpine", golang: "golang:1.22-alpine" },
    build: { ...config.build, network: () => networks.forBuilds(), slots: new BuildSlots(config.build.maxConcurrent) },
    publicUrl,
    github: options.github,
    log,
  });
  const scheduler = new CronScheduler({ instance, store, docker, networks, log });
  const base: AppOptions = { store, deployer, pool, docker, scheduler, metrics: createMetrics(() => pool.stats()), github: options.github, publicUrl, adminToken: undefined, log };
  return {
    dir,
    store,
    /** An app over these parts; `overrides` replace some options. */
    app: (overrides: Partial<AppOptions> = {}) => createApp({ ...base, ...overrides }),
    async close(): Promise<void> {
      await scheduler.stop();
      await pool.close();
      await networks.removeAll();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
