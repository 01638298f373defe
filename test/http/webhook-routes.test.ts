import { getRequestListener } from "@hono/node-server";
import type { WebhookDefinition } from "@octokit/webhooks-examples";
import { createHmac, generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StoredApp } from "../../src/github/app-setup.js";
import { WEBHOOK_BODY_SLOTS, WEBHOOK_MAX_BYTES } from "../../src/http/webhook-routes.js";
import type { Store } from "../../src/store/store.js";
import { chunkedPost, type ChunkedPostAnswer } from "../support/chunked-post.js";
import { startEserveslessProcess } from "../support/eserveless-process.js";
import { forgedWebhookHeaders, webhookFlood } from "../support/webhook-flood.js";
import { webhookDelivery } from "../support/webhook-delivery.js";
import { unreachableDocker, wireApp, type WiredApp } from "../support/wire-app.js";

const SECRET = "webhook-secret-for-tests";
const ZERO_SHA = "0".repeat(40);

/** The examples package's main is a bare JSON file; require() reads it (as in the GitHub emulator). */
const definitions = createRequire(import.meta.url)("@octokit/webhooks-examples") as WebhookDefinition[];

/** A deep copy of the first example of `event` that `match` accepts, to edit freely. */
function example<T = Record<string, unknown>>(event: string, match: (e: Record<string, unknown>) => boolean = () => true): T {
  const found = definitions.find((d) => d.name === event)?.examples.find((e) => match(e as Record<string, unknown>));
  if (!found) throw new Error(`@octokit/webhooks-examples has no matching ${event} example`);
  return structuredClone(found) as T;
}

interface InstallationPayload {
  action: string;
  installation: { id: number };
  repositories?: Array<{ full_name: string }>;
}
interface InstallationRepositoriesPayload {
  action: string;
  installation: { id: number };
  repositories_added: Array<{ full_name: string }>;
  repositories_removed: Array<{ full_name: string }>;
}
interface PushPayload {
  ref: string;
  before: string;
  after: string;
  deleted: boolean;
  created: boolean;
  installation?: { id: number };
  repository: { full_name: string; default_branch: string; master_branch?: string };
}

/** A branch push with an installation, re-homed to `fullName` (default branch "main"). */
function pushPayload(fullName: string, input: { ref: string; after?: string; deleted?: boolean; installationId?: number }): PushPayload {
  const payload = example<PushPayload>("push", (e) => Boolean(e.installation) && String(e.ref).startsWith("refs/heads/"));
  payload.repository.full_name = fullName;
  payload.repository.default_branch = "main";
  payload.repository.master_branch = "main";
  payload.ref = input.ref;
  payload.deleted = Boolean(input.deleted);
  payload.created = false;
  payload.before = "1".repeat(40);
  payload.after = input.deleted ? ZERO_SHA : (input.after ?? "2".repeat(40));
  payload.installation = { id: input.installationId ?? 4242 };
  return payload;
}

const privateKey = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  privateKeyEncoding: { type: "pkcs1", format: "pem" },
  publicKeyEncoding: { type: "spki", format: "pem" },
}).privateKey;

/** Nothing listens on port 9 of loopback: the events sent here make no GitHub API calls. */
const GITHUB_API_URL = "http://127.0.0.1:9";

let wired: WiredApp;
let store: Store;

beforeAll(async () => {
  // The webhook routes need no Docker engine: the client given cannot connect.
  wired = await wireApp({
    docker: unreachableDocker(),
    env: { APP_ID: "4242", PRIVATE_KEY: privateKey, WEBHOOK_SECRET: SECRET, GITHUB_API_URL },
  });
  store = wired.store;
});

afterAll(async () => {
  await wired?.close();
});

/** An eserveless with no GitHub App configured yet, as a fresh install starts. */
const unconfigured = () => wireApp({ docker: unreachableDocker(), env: { GITHUB_API_URL } });

/** A GitHub App as /setup stores it, with webhook secret `webhookSecret`. */
function storedApp(webhookSecret: string): StoredApp {
  return {
    appId: 4243,
    slug: "eserveless-test",
    name: "eserveless test",
    htmlUrl: "https://github.com/apps/eserveless-test",
    privateKey,
    webhookSecret,
    createdAt: new Date().toISOString(),
  };
}

function deliver(event: string, payload: unknown, init: { id?: string; secret?: string; to?: WiredApp } = {}) {
  const delivery = webhookDelivery({ event, payload, secret: init.secret ?? SECRET, id: init.id });
  return (init.to ?? wired).app.request("/webhooks/github", { method: "POST", headers: delivery.headers, body: delivery.body });
}

