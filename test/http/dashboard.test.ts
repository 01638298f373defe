import { Hono } from "hono";
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSessions } from "../../src/http/dashboard/session.js";
import { storedSpec } from "../../src/manifest/manifest-schema.js";
import { readManifest } from "../../src/manifest/read-manifest.js";
import { readFixture } from "../support/fixtures.js";
import { startGitHubEmulator, type GitHubEmulator } from "../support/github-emulator.js";
import { ADMIN_TOKEN, startEserveless, type TestEserveless } from "../support/start-eserveless.js";
import { unreachableDocker } from "../support/wire-app.js";
import { signIn } from "../support/sign-in.js";

// The dashboard over HTTP against a whole eserveless, with no Docker engine:
// the store holds what a successful deployment of the node-hello fixture
// leaves (as test/http/cron-run-routes.test.ts does); pushing it to the end
// is test/deploy/push-to-deploy.test.ts's part.

const OWNER = "octo-org";
const REPO = "dash";
const COMMIT = createHash("sha1").update("dashboard test commit").digest("hex");

let emulator: GitHubEmulator;
let server: TestEserveless;
let deploymentId: string;

/** fetch against the server, never following redirects, sending the server's Origin unless told otherwise. */
function request(path: string, init: { method?: string; cookie?: string; form?: Record<string, string>; origin?: string | null } = {}) {
  const headers: Record<string, string> = {};
  if (init.cookie) headers.cookie = init.cookie;
  if (init.origin !== null) headers.origin = init.origin ?? server.url;
  let body: URLSearchParams | undefined;
  if (init.form) {
    body = new URLSearchParams(init.form);
    headers["content-type"] = "application/x-www-form-urlencoded";
  }
  return fetch(`${server.url}${path}`, { method: init.method ?? (init.form ? "POST" : "GET"), headers, body, redirect: "manual" });
}

/**
 * Writes what the deployer leaves after deploying node-hello from a push:
 * the deployment, its log and its live functions, read from the fixture's
 * manifest as the deployer reads it. Returns the deployment's id.
 */
async function seedDeployment(): Promise<string> {
  const repository = `${OWNER}/${REPO}`;
  const files = readFixture("node-hello");
  const { manifest } = await readManifest(files[".eserveless.yaml"]!.content.toString("utf8"), { has: (path) => path in files });
  const deployment = server.store.createDeployment({ repository, commit: COMMIT, ref: "refs/heads/main", trigger: "push" });
  const image = `eserveless/${OWNER}/${REPO}:${COMMIT.slice(0, 12)}-${deployment.id}`;
  server.store.updateDeployment(deployment.id, { state: "building" });
  server.store.setLiveFunctions(
    repository,
    { id: deployment.id, commit: COMMIT, image },
    manifest.functions.map((fn) => storedSpec(fn, manifest)),
  );
  server.scheduler.sync(repository);
  const functions = manifest.functions.map((fn) =>
    fn.type === "http" ? { name: fn.name, type: fn.type, url: `${server.url}/fn/${repository}/${fn.name}` } : { name: fn.name, type: fn.type, schedule: fn.schedule },
  );
  const description = `Deployed ${functions.length} functions in 2.0 s`;
  for (const fn of functions) if (fn.url) server.store.appendLog(deployment.id, `${fn.name} answered HTTP after 150 ms`);
  server.store.appendLog(deployment.id, description);
  for (const fn of functions) if (fn.url) server.store.appendLog(deployment.id, `${fn.name}: ${fn.url}`);
  server.store.updateDeployment(deployment.id, { state: "success", description, image, functions, coldStartMs: 150 });
  return deployment.id;
}

beforeAll(async () => {
  // The emulator's App is configured, so the pages can be checked for its secret.
  emulator = await startGitHubEmulator();
  server = await startEserveless({ emulator, docker: unreachableDocker() });
  deploymentId = await seedDeployment();
});

afterAll(async () => {
  await server?.stop();
  await emulator?.close();
});

