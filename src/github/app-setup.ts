import { RequestError } from "@octokit/request-error";
import { randomBytes } from "node:crypto";
import * as v from "valibot";
import { BadRequestError, EserveslessError, UpstreamError } from "../errors.js";
import type { GitHubAppCredentials } from "./github-app.js";

/*
 * GitHub App setup from its manifest (GitHub's "App manifest" flow):
 * https://docs.github.com/apps/sharing-github-apps/registering-a-github-app-from-a-manifest
 *
 * 1. `/setup` POSTs the manifest to GitHub's new-App page with a one-time `state`.
 * 2. GitHub creates the App and redirects to `redirect_url?code=…&state=…`.
 * 3. The code is exchanged (POST /app-manifests/{code}/conversions, unauthenticated)
 *    for the App's id, private key and webhook secret, which are stored under DATA_DIR.
 *
 * Everything here is pure or takes its I/O as arguments; the routes are in src/http/setup-routes.ts.
 */

/** The file under DATA_DIR that holds an App created by /setup. */
export const APP_FILE_NAME = "github-app.json";

/**
 * GitHub's web host from its REST API root: `https://api.github.com` →
 * `https://github.com`, `https://api.X.ghe.com` → `https://X.ghe.com`, GitHub
 * Enterprise Server `https://HOST/api/v3` → `https://HOST`; anything else (an
 * emulator) is its own web host.
 */
export function githubWebUrl(apiUrl: string): string {
  const url = new URL(apiUrl);
  url.pathname = url.pathname.replace(/\/+$/, "");
  if (/\/api\/v3$/.test(url.pathname)) url.pathname = url.pathname.replace(/\/api\/v3$/, "");
  else if (url.hostname.startsWith("api.")) url.hostname = url.hostname.slice("api.".length);
  return `${url.origin}${url.pathname}`.replace(/\/+$/, "");
}

/** A GitHub account login: letters, digits and single hyphens, at most 39 characters. */
const ORG_LOGIN = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/;

/** Checks an organization login typed into /setup; the message says what is wrong. */
export function checkOrganization(org: string): string {
  const trimmed = org.trim();
  if (!ORG_LOGIN.test(trimmed)) {
    throw new BadRequestError(`"${org}" is not a GitHub organization name (letters, digits and single hyphens, at most 39 characters)`, {
      code: "invalid_organization",
    });
  }
  return trimmed;
}

/**
 * Where the manifest form posts: the new-App page of the signed-in user, or of
 * organization `org`, with `state` to be checked on the callback.
 */
export function newAppUrl(input: { webUrl: string; state: string; org?: string }): string {
  const path = input.org ? `/organizations/${encodeURIComponent(input.org)}/settings/apps/new` : "/settings/apps/new";
  return `${input.webUrl.replace(/\/+$/, "")}${path}?state=${encodeURIComponent(input.state)}`;
}

/** Replaces `${PUBLIC_URL}` in every string of a parsed YAML value. */
function fillIn(value: unknown, publicUrl: string): unknown {
  if (typeof value === "string") return value.replaceAll("${PUBLIC_URL}", publicUrl);
  if (Array.isArray(value)) return value.map((item) => fillIn(item, publicUrl));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, fillIn(item, publicUrl)]));
  }
  return value;
}

/**
 * The App manifest to post to GitHub: `github-app.yml` parsed, with
 * `${PUBLIC_URL}` replaced by this server's public URL. The placeholder is
 * replaced after parsing, so no URL can change the YAML's structure.
 */
export async function renderManifest(template: string, publicUrl: string): Promise<Record<string, unknown>> {
  // yaml loads with the first /setup page, not at start.
  const { parse } = await import("yaml");
  const parsed: unknown = parse(template);
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("github-app.yml is not a YAML mapping");
  return fillIn(parsed, publicUrl.replace(/\/+$/, "")) as Record<string, unknown>;
}

