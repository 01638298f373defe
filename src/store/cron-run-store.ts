import type Database from "better-sqlite3";
import { randomBytes } from "node:crypto";
import * as v from "valibot";
import { cronRunStates, cronRunTriggers, type CronRunState } from "../contract/cron-run.js";
import { PRODUCTION } from "./deployment-store.js";
import { parseRow } from "./parse-row.js";

// The states are part of the wire contract, which the CLI shares.
export { cronRunStates, cronRunTriggers, type CronRunState } from "../contract/cron-run.js";

/** Runs kept per cron function; older ones are deleted as new ones are recorded. */
export const MAX_RUNS_PER_FUNCTION = 100;
/** Output kept per run (the end of it): a chatty job must not fill the disk. */
export const MAX_RUN_OUTPUT_CHARS = 64 * 1024;
const MAX_RUN_ERROR_CHARS = 2000;

const CronRunRow = v.pipe(
  v.object({
    id: v.string(),
    repository: v.string(),
    environment: v.string(),
    function: v.string(),
    deployment_id: v.string(),
    commit_sha: v.string(),
    trigger: v.picklist(cronRunTriggers),
    state: v.picklist(cronRunStates),
    error: v.nullable(v.string()),
    exit_code: v.nullable(v.number()),
    output: v.string(),
    output_truncated: v.number(),
    started_at: v.number(),
    finished_at: v.nullable(v.number()),
    duration_ms: v.nullable(v.number()),
  }),
  v.transform((row) => ({
    id: row.id,
    repository: row.repository,
    /** `production`, or the preview (`pr-<number>`) it ran in. */
    environment: row.environment,
    function: row.function,
    deploymentId: row.deployment_id,
    commit: row.commit_sha,
    trigger: row.trigger,
    state: row.state,
    /** Why it failed, timed out or was skipped, in a sentence; null when it succeeded or runs. */
    error: row.error,
    exitCode: row.exit_code,
    /** The last {@link MAX_RUN_OUTPUT_CHARS} characters of stdout and stderr, interleaved. */
    output: row.output,
    /** True when earlier output was dropped to keep the record bounded. */
    outputTruncated: row.output_truncated === 1,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    durationMs: row.duration_ms,
  })),
);

/** One run (or skipped tick) of a cron function. */
export type CronRun = v.InferOutput<typeof CronRunRow>;

const toCronRun = (row: unknown) => parseRow(CronRunRow, row, "a cron run");

const clip = (text: string | null | undefined, max: number) => (text == null ? null : text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** The runs of cron functions. */
export type CronRunStore = ReturnType<typeof createCronRunStore>;

/** The cron_runs table of `db`; `now` is the clock, in milliseconds. */
export function createCronRunStore(db: Database.Database, options: { now: () => number; mask?: (text: string) => string }) {
  const { now } = options;
  // A run that prints its secret keeps *** in its record instead.
  const mask = options.mask ?? ((text: string) => text);

  function getRun(id: string): CronRun | undefined {
    const row = db.prepare(`SELECT * FROM cron_runs WHERE id = ?`).get(id);
    return row === undefined ? undefined : toCronRun(row);
  }

  return {
    /**
     * Records a cron run: `running` (its container is about to start) or
     * `skipped` (final at once). Keeps the latest {@link MAX_RUNS_PER_FUNCTION}
     * runs of the function in its environment, never deleting one that still runs.
     */
    createRun(input: {
      repository: string;
      /** Production's unless told: a preview's runs are kept apart. */
      environment?: string;
      function: string;
      deploymentId: string;
      commit: string;
      trigger: CronRun["trigger"];
      state: "running" | "skipped";
      error?: string | null;
      at?: number;
    }): CronRun {
      const id = randomBytes(6).toString("hex");
      const at = input.at ?? now();
      const final = input.state === "skipped";
      const environment = input.environment ?? PRODUCTION;
      db.transaction(() => {
        db.prepare(
          `INSERT INTO cron_runs (id, repository, environment, function, deployment_id, commit_sha, trigger, state, error, started_at, finished_at, duration_ms)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(id, input.repository, environment, input.function, input.deploymentId, input.commit, input.trigger, input.state,
          clip(input.error, MAX_RUN_ERROR_CHARS), at, final ? at : null, final ? 0 : null);
        db.prepare(
          `DELETE FROM cron_runs WHERE repository = @repository AND environment = @environment AND function = @function AND state != 'running' AND rowid NOT IN (
             SELECT rowid FROM cron_runs WHERE repository = @repository AND environment = @environment AND function = @function ORDER BY started_at DESC, rowid DESC LIMIT @keep
           )`,
        ).run({ repository: input.repository, environment, function: input.function, keep: MAX_RUNS_PER_FUNCTION });
      })();
      return getRun(id)!;
    },

    /** Ends a running cron run; output beyond {@link MAX_RUN_OUTPUT_CHARS} keeps its end. */
    finishRun(
      id: string,
      result: { state: Exclude<CronRunState, "running" | "skipped">; exitCode: number | null; durationMs: number | null; output: string; outputTruncated?: boolean; error?: string | null; at?: number },
    ): void {
      const output = mask(result.output);
      const tooLong = output.length > MAX_RUN_OUTPUT_CHARS;
      db.prepare(
        `UPDATE cron_runs SET state = ?, exit_code = ?, duration_ms = ?, output = ?, output_truncated = ?, error = ?, finished_at = ? WHERE id = ? AND state = 'running'`,
      ).run(
        result.state,
        result.exitCode,
        result.durationMs === null ? null : Math.round(result.durationMs),
        tooLong ? output.slice(-MAX_RUN_OUTPUT_CHARS) : output,
        tooLong || result.outputTruncated ? 1 : 0,
        clip(result.error === undefined || result.error === null ? result.error : mask(result.error), MAX_RUN_ERROR_CHARS),
        result.at ?? now(),
        id,
      );
    },

    getRun,

    /** A cron function's runs in `environment` (production unless told), newest first. */
    listRuns(repository: string, name: string, limit = 50, environment: string = PRODUCTION): CronRun[] {
      return db
        .prepare(`SELECT * FROM cron_runs WHERE repository = ? AND environment = ? AND function = ? ORDER BY started_at DESC, rowid DESC LIMIT ?`)
        .all(repository, environment, name, limit)
        .map(toCronRun);
    },

    /** The run of a cron function in `environment` that is still running, if any. */
    runningRun(repository: string, name: string, environment: string = PRODUCTION): CronRun | undefined {
      const row = db
        .prepare(`SELECT * FROM cron_runs WHERE repository = ? AND environment = ? AND function = ? AND state = 'running' ORDER BY started_at DESC LIMIT 1`)
        .get(repository, environment, name);
      return row === undefined ? undefined : toCronRun(row);
    },

    /** Deletes the runs of one environment of a repository (a removed preview's); returns how many. */
    forgetRuns(repository: string, environment: string): number {
      return db.prepare(`DELETE FROM cron_runs WHERE repository = ? AND environment = ?`).run(repository, environment).changes;
    },

    /** Fails every run still marked running (a previous process stopped mid-run); returns how many. */
    failInterruptedRuns(error: string, at = now()): number {
      return db
        .prepare(`UPDATE cron_runs SET state = 'failed', error = ?, finished_at = ?, duration_ms = ? - started_at WHERE state = 'running'`)
        .run(clip(error, MAX_RUN_ERROR_CHARS), at, at).changes;
    },
  };
}