describe("dashboard sign-in", () => {
  it("sends a visitor without a session to the sign-in form", async () => {
    for (const path of ["/dashboard", `/dashboard/projects/${OWNER}/${REPO}`]) {
      const response = await request(path);
      expect(response.status).toBe(302);
      expect(response.headers.get("location")).toBe(`/login?next=${encodeURIComponent(path)}`);
    }
    const root = await request("/");
    expect(root.status).toBe(302);
    expect(root.headers.get("location")).toBe("/login");

    const form = await request("/login");
    expect(form.status).toBe(200);
    const page = await form.text();
    expect(page).toContain('<label for="token">Admin token</label>');
    expect(page).toContain('id="token" name="token"');
  });

  it("refuses a wrong token with a 401 page and no cookie", async () => {
    for (const token of ["", "wrong-token-wrong-token", `${ADMIN_TOKEN}x`]) {
      const response = await request("/login", { form: { token } });
      expect(response.status).toBe(401);
      expect(response.headers.get("set-cookie")).toBeNull();
      expect(response.headers.get("content-type")).toContain("text/html");
      const page = await response.text();
      expect(page).toContain("That is not the admin token of this server.");
      expect(page).not.toContain(ADMIN_TOKEN);
    }
  });

  it("refuses a sign-in form sent from another site (403), even with the right token", async () => {
    for (const origin of ["http://evil.example", null]) {
      const response = await request("/login", { form: { token: ADMIN_TOKEN }, origin });
      expect(response.status).toBe(403);
      expect(response.headers.get("set-cookie")).toBeNull();
      // A page that says why, not a bare "Forbidden".
      expect(response.headers.get("content-type")).toContain("text/html");
      const page = await response.text();
      expect(page).toContain("<h1>Refused</h1>");
      expect(page).toContain("This form was sent from another site, so it was not acted on.");
      expect(page).toContain('<a href="/dashboard">Open the dashboard</a>');
    }
  });

  it("trades the right token for an HttpOnly, SameSite=Strict cookie that does not hold the token", async () => {
    const { response, setCookie, cookie } = await signIn(server);
    expect(response.headers.get("location")).toBe("/dashboard");
    const attributes = setCookie.split(";").map((part) => part.trim().toLowerCase());
    expect(attributes).toContain("httponly");
    expect(attributes).toContain("samesite=strict");
    expect(attributes).toContain("path=/");
    expect(attributes.some((a) => /^max-age=\d+$/.test(a) && Number(a.slice(8)) > 0)).toBe(true);
    expect(setCookie).not.toContain(ADMIN_TOKEN);
    expect(decodeURIComponent(setCookie)).not.toContain(ADMIN_TOKEN);
    expect(Buffer.from(decodeURIComponent(cookie.split("=").slice(1).join("=")), "utf8").toString()).not.toContain(ADMIN_TOKEN);

    // Signed in, /login and / go to the dashboard.
    expect((await request("/login", { cookie })).headers.get("location")).toBe("/dashboard");
    expect((await request("/", { cookie })).headers.get("location")).toBe("/dashboard");
  });

  it("goes back to the page that asked for the sign-in, but never to another site", async () => {
    const back = await request("/login", { form: { token: ADMIN_TOKEN, next: `/dashboard/projects/${OWNER}/${REPO}` } });
    expect(back.headers.get("location")).toBe(`/dashboard/projects/${OWNER}/${REPO}`);
    for (const next of ["https://evil.example/", "//evil.example/dashboard", "/\\evil.example", "/dashboard//evil"]) {
      const response = await request("/login", { form: { token: ADMIN_TOKEN, next } });
      expect(response.headers.get("location")).toBe("/dashboard");
    }
  });

  it("does not take a cookie that was edited or signed with another key", async () => {
    const { cookie } = await signIn(server);
    const [name, value] = cookie.split("=") as [string, string];
    const decoded = decodeURIComponent(value);
    const [payload, signature] = [decoded.slice(0, decoded.lastIndexOf(".")), decoded.slice(decoded.lastIndexOf(".") + 1)];
    const longer = payload.replace(/\.(\d+)$/, (_, expiry: string) => `.${Number(expiry) + 10 ** 9}`);
    for (const forged of [`${name}=${encodeURIComponent(`${longer}.${signature}`)}`, `${name}=${encodeURIComponent(payload)}`, `${name}=${ADMIN_TOKEN}`]) {
      const response = await request("/dashboard", { cookie: forged });
      expect(response.status).toBe(302);
      expect(response.headers.get("location")).toMatch(/^\/login/);
    }

    // A cookie of another admin token's sessions, for the same session format, is refused too.
    const other = createSessions({ adminToken: "another-admin-token-0123456789", publicUrl: server.url, store: server.store });
    const minted = new Hono().get("/", async (c) => {
      await other.start(c);
      return c.body(null);
    });
    const otherCookie = (await minted.request("/")).headers.get("set-cookie")!.split(";")[0]!;
    expect((await request("/dashboard", { cookie: otherCookie })).status).toBe(302);
  });

  it("lists the deployed project with its function URL, live commit and deployments", async () => {
    const { cookie } = await signIn(server);
    const response = await request("/dashboard", { cookie });
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    const page = await response.text();
    expect(page).toContain(`href="/dashboard/projects/${OWNER}/${REPO}"`);
    expect(page).toContain(`${server.url}/fn/${OWNER}/${REPO}/API`);
    expect(page).toContain(`href="/deployments/${deploymentId}"`);
    expect(page).toContain('<span class="badge badge-success">success</span>');
    expect(page).toContain("Sign out");
    expect(page).not.toContain(ADMIN_TOKEN);

    const project = await request(`/dashboard/projects/${OWNER}/${REPO}`, { cookie });
    expect(project.status).toBe(200);
    const projectPage = await project.text();
    const live = server.store.liveFunction(`${OWNER}/${REPO}`, "API")!;
    expect(projectPage).toContain(`<h1>${OWNER}/${REPO}</h1>`);
    expect(projectPage).toContain(`href="${server.url}/fn/${OWNER}/${REPO}/API"`);
    expect(projectPage).toContain(live.commit.slice(0, 7));
    expect(projectPage).toContain(`href="/functions/${OWNER}/${REPO}/Ticker/runs"`);
    expect(projectPage).toContain("*/5 * * * *");
    expect(projectPage).toContain(`action="/dashboard/projects/${OWNER}/${REPO}/functions/Ticker/run"`);

    const missing = await request(`/dashboard/projects/${OWNER}/nothing-here`, { cookie });
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain(`Nothing was ever deployed from ${OWNER}/nothing-here.`);
  });

  it("runs a cron function now from the project page, only from this origin and signed in", async () => {
    const { cookie } = await signIn(server);
    const path = `/dashboard/projects/${OWNER}/${REPO}/functions/Ticker/run`;
    expect((await request(path, { method: "POST", cookie, origin: "http://evil.example" })).status).toBe(403);
    const anonymous = await request(path, { method: "POST" });
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get("location")).toMatch(/^\/login/);
    expect(server.store.listRuns(`${OWNER}/${REPO}`, "Ticker")).toEqual([]);

    const response = await request(path, { method: "POST", cookie });
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe(`/functions/${OWNER}/${REPO}/Ticker/runs`);
    expect(server.store.listRuns(`${OWNER}/${REPO}`, "Ticker")).toHaveLength(1);
    expect(server.store.listRuns(`${OWNER}/${REPO}`, "Ticker")[0]).toMatchObject({ trigger: "manual" });
    // Without an engine the run fails, and says why; test/cron/cron-runs.test.ts runs Ticker to success.
    await server.scheduler.idle();
    expect(server.store.listRuns(`${OWNER}/${REPO}`, "Ticker")[0]).toMatchObject({ state: "failed", error: expect.stringMatching(/^Could not run the container/) });
  });

  it("says why a function was not started, with a way back to its project", async () => {
    const { cookie } = await signIn(server);
    for (const [name, status, text] of [
      ["Nope", 404, `${OWNER}/${REPO} has no function &quot;Nope&quot;`],
      ["API", 404, `&quot;API&quot; of ${OWNER}/${REPO} is an http function: only cron functions have runs.`],
    ] as const) {
      const response = await request(`/dashboard/projects/${OWNER}/${REPO}/functions/${name}/run`, { method: "POST", cookie });
      expect(response.status).toBe(status);
      expect(response.headers.get("content-type")).toContain("text/html");
      const page = await response.text();
      expect(page).toContain("<h1>Not started</h1>");
      expect(page).toContain(text);
      expect(page).toContain(`<a href="/dashboard/projects/${OWNER}/${REPO}">Back to ${OWNER}/${REPO}</a>`);
      expect(page).toContain("Sign out");
    }
  });

  it("signs out: the cookie is cleared and no longer accepted", async () => {
    const { cookie } = await signIn(server);
    expect((await request("/dashboard", { cookie })).status).toBe(200);
    const response = await request("/logout", { method: "POST", cookie });
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe("/login");
    const cleared = response.headers.get("set-cookie") ?? "";
    expect(cleared).toMatch(/^eserveless_session=;/);
    expect(cleared.toLowerCase()).toContain("max-age=0");
    // Replayed after sign-out, the old cookie opens nothing.
    const replay = await request("/dashboard", { cookie });
    expect(replay.status).toBe(302);
    expect(replay.headers.get("location")).toMatch(/^\/login/);
  });

  it("ends sessions when they expire", async () => {
    let now = Date.now();
    const sessions = createSessions({ adminToken: ADMIN_TOKEN, publicUrl: "https://fn.example.com", store: server.store, now: () => now, ttlMs: 60_000 });
    const app = new Hono()
      .get("/start", async (c) => {
        await sessions.start(c);
        return c.body(null);
      })
      .get("/who", async (c) => c.text((await sessions.current(c)) ? "signed in" : "anonymous"));
    const setCookie = (await app.request("/start")).headers.get("set-cookie")!;
    // Served over https: the __Host- prefix, Secure.
    expect(setCookie).toMatch(/^__Host-eserveless_session=/);
    expect(setCookie).toContain("Secure");
    const cookie = setCookie.split(";")[0]!;
    expect(await (await app.request("/who", { headers: { cookie } })).text()).toBe("signed in");
    now += 61_000;
    expect(await (await app.request("/who", { headers: { cookie } })).text()).toBe("anonymous");
  });
});

