import type Docker from "dockerode";
import { getRequestListener } from "@hono/node-server";
import { Hono, type Context, type NotFoundHandler } from "hono";
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
import { createSessions } from "./dashboard/session.js";
import { errorHandler } from "./error-handler.js";
import { createInvocationLog, type InvocationLog } from "./invocation-log.js";
import { invokeRoutes } from "./invoke-routes.js";
import { metricsRoutes, type Metrics } from "./metrics-routes.js";
import { redeployRoutes } from "./redeploy-routes.js";
import type { SetupOptions } from "./setup-routes.js";
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
 * Routes whose module (and what it imports: the dashboard's templates,
 * /setup) loads with their first request instead of at start: the app hands
 * each request to them, and they answer errors as the app does.
 */
function lazyRoutes(load: () => Promise<Hono>, answers: { notFound: NotFoundHandler; onError: ReturnType<typeof errorHandler> }) {
  let routes: Promise<Hono> | undefined;
  return async (c: Context) => {
    routes ??= load().then((loaded) => loaded.notFound(answers.notFound).onError(answers.onError));
    return (await routes).fetch(c.req.raw, c.env);
  };
}

/**
 * Builds the eserveless HTTP app. It never listens: `main.ts` serves
 * `listener`, which answers plain function URLs itself and hands the rest to
 * `app`; tests serve `listener` too, or call `app.request()`.
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
  const notFound: NotFoundHandler = (c) => c.json({ error: { code: "not_found", message: `No route for ${c.req.method} ${c.req.path}` } }, 404);
  const onError = errorHandler({ log: options.log });
  const answers = { notFound, onError };
  const deployments = lazyRoutes(async () => (await import("./deployment-routes.js")).deploymentRoutes({ ...options, sessions, tokenGuard }), answers);
  app.all("/deployments/*", deployments);
  const dashboard = lazyRoutes(async () => (await import("./dashboard/dashboard-routes.js")).dashboardRoutes({ ...options, sessions, invocations, signInLimiter }), answers);
  for (const path of ["/", "/login", "/logout", "/dashboard", "/dashboard/*"]) app.all(path, dashboard);
  const cronRuns = lazyRoutes(
    async () => (await import("./cron-run-routes.js")).cronRunRoutes({ ...options, tokenGuard, signedIn: async (c) => (await sessions.current(c)) !== undefined }),
    answers,
  );
  app.all("/functions/*", cronRuns);
  const invoke = invokeRoutes({ ...options, invocations });
  app.route("/", invoke.routes);
  app.route("/", metricsRoutes(options));
  const setup = options.setup;
  if (setup) {
    const setupPages = lazyRoutes(async () => (await import("./setup-routes.js")).setupRoutes(setup), answers);
    app.all("/setup", setupPages);
    app.all("/setup/*", setupPages);
  }

  app.notFound(notFound);
  app.onError(onError);
  return { app, listener: invoke.listener(getRequestListener(app.fetch)), flushLog: invoke.flushLog };
}
