import { getRequestListener } from "@hono/node-server";
import Docker from "dockerode";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { readConfig } from "../../src/config.js";
import { createEserveless } from "../../src/eserveless.js";
import type { GitHubEmulator } from "./github-emulator.js";
import { webhookDelivery } from "./webhook-delivery.js";

export const ADMIN_TOKEN = "test-admin-token-0123456789abcdef";

/** Test stand-ins for the base images, built by scripts/build-base-images.sh. */
export const testImages = {
  ESERVELESS_NODE_IMAGE: process.env.ESERVELESS_NODE_IMAGE ?? "eserveless-local/node:20",
  ESERVELESS_GO_IMAGE: process.env.ESERVELESS_GO_IMAGE ?? "eserveless-local/go:1.19",
};

/**
 * Runs a whole eserveless on a loopback port, wired exactly as `main.ts`
 * wires it, against the real Docker engine and the GitHub emulator.
 */
export async function startEserveless(options: { emulator?: GitHubEmulator; env?: Record<string, string> | ((url: string) => Record<string, string>) } = {}) {
  // Listen first so PUBLIC_URL (and whatever `env` derives from the URL) names the real port.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const env = typeof options.env === "function" ? options.env(url) : options.env;
  const dataDir = env?.DATA_DIR ?? mkdtempSync(join(tmpdir(), "eserveless-test-"));
  const emulator = options.emulator;
  const config = readConfig({
    PUBLIC_URL: url,
    DATA_DIR: dataDir,
    ESERVELESS_ADMIN_TOKEN: ADMIN_TOKEN,
    LOG_LEVEL: process.env.LOG_LEVEL ?? "silent",
    ...testImages,
    ...(emulator
      ? { APP_ID: String(emulator.appId), PRIVATE_KEY: emulator.privateKey, WEBHOOK_SECRET: emulator.webhookSecret, GITHUB_API_URL: emulator.url }
      : {}),
    ...env,
  });
  const log = pino({ level: config.logLevel });
  const docker = new Docker();
  const eserveless = await createEserveless(config, { docker, log });
  server.on("request", getRequestListener(eserveless.app.fetch));

  return {
    ...eserveless,
    url,
    dataDir,
    /** Sends a signed webhook delivery over HTTP, as GitHub would. */
    async deliver(event: string, payload: unknown, init: { id?: string; secret?: string } = {}): Promise<Response> {
      const delivery = webhookDelivery({ event, payload, secret: init.secret ?? emulator?.webhookSecret ?? "", id: init.id });
      return fetch(`${url}/webhooks/github`, { method: "POST", headers: delivery.headers, body: delivery.body });
    },
    /** Stops it; `restart` keeps the containers and the data for a new instance, as a server restart would. */
    async stop(stopOptions: { restart?: boolean } = {}): Promise<void> {
      await eserveless.close({ keepContainers: stopOptions.restart });
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      if (stopOptions.restart) return;
      // The images this instance built: test runs must not fill the disk.
      const instance = readFileSync(join(dataDir, "instance-id"), "utf8").trim();
      const images = await docker.listImages({ filters: { label: [`dev.eserveless.instance=${instance}`] } });
      await Promise.all(images.map((image) => docker.getImage(image.Id).remove({ force: true }).catch(() => undefined)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export type TestEserveless = Awaited<ReturnType<typeof startEserveless>>;
