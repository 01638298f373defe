import { Hono, type Context } from "hono";
import { html } from "hono/html";
import { jsx } from "hono/jsx";
import type { HtmlEscapedString } from "hono/utils/html";
import type { Logger } from "pino";
import { EserveslessError } from "../errors.js";
import {
  checkOrganization,
  exchangeManifestCode,
  newAppUrl,
  PendingStates,
  renderManifest,
  writeStoredApp,
  type AppFileSystem,
  type GitHubRequest,
  type StoredApp,
} from "../github/app-setup.js";
import type { Octokit } from "@octokit/rest";
import type { ConfiguredApp } from "../github/github-app-holder.js";
import { htmlDocument, Page } from "./dashboard/layout.js";
import { errorPage } from "./error-handler.js";

export interface SetupOptions {
  publicUrl: string;
  /** The REST API root (GITHUB_API_URL). */
  githubApiUrl: string;
  /** GitHub's web host (GITHUB_URL), where the new-App pages are. */
  githubUrl: string;
  /** The text of github-app.yml. */
  readManifest: () => string;
  /** Where a created App is stored (DATA_DIR/github-app.json). */
  appFile: string;
  fs: AppFileSystem;
  /** The App in use, if any. */
  current: () => ConfiguredApp | undefined;
  /** Starts using a created App (already stored): webhooks and deployments use it from the next request on. */
  onCreated: (app: StoredApp) => void;
  /** Why the stored App could not be loaded at start, shown on /setup. */
  problem?: () => string | undefined;
  log: Logger;
  /** Sends GitHub API requests; an unauthenticated Octokit on githubApiUrl by default. */
  request?: GitHubRequest;
  states?: PendingStates;
  /** The clock of the lookup's backoff; Date.now when absent. */
  now?: () => number;
}

const GITHUB_TIMEOUT_MS = 30_000;

/**
 * A failed lookup of the App on GitHub is not tried again for 30 s, then 1,
 * 2, 4… minutes, at most 10: /setup is public, and each visit must not turn
 * into a request to GitHub (which rate-limits the App) while it fails.
 */
export const LOOKUP_BACKOFF = { firstMs: 30_000, maxMs: 10 * 60_000 };

const wantsHtml = (c: Context) => (c.req.header("accept") ?? "").includes("text/html");

/** A setup page in the pages' layout; no-referrer: GitHub's pages it links to need not know this server. */
function page(title: string, body: HtmlEscapedString | Promise<HtmlEscapedString>) {
  return htmlDocument(jsx(Page, { title, referrer: "no-referrer" }, body));
}

/** GitHub cannot deliver webhooks to these. */
const isLocal = (url: string) => /^(localhost|127\.|\[::1\]|0\.0\.0\.0)/.test(new URL(url).host);

function setupPage(input: { manifest: Record<string, unknown>; action: string; org: string | undefined; publicUrl: string; problem: string | undefined }) {
  const hook = (input.manifest.hook_attributes as { url?: string } | undefined)?.url;
  const permissions = Object.entries((input.manifest.default_permissions ?? {}) as Record<string, string>);
  const events = (input.manifest.default_events ?? []) as string[];
  return page(
    "Set up the GitHub App",
    html`<h1>Set up the GitHub App</h1>
${input.problem ? html`<p class="error">${input.problem}. Creating an App here replaces that file.</p>` : ""}
<p>eserveless deploys the pushes a GitHub App tells it about. This creates that App on GitHub from <code>github-app.yml</code>:
GitHub shows it to you (you may change its name), creates it, and sends you back here; eserveless then stores its credentials
and uses them at once, and GitHub asks where to install it.</p>
${isLocal(input.publicUrl)
  ? html`<p class="note">PUBLIC_URL is <code>${input.publicUrl}</code>: GitHub cannot deliver webhooks there. Set PUBLIC_URL to an address GitHub can reach and restart before creating the App.</p>`
  : ""}
<dl>
<dt>Webhook URL</dt><dd><code>${hook ?? "(none)"}</code></dd>
<dt>Permissions</dt><dd>${permissions.map(([name, level], i) => html`${i > 0 ? ", " : ""}<code>${name}: ${level}</code>`)}</dd>
<dt>Events</dt><dd>${events.map((event, i) => html`${i > 0 ? ", " : ""}<code>${event}</code>`)}</dd>
<dt>Owner</dt><dd>${input.org ? html`the organization <strong>${input.org}</strong>` : "your GitHub account"}</dd>
</dl>
<form method="post" action="${input.action}">
<input type="hidden" name="manifest" value="${JSON.stringify(input.manifest)}">
<button type="submit">Create the GitHub App${input.org ? html` for ${input.org}` : ""} on GitHub</button>
</form>
<form method="get" action="/setup">
<p><label>Owned by an organization instead: <input name="org" value="${input.org ?? ""}" placeholder="organization name" autocomplete="off"></label>
<button type="submit">Use this organization</button></p>
</form>
<details><summary>The manifest</summary><pre class="block">${JSON.stringify(input.manifest, null, 2)}</pre></details>`,
  );
}

