import { Hono, type Context } from "hono";
import { createMiddleware } from "hono/factory";
import { html, raw } from "hono/html";
import { RunsViewSchema, RunStartedSchema, type RunsView } from "../contract/cron-run.js";
import type { CronScheduler } from "../cron/cron-scheduler.js";
import { BadRequestError } from "../errors.js";
import { MAX_RUNS_PER_FUNCTION, type Store } from "../store/store.js";
import { bearerAuth } from "./bearer-auth.js";
import { toWire } from "./to-wire.js";

const DEFAULT_LIMIT = 50;

const stateColor: Record<string, string> = {
  succeeded: "#1a7f37",
  failed: "#cf222e",
  timed_out: "#cf222e",
  skipped: "#6e7781",
  running: "#9a6700",
};

/** The page listing a cron function's runs; POST to it runs the function now. */
export function cronRunsUrl(publicUrl: string, repository: string, name: string): string {
  return `${publicUrl}/functions/${repository}/${name}/runs`;
}

const when = (ms: number) => `${new Date(ms).toISOString().replace("T", " ").slice(0, 19)} UTC`;
const duration = (ms: number | null) => (ms === null ? "" : ms < 10_000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);

function runsPage(view: RunsView) {
  const running = view.runs.some((run) => run.state === "running");
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${running ? raw('<meta http-equiv="refresh" content="2">') : ""}
<title>${view.repository} · ${view.function} runs · eserveless</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #1f2328; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #d0d7de; vertical-align: top; }
pre { background: #f6f8fa; padding: 1rem; overflow-x: auto; font-size: 13px; border-radius: 6px; margin: .25rem 0 1rem; }
.state { font-weight: 600; }
</style>
</head>
<body>
<h1>${view.repository} · ${view.function}</h1>
${view.schedule
  ? html`<p>Cron <code>${view.schedule.schedule}</code> (${view.schedule.timezone}), timeout ${view.schedule.timeoutSeconds} s; next run ${view.schedule.nextRun ? when(Date.parse(view.schedule.nextRun)) : "never"}.</p>`
  : html`<p>${view.live ? "Live, but not scheduled (see the server log)." : "No longer deployed: these are its past runs."}</p>`}
<h2>Runs</h2>
${view.runs.length === 0
  ? html`<p>No runs yet.</p>`
  : html`<table>
<tr><th>Started</th><th>Trigger</th><th>State</th><th>Duration</th><th>Exit</th><th>Run</th></tr>
${view.runs.map(
  (run) => html`<tr>
<td>${when(run.startedAt)}</td><td>${run.trigger}</td>
<td><span class="state" style="color: ${stateColor[run.state] ?? "#1f2328"}">${run.state}</span>${run.error ? html`<br>${run.error}` : ""}</td>
<td>${duration(run.durationMs)}</td><td>${run.exitCode ?? ""}</td><td><code>${run.id}</code></td>
</tr>
${run.state === "skipped" || (run.state === "running" && run.output === "")
  ? ""
  : html`<tr><td colspan="6"><details${run === view.runs[0] ? raw(" open") : ""}><summary>Output${run.outputTruncated ? " (its end only)" : ""}</summary><pre>${run.output || "(no output)"}</pre></details></td></tr>`}`,
)}
</table>`}
</body>
</html>`;
}

/**
 * `GET /functions/:owner/:repo/:function/runs`: a cron function's runs with
 * their output, newest first, HTML for browsers and JSON for
 * `Accept: application/json`. Output may hold secrets, so it takes the admin
 * token or a dashboard session. `POST` (admin token) runs it now: 202 with the
 * run, 409 while a run is in progress, 404 for unknown or http functions.
 */
export function cronRunRoutes(options: {
  store: Store;
  scheduler: CronScheduler;
  adminToken: string | undefined;
  publicUrl: string;
  /** Whether the request carries a dashboard session. */
  signedIn?: (c: Context) => Promise<boolean>;
}) {
  const { store, scheduler } = options;
  const viewer = createMiddleware(async (c, next) => {
    if (options.signedIn && (await options.signedIn(c))) return next();
    const browser = !c.req.header("authorization") && (c.req.header("accept") ?? "").includes("text/html");
    if (browser) return c.redirect("/login", 302);
    return bearerAuth(options.adminToken)(c, next);
  });
  return new Hono()
    .get("/functions/:owner/:repo/:function/runs", viewer, (c) => {
      const repository = `${c.req.param("owner")}/${c.req.param("repo")}`;
      const name = c.req.param("function");
      const limitParam = c.req.query("limit");
      const limit = limitParam === undefined ? DEFAULT_LIMIT : Number(limitParam);
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RUNS_PER_FUNCTION) {
        throw new BadRequestError(`limit must be a whole number from 1 to ${MAX_RUNS_PER_FUNCTION}, got ${JSON.stringify(limitParam)}`);
      }
      const fn = store.liveFunction(repository, name);
      const runs = store.listRuns(repository, name, limit);
      // An http function, or nothing under that name now or before: a 404 saying which.
      if ((fn && fn.type !== "cron") || (!fn && runs.length === 0)) scheduler.liveCronFunction(repository, name);
      const scheduled = fn ? scheduler.schedules(fn.repository).find((s) => s.function.toLowerCase() === fn.name.toLowerCase()) : undefined;
      const view: RunsView = {
        repository: fn?.repository ?? runs[0]!.repository,
        function: fn?.name ?? runs[0]!.function,
        live: fn !== undefined,
        schedule: scheduled
          ? { schedule: scheduled.schedule, timezone: scheduled.timezone, timeoutSeconds: scheduled.timeoutSeconds, deploymentId: scheduled.deploymentId, commit: scheduled.commit, nextRun: scheduled.nextRun?.toISOString() ?? null }
          : null,
        runs,
      };
      const wantsJson = (c.req.header("accept") ?? "").includes("application/json") || c.req.query("format") === "json";
      if (wantsJson) return c.json(toWire(RunsViewSchema, view));
      return c.html(runsPage(view));
    })
    .post("/functions/:owner/:repo/:function/runs", bearerAuth(options.adminToken), (c) => {
      const run = scheduler.runNow(`${c.req.param("owner")}/${c.req.param("repo")}`, c.req.param("function"));
      const url = cronRunsUrl(options.publicUrl, run.repository, run.function);
      c.header("Location", url);
      return c.json(toWire(RunStartedSchema, { run: { id: run.id, state: run.state, repository: run.repository, function: run.function, startedAt: run.startedAt }, url }), 202);
    });
}