/**
 * One-time `state` values of manifest forms, kept in memory until used or
 * expired (GitHub's codes last an hour, so do they). The oldest are dropped
 * past `max`, so anonymous visits to /setup cannot grow it without bound.
 */
export class PendingStates {
  readonly #pending = new Map<string, { expiresAt: number; org: string | undefined }>();
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #random: () => string;

  constructor(options: { ttlMs?: number; max?: number; now?: () => number; random?: () => string } = {}) {
    this.#ttlMs = options.ttlMs ?? 60 * 60 * 1000;
    this.#max = options.max ?? 1000;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? (() => randomBytes(24).toString("base64url"));
  }

  /** A new state for a form posting to the new-App page (of `org`, if given). */
  create(org?: string): string {
    this.#prune();
    while (this.#pending.size >= this.#max) this.#pending.delete(this.#pending.keys().next().value as string);
    const state = this.#random();
    this.#pending.set(state, { expiresAt: this.#now() + this.#ttlMs, org });
    return state;
  }

  /**
   * Takes a state for a callback: it cannot be used again, unless `restore`
   * (called when GitHub could not be reached) puts it back. Throws a 400 for an
   * unknown or expired state.
   */
  take(state: string | undefined): { org: string | undefined; restore: () => void } {
    this.#prune();
    const entry = state ? this.#pending.get(state) : undefined;
    if (!state || !entry) {
      throw new BadRequestError(
        "This setup link is unknown or has expired (it lasts an hour and works once, on the server that made it). Open /setup and create the App again.",
        { code: "setup_state_invalid" },
      );
    }
    this.#pending.delete(state);
    return { org: entry.org, restore: () => void this.#pending.set(state, entry) };
  }

  get size(): number {
    this.#prune();
    return this.#pending.size;
  }

  #prune(): void {
    const now = this.#now();
    for (const [state, entry] of this.#pending) if (entry.expiresAt <= now) this.#pending.delete(state);
  }
}

/** What GitHub answers to a manifest code conversion (the parts eserveless keeps). */
const ConversionSchema = v.object({
  id: v.number(),
  slug: v.string(),
  name: v.string(),
  html_url: v.string(),
  pem: v.pipe(v.string(), v.regex(/-----BEGIN (RSA )?PRIVATE KEY-----/, "is not a PEM private key")),
  webhook_secret: v.pipe(v.string("is missing: the App was created without a webhook secret"), v.nonEmpty()),
});

/** A GitHub App that /setup created, as stored in DATA_DIR/github-app.json. */
export const StoredAppSchema = v.object({
  appId: v.pipe(v.number(), v.integer(), v.minValue(1)),
  slug: v.pipe(v.string(), v.nonEmpty()),
  name: v.pipe(v.string(), v.nonEmpty()),
  htmlUrl: v.pipe(v.string(), v.url()),
  privateKey: v.pipe(v.string(), v.regex(/-----BEGIN (RSA )?PRIVATE KEY-----/, "is not a PEM private key")),
  webhookSecret: v.pipe(v.string(), v.nonEmpty()),
  createdAt: v.string(),
});
export type StoredApp = v.InferOutput<typeof StoredAppSchema>;

/** The credentials that authenticate as a stored App. */
export function storedAppCredentials(app: StoredApp): GitHubAppCredentials {
  return { appId: app.appId, privateKey: app.privateKey, webhookSecret: app.webhookSecret };
}

/** Sends one request to the GitHub REST API (an unauthenticated Octokit's `request`). */
export type GitHubRequest = (route: string, parameters: Record<string, unknown>) => Promise<{ data: unknown }>;

/**
 * Exchanges the one-time code of the manifest flow for the new App's
 * credentials. A code GitHub does not know (already used, older than an hour,
 * made up) is a 400; GitHub failing or unreachable is a 502.
 */
export async function exchangeManifestCode(request: GitHubRequest, code: string, now: () => Date = () => new Date()): Promise<StoredApp> {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(code)) {
    throw new BadRequestError("The setup callback needs the `code` GitHub sends; open /setup and create the App again.", { code: "setup_code_invalid" });
  }
  let data: unknown;
  try {
    ({ data } = await request("POST /app-manifests/{code}/conversions", { code }));
  } catch (error) {
    throw conversionError(error);
  }
  const parsed = v.safeParse(ConversionSchema, data);
  if (!parsed.success) {
    const problems = parsed.issues.map((issue) => `${v.getDotPath(issue) ?? "answer"} ${issue.message}`).join("; ");
    throw new UpstreamError(`GitHub's answer to the manifest conversion is not usable (${problems}).`, { code: "github_error" });
  }
  const app = parsed.output;
  return {
    appId: app.id,
    slug: app.slug,
    name: app.name,
    htmlUrl: app.html_url,
    privateKey: app.pem,
    webhookSecret: app.webhook_secret,
    createdAt: now().toISOString(),
  };
}

function conversionError(error: unknown): EserveslessError {
  if (error instanceof RequestError && error.response) {
    if (error.status === 404 || error.status === 422) {
      return new BadRequestError(
        "GitHub does not know this setup code: it works once and for an hour only. If the App was created, find it in GitHub's Developer settings → GitHub Apps and delete it or configure it by hand (APP_ID, PRIVATE_KEY, WEBHOOK_SECRET); or open /setup to create another.",
        { code: "setup_code_invalid", cause: error },
      );
    }
    return new UpstreamError(`GitHub answered ${error.status} to the manifest conversion: ${error.message}. Reload this page to try again.`, {
      code: "github_error",
      cause: error,
    });
  }
  return new UpstreamError(`GitHub cannot be reached (${(error as Error).message}); check GITHUB_API_URL and the network, then reload this page to try again.`, {
    code: "github_unreachable",
    cause: error,
  });
}

/** The file system calls the credentials file needs (node:fs in production). */
export interface AppFileSystem {
  readFile(path: string): string;
  writeFile(path: string, data: string, options: { mode: number; flag: string }): void;
  chmod(path: string, mode: number): void;
  rename(from: string, to: string): void;
  unlink(path: string): void;
}

/**
 * Reads DATA_DIR/github-app.json: `missing` when there is none, `invalid` with
 * a message naming the problem, or the stored App.
 */
export function readStoredApp(
  path: string,
  fs: Pick<AppFileSystem, "readFile">,
): { kind: "missing" } | { kind: "invalid"; message: string } | { kind: "ok"; app: StoredApp } {
  let text: string;
  try {
    text = fs.readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { kind: "missing" };
    return { kind: "invalid", message: `${path} cannot be read: ${(error as Error).message}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { kind: "invalid", message: `${path} is not JSON (${(error as Error).message})` };
  }
  const parsed = v.safeParse(StoredAppSchema, json);
  if (!parsed.success) {
    const problems = parsed.issues.map((issue) => `${v.getDotPath(issue) ?? "file"}: ${issue.message}`).join("; ");
    return { kind: "invalid", message: `${path} is not a GitHub App eserveless stored (${problems})` };
  }
  return { kind: "ok", app: parsed.output };
}

/**
 * Writes the App to `path`, readable by this user only (0600): to a new file
 * beside it first, then renamed over, so a crash never leaves half a key.
 */
export function writeStoredApp(path: string, app: StoredApp, fs: AppFileSystem): void {
  const temporary = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    fs.writeFile(temporary, `${JSON.stringify(app, null, 2)}\n`, { mode: 0o600, flag: "wx" });
    // The umask only clears bits, but a file system may ignore the mode: make sure.
    fs.chmod(temporary, 0o600);
    fs.rename(temporary, path);
  } catch (error) {
    try {
      fs.unlink(temporary);
    } catch {
      // It was never created, or is gone already.
    }
    throw error;
  }
}
