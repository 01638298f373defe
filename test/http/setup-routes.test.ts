import { Hono } from "hono";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFixture } from "../support/fixtures.js";
import { startGitHubEmulator, type GitHubEmulator } from "../support/github-emulator.js";
import { startEserveless, type TestEserveless } from "../support/start-eserveless.js";
import { manualClock } from "../support/temp-store.js";
import { unreachableDocker, wireApp } from "../support/wire-app.js";
import { errorHandler } from "../../src/http/error-handler.js";
import { setupRoutes } from "../../src/http/setup-routes.js";
import type { GitHubRequest, StoredApp } from "../../src/github/app-setup.js";

const OWNER = "octo-org";
const REPO = "set-up";
const HTML = { accept: "text/html,application/xhtml+xml" };

let emulator: GitHubEmulator;
let server: TestEserveless;
const others: TestEserveless[] = [];

beforeAll(async () => {
  emulator = await startGitHubEmulator();
  emulator.addRepository({ owner: OWNER, name: REPO });
  // No GitHub credentials: only the API URL, as a fresh install has. No Docker engine either: setup needs none.
  server = await startEserveless({ docker: unreachableDocker(), env: { GITHUB_API_URL: emulator.url } });
});

afterAll(async () => {
  for (const other of others) await other.stop();
  await server?.stop();
  await emulator?.close();
});

const unescapeHtml = (text: string) =>
  text.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");

/** GET /setup as a browser: the manifest form's target and manifest. */
async function setupForm(query = "") {
  const response = await fetch(`${server.url}/setup${query}`, { headers: HTML });
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/html/);
  const page = await response.text();
  const action = /<form method="post" action="([^"]+)">/.exec(page)?.[1];
  const manifest = /<input type="hidden" name="manifest" value="([^"]+)">/.exec(page)?.[1];
  expect(action, page).toBeDefined();
  expect(manifest, page).toBeDefined();
  const target = new URL(unescapeHtml(action!));
  return { page, target, state: target.searchParams.get("state")!, manifest: JSON.parse(unescapeHtml(manifest!)) as Record<string, unknown> };
}

