/**
 * Attack-memory bench: the server's resident memory under the two floods of issue 9,
 * findings 6 and 7, each against a fresh eserveless in a child process of its own (so that
 * its RSS holds neither this process nor the attack's client), read from /proc.
 *
 *   npx tsx bench/attack-memory.ts [--only webhooks|tarball] [--workers 100] [--body-mib 24] [--bodies 25]
 *                                  [--tarball-mib 600] [--max-tarball-mib N]
 *
 *   webhooks  --workers clients each post a chunked --body-mib MiB body with a forged (well-formed,
 *             wrong) signature, again one second after each refusal, until the server has read
 *             --bodies whole bodies.
 *   tarball   a push whose commit's tarball is --tarball-mib MiB (GitHub emulator, made as it is
 *             sent), with ESERVELESS_MAX_TARBALL_BYTES at its default unless --max-tarball-mib.
 *
 * Each line: RSS before, the peak during the attack (VmHWM, reset before it starts), the growth,
 * and what the attack saw. Linux only (/proc). Results go to stdout, progress to stderr.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { startEserveslessProcess } from "../test/support/eserveless-process.js";
import { oversizedTarball, startGitHubEmulator } from "../test/support/github-emulator.js";
import { webhookDelivery } from "../test/support/webhook-delivery.js";
import { webhookFlood } from "../test/support/webhook-flood.js";
import { progress } from "./support/exec.js";

const MIB = 1024 * 1024;
const { values } = parseArgs({
  options: {
    workers: { type: "string", default: "100" },
    "body-mib": { type: "string", default: "24" },
    bodies: { type: "string", default: "25" },
    "tarball-mib": { type: "string", default: "600" },
    "max-tarball-mib": { type: "string" },
    only: { type: "string" },
  },
});
const mib = (bytes: number) => `${(bytes / MIB).toFixed(0)} MiB`;

async function webhooks(): Promise<void> {
  const privateKey = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    privateKeyEncoding: { type: "pkcs1", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  }).privateKey;
  const server = await startEserveslessProcess({ APP_ID: "4242", PRIVATE_KEY: privateKey, WEBHOOK_SECRET: randomBytes(20).toString("hex"), GITHUB_API_URL: "http://127.0.0.1:9" });
  try {
    const workers = Number(values.workers);
    progress(`webhooks: ${workers} clients posting ${values["body-mib"]} MiB each…`);
    const before = server.rss();
    server.resetPeak();
    const flood = await webhookFlood(server.url, { workers, bodyBytes: Number(values["body-mib"]) * MIB, bodiesToRead: Number(values.bodies), retryDelayMs: 1000 });
    const peak = server.peakRss();
    const answers = [...flood.statuses].map(([status, count]) => `${count}×${status}`).join(" ");
    console.log(
      `webhooks  ${workers} × ${values["body-mib"]} MiB forged posts: RSS ${mib(before)} → peak ${mib(peak)} (+${mib(peak - before)}); ` +
        `${flood.read} bodies read in ${flood.seconds.toFixed(1)} s; answers ${answers}`,
    );
  } finally {
    await server.stop();
  }
}

async function tarball(): Promise<void> {
  const emulator = await startGitHubEmulator();
  emulator.addRepository({ owner: "octo-org", name: "huge" });
  const limit: Record<string, string> = values["max-tarball-mib"] === undefined ? {} : { ESERVELESS_MAX_TARBALL_BYTES: String(Number(values["max-tarball-mib"]) * MIB) };
  const server = await startEserveslessProcess({
    APP_ID: String(emulator.appId),
    PRIVATE_KEY: emulator.privateKey,
    WEBHOOK_SECRET: emulator.webhookSecret,
    GITHUB_API_URL: emulator.url,
    ...limit,
  });
  try {
    const size = Number(values["tarball-mib"]) * MIB;
    const sha = emulator.commitTarballStream("octo-org", "huge", () => oversizedTarball(size));
    progress(`tarball: a push of a ${mib(size)} tarball…`);
    const before = server.rss();
    server.resetPeak();
    const delivery = webhookDelivery({ event: "push", payload: emulator.pushPayload("octo-org", "huge", { after: sha }), secret: emulator.webhookSecret });
    await fetch(`${server.url}/webhooks/github`, { method: "POST", headers: delivery.headers, body: delivery.body });
    let final;
    while (!(final = emulator.statuses("octo-org", "huge", sha).find((s) => s.context === "eserveless" && s.state !== "pending"))) await sleep(200);
    const peak = server.peakRss();
    console.log(
      `tarball   ${mib(size)} from the API: RSS ${mib(before)} → peak ${mib(peak)} (+${mib(peak - before)}); ` +
        `${mib(emulator.downloads.at(-1)?.bytes ?? 0)} sent; ${final.state}: ${final.description}`,
    );
  } finally {
    await server.stop();
    await emulator.close();
  }
}

if (values.only !== "tarball") await webhooks();
if (values.only !== "webhooks") await tarball();
