import { setTimeout as sleep } from "node:timers/promises";
import type { CronRun } from "../../contract/cron-run.js";
import { duration } from "../../format.js";
import { integerFlag } from "../args.js";
import type { CommandContext } from "../context.js";
import { environmentProblem } from "../../urls.js";
import { CliError, UsageError } from "../errors.js";
import { functionTarget } from "../find-function.js";

const POLL_MS = 500;
/** Runs listed per poll: the new run is the newest, unless scheduled runs pile up meanwhile. */
const RUNS_PER_POLL = 20;

/** `eserveless run OWNER/REPO/FUNCTION [--env pr-N]`: runs a cron function (of production or a preview) now, waits for its end, prints its output. */
export async function runCommand(ctx: CommandContext): Promise<number> {
  const target = functionTarget(ctx.args.positionals[0], "run");
  const timeoutMs = integerFlag("timeout", ctx.args.flags.timeout, 900, { min: 1, max: 86_400 }, "run") * 1000;
  const environment = ctx.args.flags.env ?? "production";
  const problem = environmentProblem(environment);
  if (problem) throw new UsageError(`--env: ${problem}`);
  const started = await ctx.client.runNow(target.repository, target.name, environment);
  const name = `${started.run.repository}/${started.run.function}${started.run.environment === "production" ? "" : ` (${started.run.environment})`}`;
  ctx.note(`Started run ${started.run.id} of ${name}: ${started.url}`);

  const deadline = Date.now() + timeoutMs;
  let run: CronRun | undefined;
  for (;;) {
    const view = await ctx.client.cronRuns(started.run.repository, started.run.function, RUNS_PER_POLL, started.run.environment);
    run = view.runs.find((r) => r.id === started.run.id);
    if (!run) throw new CliError(`run ${started.run.id} of ${name} is no longer listed; see ${started.url}`);
    if (run.state !== "running") break;
    if (Date.now() > deadline) {
      throw new CliError(`stopped waiting after ${duration(timeoutMs)}; run ${run.id} goes on on the server: ${started.url}`);
    }
    await sleep(POLL_MS, undefined, { signal: ctx.signal }).catch(() => {
      throw new CliError(`interrupted; run ${started.run.id} goes on on the server: ${started.url}`, { exitCode: 130 });
    });
  }

  if (ctx.args.flags.json) ctx.out(JSON.stringify({ run }, null, 2));
  else {
    if (run.outputTruncated) ctx.note("(earlier output dropped)");
    if (run.output !== "") ctx.write(run.output.endsWith("\n") ? run.output : `${run.output}\n`);
  }
  const facts = [run.exitCode === null ? undefined : `exit ${run.exitCode}`, run.durationMs === null ? undefined : duration(run.durationMs)].filter(Boolean).join(", ");
  const ended = `run ${run.id} of ${name} ${run.state.replace("_", " ")}${facts ? ` (${facts})` : ""}${run.error ? `: ${run.error}` : ""}`;
  if (run.state === "succeeded") {
    ctx.note(`${ended[0]!.toUpperCase()}${ended.slice(1)}`);
    return 0;
  }
  ctx.note(`error: ${ended}`);
  return 1;
}
