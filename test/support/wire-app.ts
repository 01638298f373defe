import Docker from "dockerode";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { readConfig } from "../../src/config.js";
import { createEserveless, DATABASE_FILE_NAME } from "../../src/eserveless.js";
import { nodeFileSystem } from "../../src/node-file-system.js";
import { prepareDataDir } from "../../src/prepare-data-dir.js";
import { loadSecretKeys } from "../../src/store/secrets-key.js";
import { createStore } from "../../src/store/store.js";

/** Test stand-ins for the base images, built by scripts/build-base-images.sh. */
export const testImages = {
  ESERVELESS_NODE_IMAGE: process.env.ESERVELESS_NODE_IMAGE ?? "eserveless-local/node:20",
  ESERVELESS_GO_IMAGE: process.env.ESERVELESS_GO_IMAGE ?? "eserveless-local/go:1.19",
};

/**
 * A Docker client that cannot connect: every call fails at once, as with no
 * engine running. Tests of the HTTP layer use it, so they pass without one.
 */
export function unreachableDocker(): Docker {
  return new Docker({ socketPath: "/nonexistent/eserveless-test/docker.sock" });
}

/**
 * eserveless built by the real factory, as `main.ts` builds it, from `env`
 * over a fresh DATA_DIR (made private as main.ts makes it: its SQLite file, its instance id) and the given
 * Docker client. It never listens: tests call `app.request()`.
 */
export async function wireApp(options: { docker: Docker; env?: Record<string, string>; now?: () => number; logTo?: NodeJS.WritableStream }) {
  const dataDir = options.env?.DATA_DIR ?? mkdtempSync(join(tmpdir(), "eserveless-test-"));
  // ESERVELESS_TRANSPORT=tcp npx vitest … runs the suite over published ports instead of sockets.
  const transport = process.env.ESERVELESS_TRANSPORT === undefined ? {} : { ESERVELESS_TRANSPORT: process.env.ESERVELESS_TRANSPORT };
  const config = readConfig({ DATA_DIR: dataDir, LOG_LEVEL: process.env.LOG_LEVEL ?? "silent", ...testImages, ...transport, ...options.env });
  const log = options.logTo ? pino({ level: config.logLevel }, options.logTo) : pino({ level: config.logLevel });
  prepareDataDir(dataDir, log);
  const now = options.now ?? Date.now;
  const { keys } = loadSecretKeys({ ...config.secretsKey, dataDir, fs: nodeFileSystem });
  const store = createStore(join(dataDir, DATABASE_FILE_NAME), { now, secrets: keys });
  const eserveless = await createEserveless(config, { docker: options.docker, log, store, fs: nodeFileSystem, now });
  return {
    ...eserveless,
    config,
    store,
    dataDir,
    /** Closes eserveless and its store; removes DATA_DIR unless `keepData`. */
    async close(closeOptions: { keepContainers?: boolean; keepData?: boolean } = {}): Promise<void> {
      await eserveless.close({ keepContainers: closeOptions.keepContainers });
      store.close();
      if (!closeOptions.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export type WiredApp = Awaited<ReturnType<typeof wireApp>>;