const callback = (query: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(`${server.url}/setup/callback?${new URLSearchParams(query)}`, { headers, redirect: "manual" });

/**
 * Pushes node-hello, signed with the App's webhook secret, and checks that the
 * deployment reached GitHub as the App: it fetched the commit and posted the
 * pending status with an installation token of the App /setup created (the
 * emulator checks the token's signature). Building needs Docker, which these
 * tests do without; test/eserveless.test.ts deploys such a push to the end.
 */
async function pushDeployedThroughTheApp(): Promise<string> {
  const sha = emulator.commit(OWNER, REPO, { files: readFixture("node-hello") });
  const push = await server.deliver("push", emulator.pushPayload(OWNER, REPO, { after: sha }), { secret: emulator.webhookSecret });
  expect(push.status).toBe(202);
  await server.deployer.idle();
  const statuses = emulator.statuses(OWNER, REPO, sha).filter((s) => s.context === "eserveless");
  expect(statuses[0]?.state, statuses[0]?.description ?? "").toBe("pending");
  return sha;
}

const conversions = () => emulator.requests.filter((r) => r.path.startsWith("/app-manifests/")).length;

describe("GitHub App setup from its manifest", () => {
  it("refuses webhooks and says so while no App is configured", async () => {
    const response = await server.deliver("push", emulator.pushPayload(OWNER, REPO, { after: "0".repeat(40) }), { secret: emulator.webhookSecret });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ error: { code: "github_not_configured" } });
    const status = await fetch(`${server.url}/setup`);
    expect(await status.json()).toMatchObject({ configured: false });
  });

  it("shows a form that posts the manifest, with this server's URLs, to GitHub's new-App page", async () => {
    const { target, state, manifest, page } = await setupForm();
    // GITHUB_API_URL is the emulator, which is its own web host.
    expect(`${target.origin}${target.pathname}`).toBe(`${emulator.url}/settings/apps/new`);
    expect(state).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(manifest).toMatchObject({
      name: "eserveless",
      hook_attributes: { url: `${server.url}/webhooks/github`, active: true },
      redirect_url: `${server.url}/setup/callback`,
      default_permissions: { contents: "read", statuses: "write", deployments: "write", checks: "read", metadata: "read", pull_requests: "write" },
      default_events: ["push", "pull_request", "issue_comment"],
    });
    // A loopback PUBLIC_URL cannot receive GitHub's webhooks: the page warns.
    expect(page).toContain("GitHub cannot deliver webhooks there");
    // Each visit gets its own state.
    expect((await setupForm()).state).not.toBe(state);
  });

  it("targets an organization's new-App page with ?org=, and refuses a bad name", async () => {
    const { target, page } = await setupForm("?org=octo-org");
    expect(`${target.origin}${target.pathname}`).toBe(`${emulator.url}/organizations/octo-org/settings/apps/new`);
    expect(page).toContain('name="org" value="octo-org"');

    const bad = await fetch(`${server.url}/setup?org=${encodeURIComponent("../evil")}`, { headers: HTML });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("is not a GitHub organization name");
    const badJson = await fetch(`${server.url}/setup?org=a--b`);
    expect(badJson.status).toBe(400);
    expect(await badJson.json()).toMatchObject({ error: { code: "invalid_organization" } });
  });

  it("refuses a callback with an unknown or missing state, before asking GitHub", async () => {
    emulator.addManifestCode("code-for-a-forged-state");
    const before = conversions();
    const forged = await callback({ code: "code-for-a-forged-state", state: "forged" }, HTML);
    expect(forged.status).toBe(400);
    const page = await forged.text();
    expect(page).toContain("This setup link is unknown or has expired");
    expect(page).toContain('href="/setup"');
    const missing = await callback({ code: "code-for-a-forged-state" });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: { code: "setup_state_invalid" } });
    expect(conversions()).toBe(before);
  });

  it("refuses a code that was already used, and the state with it", async () => {
    emulator.addManifestCode("used-code");
    const used = await fetch(`${emulator.url}/app-manifests/used-code/conversions`, { method: "POST" });
    expect(used.status).toBe(201);

    const { state } = await setupForm();
    const response = await callback({ code: "used-code", state });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("setup_code_invalid");
    expect(body.error.message).toContain("GitHub does not know this setup code");
    // Nothing was stored and nothing changed.
    expect(() => statSync(join(server.dataDir, "github-app.json"))).toThrow();
    expect(await (await fetch(`${server.url}/setup`)).json()).toMatchObject({ configured: false });
    // The state went with the attempt.
    expect((await callback({ code: "used-code", state })).status).toBe(400);
  });

  it("stores the App (0600), uses it at once and sends the person to install it; a push signed with its secret is deployed through it", async () => {
    const { state } = await setupForm();
    emulator.addManifestCode("fresh-code", { slug: "eserveless-set-up", name: "eserveless set-up" });
    const response = await callback({ code: "fresh-code", state }, HTML);
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe("https://github.com/apps/eserveless-set-up/installations/new");

    const file = join(server.dataDir, "github-app.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(readFileSync(file, "utf8")) as StoredApp;
    expect(stored).toMatchObject({
      appId: emulator.appId,
      slug: "eserveless-set-up",
      name: "eserveless set-up",
      htmlUrl: "https://github.com/apps/eserveless-set-up",
      privateKey: emulator.privateKey,
      webhookSecret: emulator.webhookSecret,
    });

    // /setup now says which App, and nothing secret.
    const page = await (await fetch(`${server.url}/setup`, { headers: HTML })).text();
    expect(page).toContain("GitHub App configured");
    expect(page).toContain("eserveless set-up (<code>eserveless-set-up</code>)");
    expect(page).toContain(`<code>${emulator.appId}</code>`);
    expect(page).toContain('href="https://github.com/apps/eserveless-set-up/installations/new"');
    expect(page).not.toContain('name="manifest"');
    const json = await (await fetch(`${server.url}/setup`)).text();
    expect(JSON.parse(json)).toEqual({
      configured: true,
      app: {
        id: emulator.appId,
        slug: "eserveless-set-up",
        name: "eserveless set-up",
        htmlUrl: "https://github.com/apps/eserveless-set-up",
        installUrl: "https://github.com/apps/eserveless-set-up/installations/new",
        source: "file",
      },
    });
    const keyBody = emulator.privateKey.split("\n")[1]!;
    for (const text of [page, json]) {
      expect(text).not.toContain(keyBody);
      expect(text).not.toContain("PRIVATE KEY");
      expect(text).not.toContain(emulator.webhookSecret);
    }

    // Another callback cannot replace it.
    const again = await callback({ code: "fresh-code", state: "any" });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ error: { code: "github_already_configured" } });

    // No restart: a wrongly signed push is refused, one signed with the new secret is deployed through the new App.
    const sha = await pushDeployedThroughTheApp();
    expect((await server.deliver("push", emulator.pushPayload(OWNER, REPO, { after: sha }), { secret: "not-the-secret" })).status).toBe(401);
  });

  it("loads the stored App at the next start", async () => {
    const dataDir = server.dataDir;
    await server.stop({ restart: true });
    server = await startEserveless({ docker: unreachableDocker(), env: { GITHUB_API_URL: emulator.url, DATA_DIR: dataDir } });
    expect(await (await fetch(`${server.url}/setup`)).json()).toMatchObject({
      configured: true,
      app: { id: emulator.appId, slug: "eserveless-set-up", source: "file" },
    });
    await pushDeployedThroughTheApp();
  });
});

