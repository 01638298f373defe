import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { pino, type Logger } from "pino";
import { ConfigError, readConfig } from "./config.js";
import { dockerClient } from "./docker-client.js";
import { createEserveless, DATABASE_FILE_NAME } from "./eserveless.js";
import { nodeFileSystem } from "./node-file-system.js";
import { prettyLogOutput } from "./pretty-log.js";
import { prepareDataDir } from "./prepare-data-dir.js";
import { loadSecretKeys } from "./store/secrets-key.js";
import { SecretsKeyError } from "./store/secrets-store.js";
import { createStore, type Store } from "./store/store.js";

/** Longest a log line waits in the buffer before it is written. */
const LOG_FLUSH_MS = 200;
/** Log bytes kept waiting for a stdout nobody reads. */
const LOG_BUFFER_BYTES = 16 * 1024 * 1024;

/** The composition root: the only place that reads the environment, listens and exits. */
async function main(): Promise<void> {
  let config;
  let log: Logger | undefined;
  let store: Store;
  const now = Date.now;
  try {
    config = readConfig(process.env, (path) => readFileSync(path, "utf8"));
    // Lines for people on a terminal, JSON for log collectors; LOG_FORMAT decides when set.
    const pretty = config.logFormat === undefined ? process.stdout.isTTY === true : config.logFormat === "pretty";
    // Written asynchronously and in batches, off the request path: up to 4 KiB of lines go out in one
    // write, and none waits more than LOG_FLUSH_MS; pino flushes what is left when the process exits.
    // At most LOG_BUFFER_BYTES wait while nothing reads stdout (a stalled collector): past it, lines are dropped,
    // counted and reported once it reads again, rather than the server's memory growing with the log.
    const stdout = pino.destination({ dest: 1, sync: false, minLength: 4096, maxLength: LOG_BUFFER_BYTES, periodicFlush: LOG_FLUSH_MS });
    let dropped = 0;
    stdout.on("drop", (data: string) => {
      if (dropped === 0) {
        setTimeout(() => {
          log?.warn({ droppedBytes: dropped }, "stdout was not read: log lines were dropped");
          dropped = 0;
        }, 1000).unref();
      }
      dropped += Buffer.byteLength(data);
    });
    log = pino({ level: config.logLevel }, pretty ? prettyLogOutput(stdout, { color: process.stdout.isTTY === true }) : stdout);
    // Before anything is written in it: the database and the App's key live there.
    prepareDataDir(config.dataDir, log);
    const secrets = loadSecretKeys({ ...config.secretsKey, dataDir: config.dataDir, fs: nodeFileSystem });
    if (secrets.source === "new file") log.warn({ file: join(config.dataDir, "secrets.key") }, "made a new secrets key in DATA_DIR/secrets.key: back it up, apart from the database; without it no secret can be read");
    // A wrong key stops here, the database unchanged.
    store = createStore(join(config.dataDir, DATABASE_FILE_NAME), { now, secrets: secrets.keys });
    if (store.secretsReencrypted > 0) log.info({ count: store.secretsReencrypted }, "re-encrypted secrets from ESERVELESS_SECRETS_KEY_PREVIOUS under the current key; ESERVELESS_SECRETS_KEY_PREVIOUS may now be unset");
  } catch (error) {
    if (!(error instanceof ConfigError) && !(error instanceof SecretsKeyError)) throw error;
    console.error(error.message);
    process.exit(78); // EX_CONFIG
  }
  // dockerode reads DOCKER_HOST (and DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) itself.
  const eserveless = await createEserveless(config, { docker: dockerClient(), log, store, fs: nodeFileSystem, now });
  const server = createServer(eserveless.listener);
  server.listen(config.port, config.host, () => {
    const info = server.address() as AddressInfo;
    log.info({ address: info.address, port: info.port, publicUrl: config.publicUrl, functionsUrl: config.functionsUrl }, `eserveless listening; webhook URL ${config.publicUrl}/webhooks/github`);
  });
  const shutdown = async (signal: string) => {
    log.info({ signal }, "shutting down");
    // New connections stop at once; open ones get a few seconds to finish.
    const closed = new Promise((resolve) => server.close(resolve));
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    // Function containers stay up: the next start adopts them, so URLs answer at once.
    await eserveless.close({ keepContainers: true });
    store.close();
  };
  const stop = (signal: string) =>
    shutdown(signal).then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
}

await main();
