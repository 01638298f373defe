import { integerFlag } from "../args.js";
import type { RunsView } from "../../contract/cron-run.js";
import { finalStates, type Deployment, type LogLine } from "../../contract/deployment.js";
import type { Project } from "../../contract/project.js";
import type { CommandContext } from "../context.js";
import { ApiError, CliError, UsageError } from "../errors.js";
import { followDeployment, followFunctionOutput } from "../follow.js";
import type { OutputLine } from "../../contract/function-output.js";
import { duration, plural, shortSha, zonedTime } from "../../format.js";
import type { ProjectFunction } from "../../contract/project.js";
import { clock, dateTime, table } from "../format.js";

const json = (value: unknown) => JSON.stringify(value, null, 2);

/** The live project named `repository` (case-insensitive, as the server), or an error listing the live ones. */
function findProject(ctx: CommandContext, projects: Project[], repository: string): Project {
  const project = projects.find((p) => p.repository.toLowerCase() === repository.toLowerCase());
  if (project) return project;
  const live = projects.map((p) => p.repository).join(", ");
  throw new CliError(`no live project ${repository} on ${ctx.client.url}${live ? `; live projects: ${live}` : "; nothing is deployed there yet"}`);
}

/** `eserveless ls [OWNER/REPO]`. */
export async function lsCommand(ctx: CommandContext): Promise<number> {
  let projects = await ctx.client.projects();
  const only = ctx.args.positionals[0];
  if (only !== undefined) projects = [findProject(ctx, projects, only)];
  if (ctx.args.flags.json) {
    ctx.out(json({ projects }));
    return 0;
  }
  if (projects.length === 0) {
    ctx.out(`No live projects on ${ctx.client.url}. Deploy one: eserveless deploy ./my-project`);
    return 0;
  }
  const rows = projects.flatMap((project) =>
    project.functions.map((fn) => [project.repository, fn.name, fn.type, shortSha(project.commit), fn.url ?? cronWhen(fn)]),
  );
  ctx.out(table(rows, ["PROJECT", "FUNCTION", "TYPE", "COMMIT", "URL / SCHEDULE"]));
  // Each project's environments: production and every open pull request's preview.
  const environments = projects.flatMap((project) =>
    (project.environments ?? []).flatMap((env) => {
      const where = env.pullRequest === undefined ? env.name : `${env.name} (#${env.pullRequest})`;
      const urls = env.functions.map((fn) => fn.url ?? `${fn.name} (cron${env.pullRequest === undefined ? "" : ", not scheduled"})`);
      return [[project.repository, where, env.commit ? shortSha(env.commit) : "-", env.state ?? "-", urls.join(" ") || "-"]];
    }),
  );
  if (environments.some((row) => row[1] !== "production")) {
    ctx.out("");
    ctx.out(table(environments, ["PROJECT", "ENVIRONMENT", "COMMIT", "STATE", "URLS"]));
  }
  return 0;
}

/** `0 7 * * * (Europe/Paris), next 2026-12-03 07:00:00 Europe/Paris`: the next run in the schedule's own zone, named. */
function cronWhen(fn: ProjectFunction): string {
  const zone = fn.timezone ?? "UTC";
  const next = fn.nextRun ? `next ${zonedTime(Date.parse(fn.nextRun), zone)}` : "not scheduled";
  return `${fn.schedule ?? ""} (${zone}), ${next}`;
}

/** `eserveless status`. */
export async function statusCommand(ctx: CommandContext): Promise<number> {
  const [status, health] = await Promise.all([ctx.client.status(), ctx.client.health().catch(() => undefined)]);
  if (ctx.args.flags.json) {
    ctx.out(json({ ...status, docker: health?.docker ?? null }));
    return 0;
  }
  const c = status.containers;
  const rows = [
    ["Server", ctx.client.url === status.publicUrl ? status.publicUrl : `${ctx.client.url} (public URL ${status.publicUrl})`],
    ...(status.functionsUrl ? [["Functions", status.functionsUrl]] : []),
    ["GitHub", status.github],
    ["Docker", health?.docker ?? "unknown"],
    ["Containers", `${c.ready} ready, ${c.paused} paused, ${c.starting} starting, ${c.draining} draining; ${c.queued} requests waiting`],
    ["Projects", String(status.projects)],
  ];
  ctx.out(table(rows));
  return 0;
}