describe("GitHub App setup at start", () => {
  it("starts unconfigured, and says why, when the stored App is corrupt", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "eserveless-test-"));
    writeFileSync(join(dataDir, "github-app.json"), '{"appId": 1, "privateKey": "hunter2"', { mode: 0o600 });
    const other = await startEserveless({ docker: unreachableDocker(), env: { GITHUB_API_URL: emulator.url, DATA_DIR: dataDir } });
    others.push(other);
    const body = (await (await fetch(`${other.url}/setup`)).json()) as { configured: boolean; problem: string };
    expect(body.configured).toBe(false);
    expect(body.problem).toMatch(/github-app\.json is not JSON/);
    expect(body.problem).not.toContain("hunter2");
    const page = await (await fetch(`${other.url}/setup`, { headers: HTML })).text();
    expect(page).toContain("Creating an App here replaces that file");
    expect(page).toContain('name="manifest"');
  });

  it("prefers the environment's App to a stored one, and looks its name up on GitHub", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "eserveless-test-"));
    writeFileSync(join(dataDir, "github-app.json"), "{}", { mode: 0o600 });
    const other = await startEserveless({ emulator, docker: unreachableDocker(), env: { DATA_DIR: dataDir } });
    others.push(other);
    expect(await (await fetch(`${other.url}/setup`)).json()).toEqual({
      configured: true,
      app: {
        id: emulator.appId,
        slug: "eserveless-emulated",
        name: "eserveless (emulated)",
        htmlUrl: "https://github.com/apps/eserveless-emulated",
        installUrl: "https://github.com/apps/eserveless-emulated/installations/new",
        source: "environment",
      },
    });
    const page = await (await fetch(`${other.url}/setup`, { headers: HTML })).text();
    expect(page).toContain("the environment (<code>APP_ID</code>");
    expect(page).not.toContain(emulator.webhookSecret);
    expect(page).not.toContain("PRIVATE KEY");
  });
});

describe("GitHub App setup when GitHub fails", () => {
  function routes(request?: GitHubRequest) {
    const dataDir = mkdtempSync(join(tmpdir(), "eserveless-setup-"));
    let created: StoredApp | undefined;
    const log = pino({ level: "silent" });
    // Mounted as createApp mounts it: its errors answer through the app's one error handler.
    const app = new Hono().onError(errorHandler({ log })).route("/", setupRoutes({
      publicUrl: "https://fn.example.com",
      // Nothing listens on port 9 of loopback: "GitHub unreachable".
      githubApiUrl: "http://127.0.0.1:9",
      githubUrl: "https://github.com",
      readManifest: () => readFileSync(new URL("../../github-app.yml", import.meta.url), "utf8"),
      appFile: join(dataDir, "github-app.json"),
      fs: {
        readFile: (path) => readFileSync(path, "utf8"),
        writeFile: (path, data, options) => writeFileSync(path, data, options),
        chmod: () => {},
        rename: (from, to) => writeFileSync(to, readFileSync(from)),
        unlink: (path) => rmSync(path),
      },
      current: () => (created ? { source: "file", credentials: { appId: created.appId, privateKey: "", webhookSecret: "" } } : undefined),
      onCreated: (stored) => {
        created = stored;
      },
      log,
      ...(request && { request }),
    }));
    return { app, dataDir, created: () => created };
  }

  async function stateOf(app: ReturnType<typeof routes>["app"]) {
    const body = (await (await app.request("/setup")).json()) as { action: string };
    expect(body.action).toMatch(/^https:\/\/github\.com\/settings\/apps\/new\?state=/);
    return new URL(body.action).searchParams.get("state")!;
  }

  it("answers 502 when GitHub cannot be reached, and the same callback works once it can", async () => {
    const { app, dataDir } = routes();
    try {
      const state = await stateOf(app);
      const response = await app.request(`/setup/callback?code=abc&state=${state}`, { headers: HTML });
      expect(response.status).toBe(502);
      expect(await response.text()).toContain("GitHub cannot be reached");
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }

    let up = false;
    const flaky = routes(async (_route, parameters) => {
      if (!up) throw new Error("connect ECONNREFUSED");
      return {
        data: {
          id: 9,
          slug: "flaky",
          name: "flaky",
          html_url: "https://github.com/apps/flaky",
          pem: emulator.privateKey,
          webhook_secret: `secret-for-${String(parameters.code)}`,
        },
      };
    });
    try {
      const state = await stateOf(flaky.app);
      const first = await flaky.app.request(`/setup/callback?code=abc&state=${state}`);
      expect(first.status).toBe(502);
      expect(await first.json()).toMatchObject({ error: { code: "github_unreachable" } });
      up = true;
      const retry = await flaky.app.request(`/setup/callback?code=abc&state=${state}`);
      expect(retry.status).toBe(302);
      expect(flaky.created()).toMatchObject({ appId: 9, webhookSecret: "secret-for-abc" });
    } finally {
      rmSync(flaky.dataDir, { recursive: true, force: true });
    }
  });
});

