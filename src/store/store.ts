import Database from "better-sqlite3";
import { randomBytes } from "node:crypto";
import { finalStates, type DeploymentState } from "../contract/deployment.js";
import type { CronRunState } from "../contract/cron-run.js";

// The states are part of the wire contract, which the CLI shares.
export { cronRunStates, type CronRunState } from "../contract/cron-run.js";
export { deploymentStates, finalStates, type DeploymentState } from "../contract/deployment.js";

export interface Deployment {
  id: string;
  repository: string;
  commit: string;
  ref: string | null;
  trigger: "push" | "redeploy" | "local";
  state: DeploymentState;
  description: string | null;
  image: string | null;
  warnings: string[];
  functions: Array<{ name: string; type: string; url?: string; schedule?: string }>;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  coldStartMs: number | null;
}

export interface LiveFunction {
  repository: string;
  name: string;
  type: "http" | "cron";
  deploymentId: string;
  commit: string;
  image: string;
  /** The function's manifest entry, as validated. */
  spec: Record<string, unknown>;
}

/** One run (or skipped tick) of a cron function. */
export interface CronRun {
  id: string;
  repository: string;
  function: string;
  deploymentId: string;
  commit: string;
  trigger: "schedule" | "manual";
  state: CronRunState;
  /** Why it failed, timed out or was skipped, in a sentence; null when it succeeded or runs. */
  error: string | null;
  exitCode: number | null;
  /** The last {@link MAX_RUN_OUTPUT_CHARS} characters of stdout and stderr, interleaved. */
  output: string;
  /** True when earlier output was dropped to keep the record bounded. */
  outputTruncated: boolean;
  startedAt: number;
  finishedAt: number | null;
  durationMs: number | null;
}

/** Runs kept per cron function; older ones are deleted as new ones are recorded. */
export const MAX_RUNS_PER_FUNCTION = 100;
/** Output kept per run (the end of it): a chatty job must not fill the disk. */
export const MAX_RUN_OUTPUT_CHARS = 64 * 1024;
const MAX_RUN_ERROR_CHARS = 2000;

export interface LogLine {
  seq: number;
  at: number;
  line: string;
}

const MIGRATIONS = [
  `CREATE TABLE repositories (
     full_name TEXT PRIMARY KEY COLLATE NOCASE,
     installation_id INTEGER,
     default_branch TEXT,
     updated_at INTEGER NOT NULL
   );
   CREATE TABLE deliveries (
     id TEXT PRIMARY KEY,
     event TEXT NOT NULL,
     received_at INTEGER NOT NULL
   );
   CREATE TABLE deployments (
     id TEXT PRIMARY KEY,
     repository TEXT NOT NULL COLLATE NOCASE,
     commit_sha TEXT NOT NULL,
     ref TEXT,
     trigger TEXT NOT NULL,
     state TEXT NOT NULL,
     description TEXT,
     image TEXT,
     warnings TEXT NOT NULL DEFAULT '[]',
     functions TEXT NOT NULL DEFAULT '[]',
     created_at INTEGER NOT NULL,
     started_at INTEGER,
     finished_at INTEGER,
     cold_start_ms INTEGER
   );
   CREATE INDEX deployments_by_repository ON deployments (repository, created_at);
   CREATE TABLE deployment_logs (
     deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
     seq INTEGER NOT NULL,
     at INTEGER NOT NULL,
     line TEXT NOT NULL,
     PRIMARY KEY (deployment_id, seq)
   );
   CREATE TABLE functions (
     repository TEXT NOT NULL COLLATE NOCASE,
     name TEXT NOT NULL COLLATE NOCASE,
     type TEXT NOT NULL,
     deployment_id TEXT NOT NULL,
     commit_sha TEXT NOT NULL,
     image TEXT NOT NULL,
     spec TEXT NOT NULL,
     PRIMARY KEY (repository, name)
   );`,
  `CREATE TABLE cron_runs (
     id TEXT PRIMARY KEY,
     repository TEXT NOT NULL COLLATE NOCASE,
     function TEXT NOT NULL COLLATE NOCASE,
     deployment_id TEXT NOT NULL,
     commit_sha TEXT NOT NULL,
     trigger TEXT NOT NULL,
     state TEXT NOT NULL,
     error TEXT,
     exit_code INTEGER,
     output TEXT NOT NULL DEFAULT '',
     output_truncated INTEGER NOT NULL DEFAULT 0,
     started_at INTEGER NOT NULL,
     finished_at INTEGER,
     duration_ms INTEGER
   );
   CREATE INDEX cron_runs_by_function ON cron_runs (repository, function, started_at);
   CREATE INDEX cron_runs_by_state ON cron_runs (state);`,
];