async function json(response: Response): Promise<Record<string, unknown>> {
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  return (await response.json()) as Record<string, unknown>;
}

describe("POST /webhooks/github", () => {
  it("answers a ping with pong", async () => {
    const response = await deliver("ping", example("ping"));
    expect(response.status).toBe(200);
    expect(await json(response)).toEqual({ action: "recorded", reason: "pong" });
  });

  it("ignores a redelivery of a delivery it already handled", async () => {
    const id = randomUUID();
    expect((await deliver("ping", example("ping"), { id })).status).toBe(200);
    const again = await deliver("ping", example("ping"), { id });
    expect(again.status).toBe(200);
    expect(await json(again)).toEqual({ action: "ignored", reason: "this delivery was already handled" });
  });

  it("ignores events it does not act on", async () => {
    const response = await deliver("issues", { action: "opened" });
    expect(response.status).toBe(200);
    expect(await json(response)).toEqual({ action: "ignored", reason: "eserveless does not act on issues events" });
  });

  it("records the repositories of a new installation and forgets them when it is deleted", async () => {
    const created = example<InstallationPayload>("installation", (e) => e.action === "created");
    created.installation.id = 5001;
    created.repositories = [{ ...created.repositories![0]!, full_name: "inst-a/one" }, { ...created.repositories![0]!, full_name: "inst-a/two" }];
    const response = await deliver("installation", created);
    expect(response.status).toBe(200);
    expect(await json(response)).toEqual({ action: "recorded", reason: "installation created" });
    expect(store.getRepository("inst-a/one")?.installationId).toBe(5001);
    expect(store.getRepository("INST-A/TWO")?.installationId).toBe(5001);

    // Another installation's repository, which the deletion must not touch.
    const other = example<InstallationPayload>("installation", (e) => e.action === "created");
    other.installation.id = 5002;
    other.repositories = [{ ...other.repositories![0]!, full_name: "inst-b/three" }];
    expect((await deliver("installation", other)).status).toBe(200);

    const deleted = example<InstallationPayload>("installation", (e) => e.action === "deleted");
    deleted.installation.id = 5001;
    const gone = await deliver("installation", deleted);
    expect(gone.status).toBe(200);
    expect(await json(gone)).toEqual({ action: "recorded", reason: "installation deleted" });
    expect(store.getRepository("inst-a/one")?.installationId).toBeNull();
    expect(store.getRepository("inst-a/two")?.installationId).toBeNull();
    expect(store.getRepository("inst-b/three")?.installationId).toBe(5002);
  });

  it("forgets the repositories of a suspended installation", async () => {
    const created = example<InstallationPayload>("installation", (e) => e.action === "created");
    created.installation.id = 6001;
    created.repositories = [{ ...created.repositories![0]!, full_name: "susp/one" }];
    await deliver("installation", created);
    expect(store.getRepository("susp/one")?.installationId).toBe(6001);

    const suspend = example<InstallationPayload>("installation", (e) => e.action === "suspend");
    suspend.installation.id = 6001;
    const response = await deliver("installation", suspend);
    expect(await json(response)).toEqual({ action: "recorded", reason: "installation suspend" });
    expect(store.getRepository("susp/one")?.installationId).toBeNull();
  });

  it("follows repositories added to and removed from an installation", async () => {
    const added = example<InstallationRepositoriesPayload>("installation_repositories", (e) => e.action === "added");
    added.installation.id = 7001;
    added.repositories_added = [
      { ...added.repositories_added[0]!, full_name: "sel/kept" },
      { ...added.repositories_added[0]!, full_name: "sel/dropped" },
    ];
    const response = await deliver("installation_repositories", added);
    expect(response.status).toBe(200);
    expect(await json(response)).toEqual({ action: "recorded", reason: "repositories added" });
    expect(store.getRepository("sel/kept")?.installationId).toBe(7001);
    expect(store.getRepository("sel/dropped")?.installationId).toBe(7001);

    const removed = example<InstallationRepositoriesPayload>("installation_repositories", (e) => e.action === "removed");
    removed.installation.id = 7001;
    removed.repositories_removed = [{ ...removed.repositories_removed[0]!, full_name: "sel/dropped" }];
    const gone = await deliver("installation_repositories", removed);
    expect(await json(gone)).toEqual({ action: "recorded", reason: "repositories removed" });
    expect(store.getRepository("sel/dropped")?.installationId).toBeNull();
    expect(store.getRepository("sel/kept")?.installationId).toBe(7001);
  });

  it("does not deploy a push to another branch, but remembers the repository", async () => {
    const response = await deliver("push", pushPayload("pushy/feature", { ref: "refs/heads/feature", installationId: 8001 }));
    expect(response.status).toBe(200);
    expect(await json(response)).toEqual({ action: "ignored", reason: "only pushes to the default branch (main) deploy" });
    expect(store.getRepository("pushy/feature")).toEqual({ fullName: "pushy/feature", installationId: 8001, defaultBranch: "main" });
    expect(store.listDeployments("pushy/feature")).toEqual([]);
  });

  it("does not deploy a push from the owner reserved for local folders", async () => {
    const response = await deliver("push", pushPayload("local/hello", { ref: "refs/heads/main" }));
    expect(response.status).toBe(200);
    expect(((await json(response)) as { reason: string }).reason).toContain("reserved");
    expect(store.listDeployments("local/hello")).toEqual([]);
  });

  it("does not deploy a tag push", async () => {
    const response = await deliver("push", pushPayload("pushy/tags", { ref: "refs/tags/v1.0.0" }));
    expect(response.status).toBe(200);
    const body = await json(response);
    expect(body.action).toBe("ignored");
    expect(body.reason).toMatch(/^tag pushes do not deploy; push to main/);
    expect(store.listDeployments("pushy/tags")).toEqual([]);
  });

  it("does not deploy when the default branch is deleted", async () => {
    const response = await deliver("push", pushPayload("pushy/deleted", { ref: "refs/heads/main", deleted: true }));
    expect(response.status).toBe(200);
    expect(await json(response)).toEqual({ action: "ignored", reason: "refs/heads/main was deleted; production is unchanged" });
    expect(store.listDeployments("pushy/deleted")).toEqual([]);
  });

  it("rejects a signed push missing a field it needs with 400 naming it, and handles its redelivery again", async () => {
    const payload = pushPayload("pushy/broken", { ref: "refs/heads/main" }) as unknown as Record<string, unknown>;
    delete payload.after;
    const id = randomUUID();
    const first = await deliver("push", payload, { id });
    expect(first.status).toBe(400);
    expect(((await json(first)).error as { message: string }).message).toContain("after");
    expect((await deliver("push", payload, { id })).status).toBe(400);
  });

  it("rejects a wrong signature with 401, without spending the delivery id", async () => {
    const id = randomUUID();
    const forged = await deliver("ping", example("ping"), { id, secret: "not-the-secret" });
    expect(forged.status).toBe(401);
    const body = (await json(forged)) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("unauthorized");
    expect(body.error.message).toContain("WEBHOOK_SECRET");

    // The genuine delivery with the same id is still handled.
    const genuine = await deliver("ping", example("ping"), { id });
    expect(await json(genuine)).toEqual({ action: "recorded", reason: "pong" });
  });

  it("rejects a signature over another body with 401", async () => {
    const signed = webhookDelivery({ event: "installation", payload: { action: "deleted", installation: { id: 1 } }, secret: SECRET });
    const tampered = JSON.stringify({ action: "deleted", installation: { id: 5002 } });
    const response = await wired.app.request("/webhooks/github", { method: "POST", headers: signed.headers, body: tampered });
    expect(response.status).toBe(401);
  });

  it("rejects a delivery without a signature with 401", async () => {
    const { headers, body } = webhookDelivery({ event: "ping", payload: example("ping"), secret: SECRET });
    delete headers["x-hub-signature-256"];
    const response = await wired.app.request("/webhooks/github", { method: "POST", headers, body });
    expect(response.status).toBe(401);
    expect(((await json(response)) as { error: { code: string } }).error.code).toBe("unauthorized");
  });

  it("rejects a correctly signed body that is not JSON with 400", async () => {
    const { headers } = webhookDelivery({ event: "ping", payload: {}, secret: SECRET });
    const body = "payload=%7B%22zen%22%3A%22hi%22%7D"; // what a form-encoded webhook sends
    headers["content-type"] = "application/x-www-form-urlencoded";
    headers["x-hub-signature-256"] = `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`;
    const response = await wired.app.request("/webhooks/github", { method: "POST", headers, body });
    expect(response.status).toBe(400);
    const error = ((await json(response)) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe("bad_request");
    expect(error.message).toContain("application/json");
  });

  it("does not count a rejected body as handled: its redelivery is rejected again, not acknowledged", async () => {
    const body = "payload=%7B%7D";
    const signature = `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`;
    const { headers } = webhookDelivery({ event: "ping", payload: {}, secret: SECRET });
    const send = () => wired.app.request("/webhooks/github", { method: "POST", headers: { ...headers, "x-hub-signature-256": signature }, body });
    expect((await send()).status).toBe(400);
    // GitHub's "Redeliver" repeats the delivery id; a green 200 "already handled" would hide that nothing was done.
    const redelivery = await send();
    expect(redelivery.status).toBe(400);
  });

  it("requires the X-GitHub-Event header", async () => {
    const { headers, body } = webhookDelivery({ event: "ping", payload: example("ping"), secret: SECRET });
    delete headers["x-github-event"];
    const response = await wired.app.request("/webhooks/github", { method: "POST", headers, body });
    expect(response.status).toBe(400);
    expect(((await json(response)) as { error: { message: string } }).error.message).toContain("X-GitHub-Event");
  });

  it("answers 503 pointing to /setup while no webhook secret is configured", async () => {
    const fresh = await unconfigured();
    try {
      const response = await deliver("ping", example("ping"), { to: fresh });
      expect(response.status).toBe(503);
      const error = ((await json(response)) as { error: { code: string; message: string } }).error;
      expect(error.code).toBe("github_not_configured");
      expect(error.message).toContain("/setup");
    } finally {
      await fresh.close();
    }
  });

  it("verifies with the current secret once the App is (re)configured, without a restart", async () => {
    const fresh = await unconfigured();
    try {
      expect((await deliver("ping", example("ping"), { to: fresh })).status).toBe(503);
      // What /setup does once GitHub created the App.
      fresh.github.useStored(storedApp(SECRET));
      expect((await deliver("ping", example("ping"), { to: fresh })).status).toBe(200);
      fresh.github.useStored(storedApp("a-brand-new-secret"));
      expect((await deliver("ping", example("ping"), { to: fresh, secret: "a-brand-new-secret" })).status).toBe(200);
      // The old secret no longer verifies.
      expect((await deliver("ping", example("ping"), { to: fresh, secret: SECRET })).status).toBe(401);
    } finally {
      await fresh.close();
    }
  });
});

describe("POST /webhooks/github against a flood of unsigned bodies, on a real server", () => {
  let server: Server;
  let url: string;
  /** The first piece of a body the tests never finish sending unless they say so. */
  const CHUNK = Buffer.alloc(64 * 1024, 0x20);

  beforeAll(async () => {
    server = createServer(getRequestListener(wired.app.fetch));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  /** The answer, which must come while the client still holds the rest of its body. */
  async function answerBeforeBody(post: ReturnType<typeof chunkedPost>): Promise<ChunkedPostAnswer> {
    const timeout = sleep(5_000).then(() => {
      throw new Error(`no answer after ${post.sent} bytes of an unfinished body: the server waits for the whole body`);
    });
    const answer = await Promise.race([post.response, timeout]);
    expect(answer.sentBefore).toBe(post.sent);
    return answer;
  }

  it("answers a missing or malformed signature with 401 before the body is sent", async () => {
    const malformed = [
      undefined,
      "",
      `sha256=${"a".repeat(63)}`,
      `sha256=${"a".repeat(65)}`,
      `sha256=${"A".repeat(64)}`, // GitHub writes lowercase hex
      `sha256=${"g".repeat(64)}`,
      `sha1=${"a".repeat(40)}`,
      "a".repeat(71),
    ];
    for (const signature of malformed) {
      const headers = forgedWebhookHeaders();
      if (signature === undefined) delete headers["x-hub-signature-256"];
      else headers["x-hub-signature-256"] = signature;
      const post = chunkedPost(`${url}/webhooks/github`, headers);
      await post.write(CHUNK);
      const answer = await answerBeforeBody(post);
      post.destroy();
      expect(answer.status, `signature ${JSON.stringify(signature)}`).toBe(401);
      expect((JSON.parse(answer.body) as { error: { code: string } }).error.code).toBe("unauthorized");
    }
  });

  it("answers a delivery without X-GitHub-Delivery or X-GitHub-Event with 400 before the body is sent", async () => {
    for (const missing of ["x-github-delivery", "x-github-event"]) {
      const headers = forgedWebhookHeaders();
      delete headers[missing];
      const post = chunkedPost(`${url}/webhooks/github`, headers);
      await post.write(CHUNK);
      const answer = await answerBeforeBody(post);
      post.destroy();
      expect(answer.status, missing).toBe(400);
      expect(answer.body).toContain("X-GitHub-Delivery and X-GitHub-Event");
    }
  });

  it("answers a declared length over 25 MB with 413 before the body is sent", async () => {
    const post = chunkedPost(`${url}/webhooks/github`, { ...forgedWebhookHeaders(), "content-length": String(WEBHOOK_MAX_BYTES + 1) });
    await post.write(CHUNK);
    const answer = await answerBeforeBody(post);
    post.destroy();
    expect(answer.status).toBe(413);
  });

  it(`reads at most ${WEBHOOK_BODY_SLOTS} bodies at a time; the posts past them get 503 with Retry-After before their body is sent`, async () => {
    const posts = Array.from({ length: WEBHOOK_BODY_SLOTS * 3 }, () => chunkedPost(`${url}/webhooks/github`, forgedWebhookHeaders()));
    await Promise.all(posts.map((post) => post.write(CHUNK)));
    // The refused ones are answered at once; the ones being read wait for the rest of their body.
    const deadline = Date.now() + 5_000;
    while (posts.filter((post) => post.answered).length < posts.length - WEBHOOK_BODY_SLOTS) {
      if (Date.now() > deadline) throw new Error(`${posts.filter((post) => post.answered).length} of ${posts.length} unfinished posts answered, none refused for lack of a slot`);
      await sleep(20);
    }
    await sleep(300); // and no more than those
    const reading = posts.filter((post) => !post.answered);
    expect(reading).toHaveLength(WEBHOOK_BODY_SLOTS);
    for (const post of posts.filter((p) => p.answered)) {
      const answer = await post.response;
      post.destroy();
      expect(answer.status).toBe(503);
      expect(answer.headers["retry-after"]).toMatch(/^[1-9]\d*$/);
      expect((JSON.parse(answer.body) as { error: { code: string } }).error.code).toBe("webhooks_busy");
      expect(answer.sentBefore).toBe(CHUNK.length);
    }
    // Once their bodies end, the signatures fail, and the slots are free for GitHub's deliveries again.
    for (const post of reading) {
      await post.write(CHUNK);
      post.end();
      expect((await post.response).status).toBe(401);
    }
    const genuine = webhookDelivery({ event: "ping", payload: example("ping"), secret: SECRET });
    const response = await fetch(`${url}/webhooks/github`, { method: "POST", headers: genuine.headers, body: genuine.body });
    expect(response.status).toBe(200);
  });

  it("keeps the server's memory bounded under 100 concurrent chunked 24 MB posts with forged signatures", { timeout: 120_000 }, async () => {
    // Its own process, so that the figure is the server's memory alone.
    const eserveless = await startEserveslessProcess({
      APP_ID: "4242",
      PRIVATE_KEY: privateKey,
      WEBHOOK_SECRET: randomBytes(20).toString("hex"),
      GITHUB_API_URL: "http://127.0.0.1:9", // never called: no post here is genuine
    });
    try {
      const before = eserveless.rss();
      eserveless.resetPeak();
      const flood = await webhookFlood(eserveless.url, { workers: 100, bodyBytes: 24 * 1024 * 1024, bodiesToRead: 2 * WEBHOOK_BODY_SLOTS, retryDelayMs: 1000 });
      const growth = eserveless.peakRss() - before;
      expect(flood.read).toBeGreaterThanOrEqual(2 * WEBHOOK_BODY_SLOTS);
      // Read and refused (401), turned away for lack of a slot (503), or cut off by the read deadline (408) on a loaded machine.
      const seen = JSON.stringify([...flood.statuses]);
      expect([...flood.statuses.keys()].every((status) => [401, 408, 503].includes(status)), seen).toBe(true);
      expect(flood.statuses.get(503), seen).toBeGreaterThan(0);
      // What the slots can hold, plus 128 MiB: socket buffers, the posts being drained after their 503, and
      // garbage not yet collected (V8 collects Buffers once about 64 MiB of them have piled up). Before the
      // slots, every post was read at once: 1.8 GB here.
      expect(growth).toBeLessThan(WEBHOOK_BODY_SLOTS * WEBHOOK_MAX_BYTES + 128 * 1024 * 1024);
    } finally {
      await eserveless.stop();
    }
  });
});

describe("unknown resources", () => {
  it("answers GET /deployments/<unknown> with a 404 JSON error, even for a browser", async () => {
    for (const accept of ["application/json", "text/html"]) {
      const response = await wired.app.request("/deployments/0123456789ab", { headers: { accept } });
      expect(response.status).toBe(404);
      expect(await json(response)).toEqual({ error: { code: "deployment_not_found", message: "No deployment 0123456789ab" } });
    }
  });

  it("answers an unknown route with a 404 JSON error", async () => {
    const response = await wired.app.request("/nowhere", { method: "DELETE" });
    expect(response.status).toBe(404);
    expect(await json(response)).toEqual({ error: { code: "not_found", message: "No route for DELETE /nowhere" } });
  });
});
