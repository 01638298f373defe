import { Hono, type Context } from "hono";
import { createMiddleware } from "hono/factory";
import { jsx } from "hono/jsx";
import { RunsViewSchema, RunStartedSchema, type RunsView } from "../contract/cron-run.js";
import type { CronScheduler } from "../cron/cron-scheduler.js";
import { BadRequestError } from "../errors.js";
import { MAX_RUNS_PER_FUNCTION, type CronRunStore } from "../store/cron-run-store.js";
import { PRODUCTION } from "../store/deployment-store.js";
import type { LiveFunctionStore } from "../store/live-function-store.js";
import { cronRunsUrl, environmentProblem } from "../urls.js";
import { bearerAuth, type TokenGuard } from "./bearer-auth.js";
import { newNonce, renderPage } from "./dashboard/layout.js";
import { RunsPage } from "./dashboard/pages.js";
import { toWire } from "./to-wire.js";

const DEFAULT_LIMIT = 50;

/** `?environment=`: production when absent, else production or a preview's `pr-<number>`. */
function environmentOf(c: Context): string {
  const environment = c.req.query("environment");
  if (environment === undefined || environment === "") return PRODUCTION;
  const problem = environmentProblem(environment);
  if (problem) throw new BadRequestError(`?environment= ${problem}`, { code: "invalid_environment" });
  return environment;
}

/**
 * `GET /functions/:owner/:repo/:function/runs`: a cron function's runs with
 * their output, newest first, HTML for browsers and JSON for
 * `Accept: application/json`. Output may hold secrets, so it takes the admin
 * token or a dashboard session. `POST` (admin token) runs it now: 202 with the
 * run, 409 while a run is in progress, 404 for unknown or http functions.
 * `?environment=pr-<number>` does either for a pull request's preview, whose
 * cron functions run only by hand, with its image and `preview` secrets.
 */
export function cronRunRoutes(options: {
  store: LiveFunctionStore & CronRunStore;
  scheduler: CronScheduler;
  adminToken: string | undefined;
  /** Limits wrong admin tokens per client, with the dashboard's sign-in. */
  tokenGuard?: TokenGuard;
  publicUrl: string;
  /** Whether the request carries a dashboard session. */
  signedIn?: (c: Context) => Promise<boolean>;
}) {
  const { store, scheduler } = options;
  const viewer = createMiddleware(async (c, next) => {
    if (options.signedIn && (await options.signedIn(c))) return next();
    const browser = !c.req.header("authorization") && (c.req.header("accept") ?? "").includes("text/html");
    if (browser) return c.redirect("/login", 302);
    return bearerAuth(options.adminToken, options.tokenGuard)(c, next);
  });
  return new Hono()
    .get("/functions/:owner/:repo/:function/runs", viewer, async (c) => {
      const repository = `${c.req.param("owner")}/${c.req.param("repo")}`;
      const name = c.req.param("function");
      const environment = environmentOf(c);
      const limitParam = c.req.query("limit");
      const limit = limitParam === undefined ? DEFAULT_LIMIT : Number(limitParam);
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RUNS_PER_FUNCTION) {
        throw new BadRequestError(`limit must be a whole number from 1 to ${MAX_RUNS_PER_FUNCTION}, got ${JSON.stringify(limitParam)}`);
      }
      const fn = store.liveFunction(repository, name, environment);
      const runs = store.listRuns(repository, name, limit, environment);
      // An http function, or nothing under that name now or before: a 404 saying which.
      if ((fn && fn.type !== "cron") || (!fn && runs.length === 0)) scheduler.liveCronFunction(repository, name, environment);
      // Only production's cron functions are scheduled.
      const scheduled = fn && environment === PRODUCTION ? scheduler.schedules(fn.repository).find((s) => s.function.toLowerCase() === fn.name.toLowerCase()) : undefined;
      const view: RunsView = {
        repository: fn?.repository ?? runs[0]!.repository,
        environment,
        function: fn?.name ?? runs[0]!.function,
        live: fn !== undefined,
        schedule: scheduled
          ? { schedule: scheduled.schedule, timezone: scheduled.timezone, timeoutSeconds: scheduled.timeoutSeconds, deploymentId: scheduled.deploymentId, commit: scheduled.commit, nextRun: scheduled.nextRun?.toISOString() ?? null }
          : null,
        runs,
      };
      const wantsJson = (c.req.header("accept") ?? "").includes("application/json") || c.req.query("format") === "json";
      if (wantsJson) return c.json(toWire(RunsViewSchema, view));
      const signedIn = options.signedIn ? await options.signedIn(c) : false;
      return renderPage(c, newNonce(), jsx(RunsPage, { view, signedIn }));
    })
    .post("/functions/:owner/:repo/:function/runs", bearerAuth(options.adminToken, options.tokenGuard), (c) => {
      const run = scheduler.runNow(`${c.req.param("owner")}/${c.req.param("repo")}`, c.req.param("function"), environmentOf(c));
      const url = cronRunsUrl(options.publicUrl, run.repository, run.function, run.environment);
      c.header("Location", url);
      const started = { id: run.id, state: run.state, repository: run.repository, environment: run.environment, function: run.function, startedAt: run.startedAt };
      return c.json(toWire(RunStartedSchema, { run: started, url }), 202);
    });
}