/** How long delivery ids are remembered to drop redeliveries. */
const DELIVERY_MEMORY_MS = 30 * 24 * 60 * 60 * 1000;

/** A bounded log: a build that prints without end must not fill the disk. */
const MAX_LOG_LINES = 5000;

type Row = Record<string, unknown>;

function toDeployment(row: Row): Deployment {
  return {
    id: row.id as string,
    repository: row.repository as string,
    commit: row.commit_sha as string,
    ref: row.ref as string | null,
    trigger: row.trigger as Deployment["trigger"],
    state: row.state as DeploymentState,
    description: row.description as string | null,
    image: row.image as string | null,
    warnings: JSON.parse(row.warnings as string) as string[],
    functions: JSON.parse(row.functions as string) as Deployment["functions"],
    createdAt: row.created_at as number,
    startedAt: row.started_at as number | null,
    finishedAt: row.finished_at as number | null,
    coldStartMs: row.cold_start_ms as number | null,
  };
}

function toLiveFunction(row: Row): LiveFunction {
  return {
    repository: row.repository as string,
    name: row.name as string,
    type: row.type as LiveFunction["type"],
    deploymentId: row.deployment_id as string,
    commit: row.commit_sha as string,
    image: row.image as string,
    spec: JSON.parse(row.spec as string) as Record<string, unknown>,
  };
}

function toCronRun(row: Row): CronRun {
  return {
    id: row.id as string,
    repository: row.repository as string,
    function: row.function as string,
    deploymentId: row.deployment_id as string,
    commit: row.commit_sha as string,
    trigger: row.trigger as CronRun["trigger"],
    state: row.state as CronRunState,
    error: row.error as string | null,
    exitCode: row.exit_code as number | null,
    output: row.output as string,
    outputTruncated: row.output_truncated === 1,
    startedAt: row.started_at as number,
    finishedAt: row.finished_at as number | null,
    durationMs: row.duration_ms as number | null,
  };
}