function configuredPage(app: ConfiguredApp, publicUrl: string, lookupError: string | undefined) {
  const install = app.htmlUrl ? `${app.htmlUrl}/installations/new` : undefined;
  return page(
    "GitHub App configured",
    html`<h1>GitHub App configured</h1>
<dl>
<dt>App</dt><dd>${app.name ? html`${app.name} (<code>${app.slug}</code>)` : html`<em>unknown name</em>`}</dd>
<dt>App ID</dt><dd><code>${String(app.credentials.appId)}</code></dd>
<dt>Credentials from</dt><dd>${app.source === "environment"
      ? html`the environment (<code>APP_ID</code>, <code>PRIVATE_KEY</code>, <code>WEBHOOK_SECRET</code>)`
      : html`<code>DATA_DIR/github-app.json</code>, created by this page${app.createdAt ? ` on ${app.createdAt}` : ""}`}</dd>
<dt>Webhook URL</dt><dd><code>${publicUrl}/webhooks/github</code></dd>
</dl>
${lookupError ? html`<p class="note">${lookupError}</p>` : ""}
${install ? html`<p><a href="${install}">Install the App on repositories</a> · <a href="${app.htmlUrl}">Its page on GitHub</a></p>` : ""}
<p>To use another App, change the environment, or delete <code>DATA_DIR/github-app.json</code>, and restart.</p>`,
  );
}

/** What /setup may show of the App: never its key or secret. */
function publicView(app: ConfiguredApp) {
  return {
    id: app.credentials.appId,
    slug: app.slug ?? null,
    name: app.name ?? null,
    htmlUrl: app.htmlUrl ?? null,
    installUrl: app.htmlUrl ? `${app.htmlUrl}/installations/new` : null,
    source: app.source,
  };
}

/**
 * `GET /setup` and `GET /setup/callback`: creates the GitHub App from its
 * manifest while none is configured, and says which one is once it is.
 */
