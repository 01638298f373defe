import * as v from "valibot";

/**
 * The states of a cron run: `running` until its container exits, then
 * `succeeded` (exit 0), `failed` (non-zero exit, or it could not start),
 * `timed_out` (killed past its timeout); `skipped` when a tick found the
 * previous run still going (final at once, it ran nothing).
 */
export const cronRunStates = ["running", "succeeded", "failed", "timed_out", "skipped"] as const;
export type CronRunState = (typeof cronRunStates)[number];

/** What started a cron run: its schedule, or someone asking for a run now. */
export const cronRunTriggers = ["schedule", "manual"] as const;

/** One run (or skipped tick) of a cron function. */
export const CronRunSchema = v.object({
  id: v.string(),
  repository: v.string(),
  /** `production`, or the preview (`pr-<number>`) it ran in; production's when a server does not say. */
  environment: v.optional(v.string(), "production"),
  function: v.string(),
  deploymentId: v.string(),
  commit: v.string(),
  trigger: v.picklist(cronRunTriggers),
  state: v.picklist(cronRunStates),
  /** Why it failed, timed out or was skipped, in a sentence; null when it succeeded or runs. */
  error: v.nullable(v.string()),
  exitCode: v.nullable(v.number()),
  /** The end of stdout and stderr, interleaved. */
  output: v.string(),
  /** True when earlier output was dropped to keep the record bounded. */
  outputTruncated: v.boolean(),
  startedAt: v.number(),
  finishedAt: v.nullable(v.number()),
  durationMs: v.nullable(v.number()),
});
export type CronRun = v.InferOutput<typeof CronRunSchema>;

/** `GET /functions/:owner/:repo/:function/runs` with `Accept: application/json`: a cron function's schedule and runs, newest first. */
export const RunsViewSchema = v.object({
  repository: v.string(),
  /** The environment whose runs these are: `production` or a preview (`pr-<number>`). */
  environment: v.optional(v.string(), "production"),
  function: v.string(),
  /** False for a function no longer deployed: its past runs only. */
  live: v.boolean(),
  /** Null when it is not scheduled (no longer live, or its schedule failed). */
  schedule: v.nullable(
    v.object({
      schedule: v.string(),
      timezone: v.string(),
      timeoutSeconds: v.number(),
      deploymentId: v.string(),
      commit: v.string(),
      /** ISO 8601; null when the expression never matches again. */
      nextRun: v.nullable(v.string()),
    }),
  ),
  runs: v.array(CronRunSchema),
});
export type RunsView = v.InferOutput<typeof RunsViewSchema>;

/** `POST /functions/:owner/:repo/:function/runs` (202): the run it started, and the page of its runs. */
export const RunStartedSchema = v.object({
  run: v.object({ id: v.string(), state: v.picklist(cronRunStates), repository: v.string(), environment: v.optional(v.string(), "production"), function: v.string(), startedAt: v.number() }),
  url: v.string(),
});