/** `eserveless logs DEPLOYMENT-ID | OWNER/REPO/FUNCTION`. */
export async function logsCommand(ctx: CommandContext): Promise<number> {
  const target = ctx.args.positionals[0];
  if (target === undefined) throw new UsageError("logs needs a deployment id or OWNER/REPO/FUNCTION", "logs");
  if (!target.includes("/")) return deploymentLogs(ctx, target);
  const parts = target.split("/");
  if (parts.length !== 3 || parts.some((part) => part === "")) {
    throw new UsageError(`"${target}" is neither a deployment id nor OWNER/REPO/FUNCTION (such as local/hello/API)`, "logs");
  }
  return functionLogs(ctx, `${parts[0]}/${parts[1]}`, parts[2]!);
}

const logLine = (line: LogLine) => `${clock(line.at)}  ${line.line}`;

/** Build and function output is shown with the admin token only. */
const hiddenNote = (count: number) =>
  `(${plural(count, "line")} of build and function output left out: the server shows them with the admin token; set ESERVELESS_ADMIN_TOKEN or pass --token)`;

function deploymentHeader(deployment: Deployment): string {
  const state = `${deployment.state}${deployment.description ? `: ${deployment.description}` : ""}`;
  return `Deployment ${deployment.id} of ${deployment.repository} @ ${shortSha(deployment.commit)} (${deployment.trigger}, ${dateTime(deployment.createdAt)}): ${state}`;
}

/** "2026-12-02 17:40:01.123  es-local-hello-api-1a2b3c  the line" (stderr lines marked). */
const outputLine = (line: OutputLine) =>
  `${dateTime(line.at)}.${String(line.at % 1000).padStart(3, "0")}  ${line.replica}  ${line.stream === "stderr" ? "! " : ""}${line.line}`;

async function deploymentLogs(ctx: CommandContext, id: string): Promise<number> {
  if (ctx.args.flags.runs !== undefined) throw new UsageError("--runs is for OWNER/REPO/FUNCTION", "logs");
  if (ctx.args.flags.build || ctx.args.flags.requests) throw new UsageError("--build and --requests are for OWNER/REPO/FUNCTION; a deployment id shows its log", "logs");
  const answer = await ctx.client.deployment(id).catch((error: unknown) => {
    if (error instanceof ApiError && error.status === 404) {
      throw new CliError(`no deployment "${id}" on ${ctx.client.url}; "eserveless ls" lists live projects, "eserveless logs OWNER/REPO/FUNCTION" shows a function's`);
    }
    throw error;
  });
  const { follow } = ctx.args.flags;
  const running = !finalStates.has(answer.deployment.state);
  if (!ctx.args.flags.json) {
    ctx.out(deploymentHeader(answer.deployment));
    for (const line of answer.log) ctx.out(logLine(line));
    if (answer.hiddenLines) ctx.out(hiddenNote(answer.hiddenLines));
  }
  if (!follow || !running) {
    if (ctx.args.flags.json) ctx.out(json(answer));
    return 0;
  }
  const log = [...answer.log];
  const deployment = await followDeployment(ctx.client, id, {
    after: answer.log.at(-1)?.seq ?? 0,
    onLine: (line) => {
      log.push(line);
      if (!ctx.args.flags.json) ctx.out(logLine(line));
    },
    signal: ctx.signal,
  });
  if (ctx.args.flags.json) ctx.out(json({ deployment, log }));
  else ctx.out(`Ended: ${deployment.state}${deployment.description ? `: ${deployment.description}` : ""}`);
  return 0;
}

