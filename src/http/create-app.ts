import type Docker from "dockerode";
import { Hono } from "hono";
import type { Logger } from "pino";
import type { ProjectRemoved } from "../contract/project-removed.js";
import { HealthSchema } from "../contract/server-status.js";
import type { CronScheduler } from "../cron/cron-scheduler.js";
import type { Deployer } from "../deploy/deployer.js";
import type { Previews } from "../deploy/previews.js";
import { defaultLimits } from "../default-limits.js";
import type { GitHubApp } from "../github/github-app.js";
import type { Pool } from "../run/pool.js";
import type { Store } from "../store/store.js";
import { apiRoutes } from "./api-routes.js";
import { secretRoutes, type SecretActions } from "./secret-routes.js";
import { cronRunRoutes } from "./cron-run-routes.js";
import { dashboardRoutes } from "./dashboard/dashboard-routes.js";
import { createSessions } from "./dashboard/session.js";
import { deploymentRoutes } from "./deployment-routes.js";
import { errorHandler } from "./error-handler.js";
import { createInvocationLog, type InvocationLog } from "./invocation-log.js";
import { invokeRoutes } from "./invoke-routes.js";
import { metricsRoutes, type Metrics } from "./metrics-routes.js";
import { redeployRoutes } from "./redeploy-routes.js";
import { setupRoutes, type SetupOptions } from "./setup-routes.js";
import { toWire } from "./to-wire.js";
import { splitHosts } from "./split-hosts.js";
import { trustedProxies, type ProxyRange } from "./trusted-proxies.js";
import type { TokenGuard } from "./bearer-auth.js";
import { SignInLimiter } from "./dashboard/sign-in-limiter.js";
import { webhookRoutes } from "./webhook-routes.js";

/** Everything the HTTP app needs, passed in: it opens no clients of its own. */
export interface AppOptions {
  store: Omit<Store, "close">;
  deployer: Deployer;
  pool: Pool;
  docker: Docker;
  /** Runs cron functions; serves their runs at /functions/:owner/:repo/:function/runs. */
  scheduler: CronScheduler;
  github: () => GitHubApp | undefined;
  publicUrl: string;
  /** ESERVELESS_FUNCTIONS_URL: function URLs answer on its host only, and nothing else does. */
  functionsUrl?: string;
  /** ESERVELESS_TRUSTED_PROXIES: peers whose X-Forwarded-* headers are believed. */
  trustedProxies?: readonly ProxyRange[];
  adminToken: string | undefined;
  metrics: Metrics;
  /** Pull-request previews: their webhook events, and why a closed one's URLs answer 410. Off when absent. */
  previews?: Pick<Previews, "onPullRequest" | "onIssueComment" | "gone">;
  /** Takes a project down (`DELETE /api/projects/:owner/:repo`). */
  removeProject?: (repository: string) => Promise<ProjectRemoved>;
  /** The latest invocations per function; a fresh one when absent. */
  invocations?: InvocationLog;
  maxBodyBytes?: number;
  /** Largest local-folder upload (the source limit). */
  maxUploadBytes?: number;
  log: Logger;
  /** The clock of dashboard sign-ins; Date.now when absent. */
  now?: () => number;
  /** Projects' secrets (`/api/projects/:owner/:repo/secrets`, the dashboard's Secrets section); not served when absent. */
  secrets?: SecretActions;
  /** GitHub App setup from its manifest at /setup; without it /setup is not served. */
  setup?: SetupOptions;
}

/**
 * Builds the eserveless HTTP app. It never listens: `main.ts` serves it,
 * tests call `app.request()`.
 */
export function createApp(options: AppOptions) {
  const app = new Hono();
  const invocations = options.invocations ?? createInvocationLog();
  // One limit on wrong admin tokens for the sign-in form and the API alike.
  const signInLimiter = new SignInLimiter({ now: options.now });
  const tokenGuard: TokenGuard = { limiter: signInLimiter, isTrusted: trustedProxies(options.trustedProxies ?? []) };
  if (options.functionsUrl) app.use(splitHosts({ ...options, functionsUrl: options.functionsUrl }));
  app.get("/healthz", async (c) => {
    const docker = await options.docker.ping().then(
      () => "ok",
      (error: Error) => `unreachable: ${error.message}`,
    );
    const healthy = docker === "ok";
    return c.json(toWire(HealthSchema, { status: healthy ? "ok" : "degraded", docker, github: options.github() ? "configured" : "not configured" }), healthy ? 200 : 503);
  });
  app.route("/", webhookRoutes({ webhookSecret: () => options.github()?.credentials.webhookSecret, store: options.store, deployer: options.deployer, log: options.log, previews: options.previews }));
  app.route("/", redeployRoutes({ ...options, tokenGuard }));
  if (options.secrets) app.route("/", secretRoutes({ adminToken: options.adminToken, tokenGuard, actions: options.secrets }));
  app.route("/", apiRoutes({ ...options, invocations, tokenGuard, maxUploadBytes: options.maxUploadBytes ?? defaultLimits.sourceBytes }));
  const sessions = createSessions(options);
  app.route("/", deploymentRoutes({ ...options, sessions, tokenGuard }));
  app.route("/", dashboardRoutes({ ...options, sessions, invocations, signInLimiter }));
  app.route("/", cronRunRoutes({ ...options, tokenGuard, signedIn: async (c) => (await sessions.current(c)) !== undefined }));
  app.route("/", invokeRoutes({ ...options, invocations }));
  app.route("/", metricsRoutes(options));
  if (options.setup) app.route("/", setupRoutes(options.setup));

  app.notFound((c) => c.json({ error: { code: "not_found", message: `No route for ${c.req.method} ${c.req.path}` } }, 404));
  app.onError(errorHandler({ log: options.log }));
  return app;
}
