import Docker from "dockerode";
import { readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { GitHubEmulator } from "./github-emulator.js";
import { webhookDelivery } from "./webhook-delivery.js";
import { testImages, wireApp } from "./wire-app.js";

export { testImages };

export const ADMIN_TOKEN = "test-admin-token-0123456789abcdef";

/**
 * Runs a whole eserveless on a loopback port, wired as `main.ts` wires it,
 * against the GitHub emulator and the real Docker engine (or `docker`, such
 * as an unreachable one for tests that need no engine).
 */
export async function startEserveless(
  options: { emulator?: GitHubEmulator; env?: Record<string, string> | ((url: string) => Record<string, string>); docker?: Docker; /** Where its log goes (stdout when absent). */ logTo?: NodeJS.WritableStream } = {},
) {
  // Listen first so PUBLIC_URL (and whatever `env` derives from the URL) names the real port.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const env = typeof options.env === "function" ? options.env(url) : options.env;
  const emulator = options.emulator;
  const docker = options.docker ?? new Docker();
  const wired = await wireApp({
    docker,
    logTo: options.logTo,
    env: {
      PUBLIC_URL: url,
      ESERVELESS_ADMIN_TOKEN: ADMIN_TOKEN,
      ...(emulator
        ? { APP_ID: String(emulator.appId), PRIVATE_KEY: emulator.privateKey, WEBHOOK_SECRET: emulator.webhookSecret, GITHUB_API_URL: emulator.url }
        : {}),
      ...env,
    },
  });
  const dataDir = wired.dataDir;
  server.on("request", wired.listener);

  return {
    ...wired,
    url,
    /** Sends a signed webhook delivery over HTTP, as GitHub would. */
    async deliver(event: string, payload: unknown, init: { id?: string; secret?: string } = {}): Promise<Response> {
      const delivery = webhookDelivery({ event, payload, secret: init.secret ?? emulator?.webhookSecret ?? "", id: init.id });
      return fetch(`${url}/webhooks/github`, { method: "POST", headers: delivery.headers, body: delivery.body });
    },
    /** Stops it; `restart` keeps the containers and the data for a new instance, as a server restart would. */
    async stop(stopOptions: { restart?: boolean } = {}): Promise<void> {
      await wired.close({ keepContainers: stopOptions.restart, keepData: true });
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      if (stopOptions.restart) return;
      // The images this instance built: test runs must not fill the disk. Without an engine it built none.
      const instance = readFileSync(join(dataDir, "instance-id"), "utf8").trim();
      const images = await docker.listImages({ filters: { label: [`dev.eserveless.instance=${instance}`] } }).catch(() => []);
      await Promise.all(images.map((image) => docker.getImage(image.Id).remove({ force: true }).catch(() => undefined)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export type TestEserveless = Awaited<ReturnType<typeof startEserveless>>;