async function functionLogs(ctx: CommandContext, repository: string, name: string): Promise<number> {
  const limit = integerFlag("runs", ctx.args.flags.runs, 5, { min: 1, max: 100 }, "logs");
  const project = findProject(ctx, await ctx.client.projects(), repository);
  const fn = project.functions.find((f) => f.name.toLowerCase() === name.toLowerCase());
  if (!fn) throw new CliError(`${project.repository} has no function ${name}; its functions: ${project.functions.map((f) => f.name).join(", ")}`);
  const { build, requests, follow } = ctx.args.flags;
  if (fn.type === "cron" && (follow || requests)) {
    throw new UsageError(`${follow ? "--follow" : "--requests"} is for an http function; ${project.repository}/${fn.name} is a cron function, whose runs "logs" shows with their output`, "logs");
  }
  // No section flag: every section. --build and --requests narrow it; --follow is the output alone.
  const all = !build && !requests && !follow;
  const showBuild = all || build;
  const showRequests = fn.type === "http" && (all || requests);
  const showOutput = fn.type === "http" && (all || follow);
  const { deployment, log } = showBuild ? await ctx.client.deployment(project.deployment) : { deployment: undefined, log: undefined };
  const runs: RunsView | undefined = fn.type === "cron" && all ? await ctx.client.cronRuns(project.repository, fn.name, limit) : undefined;
  const invocations = showRequests ? await ctx.client.invocations(project.repository, fn.name) : undefined;
  const output = showOutput ? await ctx.client.functionOutput(project.repository, fn.name) : undefined;

  if (ctx.args.flags.json && !follow) {
    ctx.out(
      json({
        repository: project.repository,
        function: fn,
        ...(deployment ? { deployment, log } : {}),
        ...(runs ? { schedule: runs.schedule, runs: runs.runs } : {}),
        ...(invocations ? { invocations } : {}),
        ...(output ? { output } : {}),
      }),
    );
    return 0;
  }
  const printOutput = (line: OutputLine) => ctx.out(ctx.args.flags.json ? JSON.stringify(line) : outputLine(line));
  if (follow) {
    // One JSON line per output line with --json, so a pipe reads them as they come.
    if (!ctx.args.flags.json) ctx.out(`${project.repository}/${fn.name}: following its output (Ctrl-C to stop)`);
    for (const line of output!) printOutput(line);
    await followFunctionOutput(ctx.client, project.repository, fn.name, { after: output!.at(-1)?.seq ?? 0, onLine: printOutput, signal: ctx.signal });
    return 0;
  }
  const where = fn.url ? `at ${fn.url}` : `on "${fn.schedule}"`;
  ctx.out(`${project.repository}/${fn.name}: ${fn.type} ${where}`);
  if (deployment) {
    ctx.out("");
    ctx.out(deploymentHeader(deployment));
    for (const line of log) ctx.out(logLine(line));
  }
  if (invocations) {
    ctx.out("");
    if (invocations.length === 0) ctx.out("No invocations since the server started.");
    else ctx.out(`Latest ${invocations.length === 1 ? "invocation" : `${invocations.length} invocations`}, newest first:`);
    for (const call of invocations) {
      ctx.out(`${dateTime(call.at)}  ${call.status}  ${call.method} ${call.path}  ${duration(call.ms)}${call.cold ? ", cold start" : ""}`);
    }
  }
  if (output) {
    ctx.out("");
    if (output.length === 0) ctx.out("No output yet: what the function prints (console.log, crash traces) shows here.");
    else ctx.out(`Output, oldest first (time, replica, line; "!" marks stderr):`);
    for (const line of output) printOutput(line);
  }
  if (!runs) return 0;

  ctx.out("");
  const schedule = runs.schedule;
  ctx.out(
    schedule
      ? `Schedule "${schedule.schedule}" (${schedule.timezone}), timeout ${schedule.timeoutSeconds} s; next run ${schedule.nextRun ? zonedTime(Date.parse(schedule.nextRun), schedule.timezone) : "never"}`
      : "Not scheduled now (see the server log)",
  );
  if (runs.runs.length === 0) {
    ctx.out("No runs yet.");
    return 0;
  }
  ctx.out(`Latest ${runs.runs.length === 1 ? "run" : `${runs.runs.length} runs`}, newest first:`);
  for (const run of runs.runs) {
    const facts = [run.trigger, run.state, run.exitCode === null ? undefined : `exit ${run.exitCode}`, run.durationMs === null ? undefined : duration(run.durationMs)];
    ctx.out("");
    ctx.out(`${dateTime(run.startedAt)}  run ${run.id}  ${facts.filter(Boolean).join(", ")}`);
    if (run.error) ctx.out(`  ${run.error}`);
    if (run.state === "skipped") continue;
    if (run.outputTruncated) ctx.out("  | (earlier output dropped)");
    const output = run.output.replace(/\n$/, "");
    for (const line of output === "" ? ["(no output)"] : output.split("\n")) ctx.out(`  | ${line}`);
  }
  return 0;
}