const clip = (text: string | null | undefined, max: number) => (text == null ? null : text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** The SQLite-backed state of eserveless: repositories, deliveries, deployments, live functions and cron runs. */
export type Store = ReturnType<typeof createStore>;

/**
 * Opens (and migrates) the SQLite database at `path` (":memory:" for a
 * throwaway one). `now` is the clock, in milliseconds.
 */
export function createStore(path: string, options: { now?: () => number } = {}) {
  const now = options.now ?? Date.now;
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  const version = db.pragma("user_version", { simple: true }) as number;
  db.transaction(() => {
    for (const [index, sql] of MIGRATIONS.entries()) {
      if (index >= version) db.exec(sql);
    }
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  })();

  let deliveriesSincePrune = 0;
  const selectLive = db.prepare(`SELECT * FROM functions WHERE repository = ? AND name = ?`);
  // Only this process writes the functions table, so the cache is dropped on each switch.
  const liveCache = new Map<string, LiveFunction | undefined>();
  const insertLog = db.prepare(
    `INSERT INTO deployment_logs (deployment_id, seq, at, line)
     SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ? FROM deployment_logs WHERE deployment_id = ?
     RETURNING seq`,
  );
  const trimLog = db.prepare(`DELETE FROM deployment_logs WHERE deployment_id = ? AND seq <= ?`);

  return {
    /** Records a webhook delivery id; false when it was seen before (a redelivery). */
    recordDelivery(id: string, event: string): boolean {
      // GitHub only redelivers recent deliveries: ids a month old are forgotten, now and then.
      if (++deliveriesSincePrune >= 100) {
        deliveriesSincePrune = 0;
        db.prepare(`DELETE FROM deliveries WHERE received_at < ?`).run(now() - DELIVERY_MEMORY_MS);
      }
      return db.prepare(`INSERT OR IGNORE INTO deliveries (id, event, received_at) VALUES (?, ?, ?)`).run(id, event, now())
        .changes === 1;
    },

    /** Forgets a delivery that could not be handled, so GitHub's redelivery is handled again. */
    forgetDelivery(id: string): void {
      db.prepare(`DELETE FROM deliveries WHERE id = ?`).run(id);
    },

    /** Remembers which installation can read a repository. */
    upsertRepository(input: { fullName: string; installationId: number | null; defaultBranch?: string | null }): void {
      db.prepare(
        `INSERT INTO repositories (full_name, installation_id, default_branch, updated_at) VALUES (@fullName, @installationId, @defaultBranch, @at)
         ON CONFLICT (full_name) DO UPDATE SET
           installation_id = excluded.installation_id,
           default_branch = COALESCE(excluded.default_branch, repositories.default_branch),
           updated_at = excluded.updated_at`,
      ).run({ fullName: input.fullName, installationId: input.installationId, defaultBranch: input.defaultBranch ?? null, at: now() });
    },

    /** Forgets the installation of repositories whose App access was removed. */
    forgetInstallation(installationId: number, fullNames?: string[]): void {
      if (fullNames) {
        const stmt = db.prepare(`UPDATE repositories SET installation_id = NULL WHERE installation_id = ? AND full_name = ?`);
        for (const name of fullNames) stmt.run(installationId, name);
      } else {
        db.prepare(`UPDATE repositories SET installation_id = NULL WHERE installation_id = ?`).run(installationId);
      }
    },

    getRepository(fullName: string): { fullName: string; installationId: number | null; defaultBranch: string | null } | undefined {
      const row = db.prepare(`SELECT * FROM repositories WHERE full_name = ?`).get(fullName) as Row | undefined;
      return row
        ? { fullName: row.full_name as string, installationId: row.installation_id as number | null, defaultBranch: row.default_branch as string | null }
        : undefined;
    },

    createDeployment(input: { repository: string; commit: string; ref: string | null; trigger: Deployment["trigger"] }): Deployment {
      const id = randomBytes(6).toString("hex");
      db.prepare(
        `INSERT INTO deployments (id, repository, commit_sha, ref, trigger, state, created_at) VALUES (?, ?, ?, ?, ?, 'queued', ?)`,
      ).run(id, input.repository, input.commit, input.ref, input.trigger, now());
      return this.getDeployment(id)!;
    },

    getDeployment(id: string): Deployment | undefined {
      const row = db.prepare(`SELECT * FROM deployments WHERE id = ?`).get(id) as Row | undefined;
      return row ? toDeployment(row) : undefined;
    },

    listDeployments(repository?: string, limit = 50): Deployment[] {
      const rows = repository
        ? db.prepare(`SELECT * FROM deployments WHERE repository = ? ORDER BY created_at DESC, rowid DESC LIMIT ?`).all(repository, limit)
        : db.prepare(`SELECT * FROM deployments ORDER BY created_at DESC, rowid DESC LIMIT ?`).all(limit);
      return (rows as Row[]).map(toDeployment);
    },

    updateDeployment(
      id: string,
      patch: Partial<Pick<Deployment, "state" | "description" | "image" | "warnings" | "functions" | "coldStartMs">>,
    ): void {
      const sets: string[] = [];
      const values: Record<string, unknown> = { id };
      const columns = { state: "state", description: "description", image: "image", warnings: "warnings", functions: "functions", coldStartMs: "cold_start_ms" } as const;
      for (const [key, column] of Object.entries(columns)) {
        const value = patch[key as keyof typeof patch];
        if (value === undefined) continue;
        sets.push(`${column} = @${key}`);
        values[key] = typeof value === "object" && value !== null ? JSON.stringify(value) : value;
      }
      if (patch.state === "building") sets.push(`started_at = COALESCE(started_at, @at)`);
      if (patch.state && finalStates.has(patch.state)) sets.push(`finished_at = @at`);
      values.at = now();
      if (sets.length > 0) db.prepare(`UPDATE deployments SET ${sets.join(", ")} WHERE id = @id`).run(values);
    },

    /**
     * Ends the deployments a previous process left unfinished (it stopped or
     * crashed mid-way) as `error`, and returns them so their commits can be told.
     */
    failInterruptedDeployments(description: string): Deployment[] {
      const rows = db
        .prepare(
          `UPDATE deployments SET state = 'error', description = ?, finished_at = ?
           WHERE state IN ('queued', 'building', 'starting') RETURNING *`,
        )
        .all(description, now()) as Row[];
      return rows.map(toDeployment);
    },

    /** Appends one line to a deployment's log, dropping the oldest past the cap. */
    appendLog(id: string, line: string): number {
      const { seq } = insertLog.get(id, now(), line, id) as { seq: number };
      if (seq > MAX_LOG_LINES) trimLog.run(id, seq - MAX_LOG_LINES);
      return seq;
    },

    /** A deployment's log lines after `afterSeq` (for following it live). */
    deploymentLog(id: string, afterSeq = 0): LogLine[] {
      return db
        .prepare(`SELECT seq, at, line FROM deployment_logs WHERE deployment_id = ? AND seq > ? ORDER BY seq`)
        .all(id, afterSeq) as LogLine[];
    },

    /** Switches a repository's live functions to those of one deployment, atomically. */
    setLiveFunctions(
      repository: string,
      deployment: { id: string; commit: string; image: string },
      functions: Array<{ name: string; type: "http" | "cron"; spec: Record<string, unknown> }>,
    ): void {
      liveCache.clear();
      db.transaction(() => {
        db.prepare(`DELETE FROM functions WHERE repository = ?`).run(repository);
        const insert = db.prepare(
          `INSERT INTO functions (repository, name, type, deployment_id, commit_sha, image, spec) VALUES (?, ?, ?, ?, ?, ?, ?)`,
        );
        for (const fn of functions) {
          insert.run(repository, fn.name, fn.type, deployment.id, deployment.commit, deployment.image, JSON.stringify(fn.spec));
        }
      })();
    },

    /** One live function; answered from memory after the first look-up (every invocation asks). */
    liveFunction(repository: string, name: string): LiveFunction | undefined {
      const key = `${repository}/${name}`.toLowerCase();
      if (liveCache.has(key)) return liveCache.get(key);
      const row = selectLive.get(repository, name) as Row | undefined;
      const fn = row ? toLiveFunction(row) : undefined;
      liveCache.set(key, fn);
      return fn;
    },

    liveFunctions(repository?: string): LiveFunction[] {
      const rows = repository
        ? db.prepare(`SELECT * FROM functions WHERE repository = ? ORDER BY name`).all(repository)
        : db.prepare(`SELECT * FROM functions ORDER BY repository, name`).all();
      return (rows as Row[]).map(toLiveFunction);
    },

    /**
     * Records a cron run: `running` (its container is about to start) or
     * `skipped` (final at once). Keeps the latest {@link MAX_RUNS_PER_FUNCTION}
     * runs of the function, never deleting one that still runs.
     */
    createRun(input: {
      repository: string;
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
      db.transaction(() => {
        db.prepare(
          `INSERT INTO cron_runs (id, repository, function, deployment_id, commit_sha, trigger, state, error, started_at, finished_at, duration_ms)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(id, input.repository, input.function, input.deploymentId, input.commit, input.trigger, input.state,
          clip(input.error, MAX_RUN_ERROR_CHARS), at, final ? at : null, final ? 0 : null);
        db.prepare(
          `DELETE FROM cron_runs WHERE repository = @repository AND function = @function AND state != 'running' AND rowid NOT IN (
             SELECT rowid FROM cron_runs WHERE repository = @repository AND function = @function ORDER BY started_at DESC, rowid DESC LIMIT @keep
           )`,
        ).run({ repository: input.repository, function: input.function, keep: MAX_RUNS_PER_FUNCTION });
      })();
      return this.getRun(id)!;
    },

    /** Ends a running cron run; output beyond {@link MAX_RUN_OUTPUT_CHARS} keeps its end. */
    finishRun(
      id: string,
      result: { state: Exclude<CronRunState, "running" | "skipped">; exitCode: number | null; durationMs: number | null; output: string; outputTruncated?: boolean; error?: string | null; at?: number },
    ): void {
      const tooLong = result.output.length > MAX_RUN_OUTPUT_CHARS;
      db.prepare(
        `UPDATE cron_runs SET state = ?, exit_code = ?, duration_ms = ?, output = ?, output_truncated = ?, error = ?, finished_at = ? WHERE id = ? AND state = 'running'`,
      ).run(
        result.state,
        result.exitCode,
        result.durationMs === null ? null : Math.round(result.durationMs),
        tooLong ? result.output.slice(-MAX_RUN_OUTPUT_CHARS) : result.output,
        tooLong || result.outputTruncated ? 1 : 0,
        clip(result.error, MAX_RUN_ERROR_CHARS),
        result.at ?? now(),
        id,
      );
    },

    getRun(id: string): CronRun | undefined {
      const row = db.prepare(`SELECT * FROM cron_runs WHERE id = ?`).get(id) as Row | undefined;
      return row ? toCronRun(row) : undefined;
    },

    /** A cron function's runs, newest first. */
    listRuns(repository: string, name: string, limit = 50): CronRun[] {
      return (
        db
          .prepare(`SELECT * FROM cron_runs WHERE repository = ? AND function = ? ORDER BY started_at DESC, rowid DESC LIMIT ?`)
          .all(repository, name, limit) as Row[]
      ).map(toCronRun);
    },

    /** The run of a cron function that is still running, if any. */
    runningRun(repository: string, name: string): CronRun | undefined {
      const row = db
        .prepare(`SELECT * FROM cron_runs WHERE repository = ? AND function = ? AND state = 'running' ORDER BY started_at DESC LIMIT 1`)
        .get(repository, name) as Row | undefined;
      return row ? toCronRun(row) : undefined;
    },

    /** Fails every run still marked running (a previous process stopped mid-run); returns how many. */
    failInterruptedRuns(error: string, at = now()): number {
      return db
        .prepare(`UPDATE cron_runs SET state = 'failed', error = ?, finished_at = ?, duration_ms = ? - started_at WHERE state = 'running'`)
        .run(clip(error, MAX_RUN_ERROR_CHARS), at, at).changes;
    },

    close(): void {
      db.close();
    },
  };
}