describe("a function's output on the dashboard", () => {
  const path = `/dashboard/projects/${OWNER}/${REPO}/functions/API`;
  const printed = (line: string, at: number, stream: "stdout" | "stderr" = "stdout") => ({ repository: `${OWNER}/${REPO}`, function: "API", replica: "es-octo-org-dash-api-0a1b2c", stream, at, line });

  it("shows what the replicas printed, as text, with a script that follows it through ?after", async () => {
    server.store.appendOutput([printed("hit /one", Date.UTC(2026, 0, 2, 3, 4, 5, 678)), printed("<script>alert(1)</script>", Date.UTC(2026, 0, 2, 3, 4, 6), "stderr")]);
    const { cookie } = await signIn(server);
    const project = await (await request(`/dashboard/projects/${OWNER}/${REPO}`, { cookie })).text();
    expect(project).toContain(`href="${path}"`);

    const response = await request(path, { cookie });
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const page = await response.text();
    expect(page).toContain("2026-01-02 03:04:05.678Z  es-octo-org-dash-api-0a1b2c  hit /one\n");
    expect(page).toContain("es-octo-org-dash-api-0a1b2c  ! &lt;script&gt;alert(1)&lt;/script&gt;");
    expect(page).not.toContain("<script>alert(1)");
    const nonce = /script-src 'nonce-([^']+)'/.exec(response.headers.get("content-security-policy") ?? "")?.[1];
    expect(page).toContain(`<script nonce="${nonce}">`);
    const after = Number(/data-after="(\d+)"/.exec(page)?.[1]);
    expect(page).toContain(`data-follow="${path}"`);

    server.store.appendOutput([printed("hit /two", Date.UTC(2026, 0, 2, 3, 4, 7))]);
    const next = await fetch(`${server.url}${path}?after=${after}`, { headers: { cookie, accept: "application/json" } });
    expect(next.status).toBe(200);
    expect(((await next.json()) as { output: Array<{ line: string }> }).output.map((l) => l.line)).toEqual(["hit /two"]);
  });

  it("is behind the sign-in, page and JSON alike; a cron function has none", async () => {
    for (const accept of ["text/html", "application/json"]) {
      const response = await fetch(`${server.url}${path}?after=0`, { headers: { accept }, redirect: "manual" });
      expect(response.status).toBe(302);
      expect(await response.text()).not.toContain("hit /one");
    }
    const { cookie } = await signIn(server);
    expect((await request(`/dashboard/projects/${OWNER}/${REPO}/functions/Ticker`, { cookie })).status).toBe(404);
  });
});