export function setupRoutes(options: SetupOptions) {
  const states = options.states ?? new PendingStates();
  const log = options.log.child({ component: "setup" });
  // Octokit logs failed requests to the console; the errors they become are logged here instead.
  const octokitLog = { debug: () => {}, info: () => {}, warn: (message: string) => log.warn(message), error: (message: string) => log.debug(message) };
  // Octokit (and its App auth) load with the first GitHub call of /setup, not at start.
  const octokitModules = () => Promise.all([import("@octokit/rest"), import("@octokit/auth-app")]);
  let anonymous: Promise<Octokit> | undefined;
  const request: GitHubRequest =
    options.request ??
    (async (route, parameters) => {
      anonymous ??= octokitModules().then(([{ Octokit }]) => new Octokit({ baseUrl: options.githubApiUrl, userAgent: "eserveless", log: octokitLog }));
      return (await anonymous).request(route, { ...parameters, request: { signal: AbortSignal.timeout(GITHUB_TIMEOUT_MS) } });
    });
  const now = options.now ?? Date.now;
  /** Names and links of Apps configured from the environment, looked up once. */
  const described = new Map<number, { slug: string; name: string; htmlUrl: string }>();
  /** Apps whose lookup failed: not asked again before `until`. */
  const failed = new Map<number, { until: number; delayMs: number }>();
  /** Lookups under way: concurrent visits share one. */
  const lookups = new Map<number, Promise<void>>();
  let exchanging = false;

  /** What /setup says while the lookup fails; GitHub's own answer goes to the server log only. */
  const lookupFailure = (appId: number, until: number) =>
    `GitHub could not describe App ${appId}. Check that APP_ID and PRIVATE_KEY belong to the same GitHub App, that its key was not revoked, ` +
    `and that GITHUB_API_URL (${options.githubApiUrl}) reaches GitHub; the server log has GitHub's answer. eserveless asks again in ${Math.max(1, Math.ceil((until - now()) / 1000))} s.`;

  async function lookUp(app: ConfiguredApp): Promise<void> {
    const { appId, privateKey } = app.credentials;
    try {
      const [{ Octokit }, { createAppAuth }] = await octokitModules();
      const authenticated = new Octokit({ baseUrl: options.githubApiUrl, userAgent: "eserveless", log: octokitLog, authStrategy: createAppAuth, auth: { appId, privateKey } });
      const { data } = await authenticated.request("GET /app", { request: { signal: AbortSignal.timeout(GITHUB_TIMEOUT_MS) } });
      if (!data) throw new Error("no App in the answer");
      described.set(appId, { slug: data.slug ?? "", name: data.name, htmlUrl: data.html_url });
      failed.delete(appId);
    } catch (error) {
      const previous = failed.get(appId)?.delayMs;
      const delayMs = previous === undefined ? LOOKUP_BACKOFF.firstMs : Math.min(previous * 2, LOOKUP_BACKOFF.maxMs);
      failed.set(appId, { until: now() + delayMs, delayMs });
      log.warn({ err: error, appId, retryInSeconds: delayMs / 1000 }, "GitHub could not describe the App configured from the environment; /setup asks again later");
    }
  }

  async function describe(app: ConfiguredApp): Promise<{ app: ConfiguredApp; lookupError?: string }> {
    if (app.htmlUrl) return { app };
    const { appId } = app.credentials;
    const failure = failed.get(appId);
    if (!described.has(appId) && !(failure && now() < failure.until)) {
      let lookup = lookups.get(appId);
      if (!lookup) {
        lookup = lookUp(app).finally(() => lookups.delete(appId));
        lookups.set(appId, lookup);
      }
      await lookup;
    }
    const known = described.get(appId);
    if (known) return { app: { ...app, ...known } };
    return { app, lookupError: lookupFailure(appId, failed.get(appId)!.until) };
  }

  // A browser that reaches an error gets a page that leads back to /setup; other clients JSON.
  const pages = errorPage({ title: "GitHub App setup failed", back: { href: "/setup", label: "Back to setup" } });

  return new Hono()
    .get("/setup", pages, async (c) => {
      const current = options.current();
      if (current) {
        const { app, lookupError } = await describe(current);
        if (!wantsHtml(c)) return c.json({ configured: true, app: publicView(app), ...(lookupError && { lookupError }) });
        return c.html(configuredPage(app, options.publicUrl, lookupError));
      }
      const orgQuery = c.req.query("org")?.trim();
      const org = orgQuery ? checkOrganization(orgQuery) : undefined;
      let manifest: Record<string, unknown>;
      try {
        manifest = await renderManifest(options.readManifest(), options.publicUrl);
      } catch (cause) {
        throw new EserveslessError(`The App manifest github-app.yml cannot be read: ${(cause as Error).message}`, { status: 500, code: "manifest_unreadable", cause });
      }
      const state = states.create(org);
      const action = newAppUrl({ webUrl: options.githubUrl, state, org });
      c.header("cache-control", "no-store");
      const problem = options.problem?.();
      if (!wantsHtml(c)) return c.json({ configured: false, action, manifest, ...(problem && { problem }) });
      return c.html(setupPage({ manifest, action, org, publicUrl: options.publicUrl, problem }));
    })
    .get("/setup/callback", pages, async (c) => {
      const current = options.current();
      if (current || exchanging) {
        throw new EserveslessError(
          current
            ? `A GitHub App (id ${current.credentials.appId}) is already configured on this server; /setup shows it. To replace it, delete DATA_DIR/github-app.json or change the environment, and restart.`
            : "A GitHub App is being set up right now; wait a moment and open /setup.",
          { status: 409, code: "github_already_configured" },
        );
      }
      const pending = states.take(c.req.query("state"));
      exchanging = true;
      let app: StoredApp;
      try {
        app = await exchangeManifestCode(request, c.req.query("code") ?? "");
      } catch (error) {
        // GitHub failed, not the code: reloading the page may work.
        if (error instanceof EserveslessError && error.status >= 500) pending.restore();
        throw error;
      } finally {
        exchanging = false;
      }
      try {
        writeStoredApp(options.appFile, app, options.fs);
      } catch (cause) {
        log.error({ err: cause, appId: app.appId, slug: app.slug }, "GitHub App created but its credentials could not be stored");
        throw new EserveslessError(
          `GitHub created the App ${app.slug} (id ${app.appId}), but ${options.appFile} cannot be written (${(cause as Error).message}). ` +
            `Either generate a private key in the App's settings on GitHub and set APP_ID, PRIVATE_KEY and WEBHOOK_SECRET, or delete the App and open /setup again once DATA_DIR is writable.`,
          { status: 500, code: "setup_not_stored", cause },
        );
      }
      options.onCreated(app);
      log.info({ appId: app.appId, slug: app.slug, file: options.appFile, org: pending.org }, `GitHub App ${app.slug} created and in use; install it: ${app.htmlUrl}/installations/new`);
      c.header("cache-control", "no-store");
      return c.redirect(`${app.htmlUrl}/installations/new`, 302);
    });
}
