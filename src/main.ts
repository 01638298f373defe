import { serve } from "@hono/node-server";
import Docker from "dockerode";
import { readFileSync } from "node:fs";
import { pino } from "pino";
import { ConfigError, readConfig } from "./config.js";
import { createEserveless } from "./eserveless.js";

/** The composition root: the only place that reads the environment, listens and exits. */
async function main(): Promise<void> {
  let config;
  try {
    config = readConfig(process.env, (path) => readFileSync(path, "utf8"));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(78); // EX_CONFIG
  }
  const log = pino({ level: config.logLevel });
  // dockerode reads DOCKER_HOST (and DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) itself.
  const eserveless = await createEserveless(config, { docker: new Docker(), log });
  const server = serve({ fetch: eserveless.app.fetch, port: config.port, hostname: config.host }, (info) => {
    log.info({ address: info.address, port: info.port, publicUrl: config.publicUrl }, `eserveless listening; webhook URL ${config.publicUrl}/webhooks/github`);
  });
  const shutdown = (signal: string) => {
    log.info({ signal }, "shutting down");
    server.close();
    // Function containers stay up: the next start adopts them, so URLs answer at once.
    void eserveless.close({ keepContainers: true }).then(() => process.exit(0));
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}

await main();