describe("the App lookup of /setup when GitHub refuses it", () => {
  /** GitHub's answer to a JWT signed with another key: it must stay in the server log. */
  const GITHUB_ERROR = "A JSON web token could not be decoded";

  it("asks GitHub once per backoff step (30 s, doubling up to 10 min), and shows what to check, not GitHub's answer", async () => {
    // APP_ID of the emulator's App, with a key that is not the App's: GitHub refuses the lookup.
    const otherKey = generateKeyPairSync("rsa", { modulusLength: 2048, privateKeyEncoding: { type: "pkcs1", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } }).privateKey;
    const clock = manualClock();
    const wired = await wireApp({
      docker: unreachableDocker(),
      now: clock.now,
      env: { APP_ID: String(emulator.appId), PRIVATE_KEY: otherKey, WEBHOOK_SECRET: emulator.webhookSecret, GITHUB_API_URL: emulator.url, PUBLIC_URL: "http://127.0.0.1:3000" },
    });
    const lookups = () => emulator.requests.filter((r) => r.method === "GET" && r.path === "/app").length;
    const visit = async () => {
      const [page, json] = await Promise.all([wired.app.request("/setup", { headers: HTML }), wired.app.request("/setup")]);
      expect(page.status).toBe(200);
      return { page: await page.text(), json: (await json.json()) as { configured: boolean; lookupError?: string } };
    };
    try {
      const before = lookups();
      // Visits at once, and then within the 30 s: one request to GitHub.
      const first = await Promise.all([visit(), visit(), visit()]);
      for (let i = 0; i < 3; i++) {
        clock.at += 9_000;
        await visit();
      }
      expect(lookups() - before).toBe(1);
      const { page, json } = first[0]!;
      expect(json).toMatchObject({ configured: true, app: { id: emulator.appId, name: null } });
      expect(json.lookupError).toMatch(/^GitHub could not describe App \d+\. Check that APP_ID and PRIVATE_KEY belong to the same GitHub App/);
      expect(json.lookupError).toContain("eserveless asks again in 30 s.");
      expect(page).toContain("Check that APP_ID and PRIVATE_KEY belong to the same GitHub App");
      for (const text of [page, JSON.stringify(json)]) expect(text).not.toContain(GITHUB_ERROR);

      // 30 s after the failure, one more try; it fails again, and the wait doubles.
      clock.at += 3_000;
      await Promise.all([visit(), visit()]);
      expect(lookups() - before).toBe(2);
      clock.at += 59_000;
      await visit();
      expect(lookups() - before).toBe(2);
      clock.at += 1_000;
      expect((await visit()).json.lookupError).toContain("eserveless asks again in 120 s.");
      expect(lookups() - before).toBe(3);
      // The wait stops growing at 10 minutes.
      for (let i = 0; i < 6; i++) {
        clock.at += 10 * 60_000;
        await visit();
      }
      expect((await visit()).json.lookupError).toContain("eserveless asks again in 600 s.");
      expect(lookups() - before).toBe(9);
    } finally {
      await wired.close();
    }
  });
});