describe("the public deployment page", () => {
  it("shows the deployment and its log without a session, and no secrets", async () => {
    const response = await request(`/deployments/${deploymentId}`);
    expect(response.status).toBe(200);
    const page = await response.text();
    expect(page).toContain('<span id="state" class="badge badge-success">success</span>');
    expect(page).toContain(`API: ${server.url}/fn/${OWNER}/${REPO}/API`);
    expect(page).toContain("answered HTTP");
    expect(page).not.toContain(ADMIN_TOKEN);
    expect(page).not.toContain(emulator.webhookSecret);
    expect(page).not.toContain("Sign out");
    // Final: neither the live-following script nor the reload.
    expect(page).not.toContain("<script");
    expect(page).not.toContain('http-equiv="refresh"');
  });

  it("follows a running deployment with a script, and reloads only without scripting", async () => {
    const running = server.store.createDeployment({ repository: `${OWNER}/${REPO}`, commit: "f".repeat(40), ref: null, trigger: "redeploy" });
    server.store.updateDeployment(running.id, { state: "building" });
    server.store.appendLog(running.id, "step 1 <b>not bold</b>");
    const response = await request(`/deployments/${running.id}`);
    const page = await response.text();
    const nonce = /script-src 'nonce-([^']+)'/.exec(response.headers.get("content-security-policy") ?? "")?.[1];
    expect(nonce).toBeTruthy();
    expect(page).toContain(`<script nonce="${nonce}">`);
    expect(page).toContain(`data-follow="/deployments/${running.id}" data-after="1"`);
    expect(page).toContain('<noscript><meta http-equiv="refresh" content="2"/></noscript>');
    expect(page).toContain("step 1 &lt;b&gt;not bold&lt;/b&gt;");

    server.store.appendLog(running.id, "step 2");
    const json = await fetch(`${server.url}/deployments/${running.id}?after=1`, { headers: { accept: "application/json" } });
    expect(((await json.json()) as { log: Array<{ line: string }> }).log.map((l) => l.line)).toEqual(["step 2"]);
    server.store.updateDeployment(running.id, { state: "error", description: "test over" });
  });
});
