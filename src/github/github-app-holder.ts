import type { Logger } from "pino";
import { readStoredApp, storedAppCredentials, type AppFileSystem, type StoredApp } from "./app-setup.js";
import { createGitHubApp, type GitHubApp, type GitHubAppCredentials } from "./github-app.js";

/** The App in use, and where its credentials came from. */
export interface ConfiguredApp {
  source: "environment" | "file";
  credentials: GitHubAppCredentials;
  /** Known for an App created by /setup; looked up on GitHub for one from the environment. */
  slug?: string;
  name?: string;
  htmlUrl?: string;
  createdAt?: string;
}

export interface LoadGitHubAppOptions {
  /** Credentials from the environment (APP_ID, PRIVATE_KEY, WEBHOOK_SECRET); they win over a stored App. */
  environment: GitHubAppCredentials | undefined;
  /** Which of those variables are unset, to tell the operator. */
  missing: string[];
  /** Where /setup stores the App it creates (DATA_DIR/github-app.json). */
  appFile: string;
  fs: Pick<AppFileSystem, "readFile">;
  /** The REST API root (GITHUB_API_URL). */
  baseUrl: string;
  /** This server's public URL, where /setup is. */
  publicUrl: string;
  log: Logger;
}

/**
 * The GitHub App eserveless uses. It can change while eserveless runs: none
 * at first on a fresh install, then the one /setup creates. Webhooks and
 * deployments ask for it on every use, so the new one counts at once.
 */
export class GitHubAppHolder {
  readonly #baseUrl: string;
  #configured: ConfiguredApp | undefined;
  #client: GitHubApp | undefined;
  #problem: string | undefined;

  /** An empty holder; {@link GitHubAppHolder.load} fills it as eserveless starts. */
  constructor(options: { baseUrl: string }) {
    this.#baseUrl = options.baseUrl;
  }

  /**
   * The App at start: the environment's when it has one (a stored App is then
   * ignored), else the one /setup stored. A stored App that cannot be read
   * leaves none configured and becomes {@link problem}, which /setup shows.
   */
  static load(options: LoadGitHubAppOptions): GitHubAppHolder {
    const { log, appFile, missing } = options;
    const holder = new GitHubAppHolder({ baseUrl: options.baseUrl });
    const stored = readStoredApp(appFile, options.fs);
    if (options.environment) {
      holder.#use({ source: "environment", credentials: options.environment });
      if (stored.kind !== "missing") log.info({ file: appFile }, "GitHub App from the environment; the one /setup stored is ignored");
      return holder;
    }
    if (stored.kind === "ok") {
      holder.useStored(stored.app);
      // Some, not all, of APP_ID / PRIVATE_KEY / WEBHOOK_SECRET are set.
      if (missing.length < 3) log.warn({ missing }, `GitHub App settings in the environment are incomplete (missing ${missing.join(", ")}) and ignored; using ${appFile}`);
      log.info({ appId: stored.app.appId, slug: stored.app.slug }, `GitHub App ${stored.app.slug} from ${appFile}`);
      return holder;
    }
    if (stored.kind === "invalid") {
      holder.#problem = stored.message;
      log.error({ file: appFile }, `${stored.message}; the GitHub App is not configured: fix or delete the file, or open /setup to create a new App`);
    }
    log.warn({ missing }, `GitHub App not configured (missing ${missing.join(", ")}); pushes cannot deploy until it is: open ${options.publicUrl}/setup to create it`);
    return holder;
  }

  /** The App's client, for webhooks and deployments; undefined while none is configured. */
  client(): GitHubApp | undefined {
    return this.#client;
  }

  /** The App in use and where it came from, for /setup; undefined while none is configured. */
  configured(): ConfiguredApp | undefined {
    return this.#configured;
  }

  /** Why the stored App could not be loaded at start, until another is in use. */
  problem(): string | undefined {
    return this.#problem;
  }

  /** Uses an App that /setup created and stored, from the next request on. */
  useStored(app: StoredApp): void {
    this.#use({ source: "file", credentials: storedAppCredentials(app), slug: app.slug, name: app.name, htmlUrl: app.htmlUrl, createdAt: app.createdAt });
  }

  #use(configured: ConfiguredApp): void {
    this.#configured = configured;
    this.#client = createGitHubApp({ credentials: configured.credentials, baseUrl: this.#baseUrl });
    this.#problem = undefined;
  }
}
