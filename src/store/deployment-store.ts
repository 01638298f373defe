import type Database from "better-sqlite3";
import { randomBytes } from "node:crypto";
import * as v from "valibot";
import { deploymentStates, deploymentTriggers, finalStates, FunctionSummarySchema } from "../contract/deployment.js";
import { StoredSpecSchema, type StoredSpec } from "../manifest/manifest-schema.js";
import { jsonColumn, parseRow } from "./parse-row.js";

// The states are part of the wire contract, which the CLI shares.
export { deploymentStates, deploymentTriggers, finalStates, type DeploymentState } from "../contract/deployment.js";

/**
 * The environment a push to the default branch deploys to. Each deployment
 * belongs to one; previews will get their own. A commit deploys once per
 * environment from pushes (see {@link DeploymentStore.deploymentOfCommit}).
 */
export const PRODUCTION = "production";

/** A bounded log: a build that prints without end must not fill the disk. */
const MAX_LOG_LINES = 5000;

const DeploymentRow = v.pipe(
  v.object({
    id: v.string(),
    repository: v.string(),
    commit_sha: v.string(),
    ref: v.nullable(v.string()),
    environment: v.string(),
    trigger: v.picklist(deploymentTriggers),
    state: v.picklist(deploymentStates),
    description: v.nullable(v.string()),
    image: v.nullable(v.string()),
    warnings: jsonColumn(v.array(v.string())),
    functions: jsonColumn(v.array(FunctionSummarySchema)),
    created_at: v.number(),
    started_at: v.nullable(v.number()),
    finished_at: v.nullable(v.number()),
    cold_start_ms: v.nullable(v.number()),
  }),
  v.transform((row) => ({
    id: row.id,
    repository: row.repository,
    commit: row.commit_sha,
    ref: row.ref,
    environment: row.environment,
    trigger: row.trigger,
    state: row.state,
    description: row.description,
    image: row.image,
    warnings: row.warnings,
    functions: row.functions,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    coldStartMs: row.cold_start_ms,
  })),
);

/** One deployment of one commit, from queued to its final state. */
export type Deployment = v.InferOutput<typeof DeploymentRow>;

const LogLineRow = v.pipe(
  v.object({ seq: v.number(), at: v.number(), line: v.string(), private: v.picklist([0, 1]) }),
  v.transform((row) => ({ seq: row.seq, at: row.at, line: row.line, private: row.private === 1 })),
);

/**
 * One line of a deployment's log, numbered from 1. `private` lines quote what
 * the project's code printed (its build, its containers): they may hold
 * secrets, so only signed-in viewers see them.
 */
export type LogLine = v.InferOutput<typeof LogLineRow>;

const SeqRow = v.object({ seq: v.number() });
const SpecsRow = v.object({ specs: v.nullable(v.pipe(v.string(), v.parseJson(), v.array(StoredSpecSchema))) });

const toDeployment = (row: unknown) => parseRow(DeploymentRow, row, "a deployment");

/** The deployments and their logs. */
export type DeploymentStore = ReturnType<typeof createDeploymentStore>;

/** The deployments and deployment_logs tables of `db`; `now` is the clock, in milliseconds. */
export function createDeploymentStore(db: Database.Database, options: { now: () => number; mask?: (text: string) => string }) {
  const { now } = options;
  // Known secret values never reach the log or a description, whoever quotes them.
  const mask = options.mask ?? ((text: string) => text);
  const insertLog = db.prepare(
    `INSERT INTO deployment_logs (deployment_id, seq, at, line, private)
     SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ? FROM deployment_logs WHERE deployment_id = ?
     RETURNING seq`,
  );
  const trimLog = db.prepare(`DELETE FROM deployment_logs WHERE deployment_id = ? AND seq <= ?`);

  function getDeployment(id: string): Deployment | undefined {
    const row = db.prepare(`SELECT * FROM deployments WHERE id = ?`).get(id);
    return row === undefined ? undefined : toDeployment(row);
  }

  return {
    /** Records a new deployment, `queued`, to `environment` ({@link PRODUCTION} unless told). */
    createDeployment(input: { repository: string; commit: string; ref: string | null; trigger: Deployment["trigger"]; environment?: string }): Deployment {
      const id = randomBytes(6).toString("hex");
      db.prepare(
        `INSERT INTO deployments (id, repository, commit_sha, ref, environment, trigger, state, created_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?)`,
      ).run(id, input.repository, input.commit, input.ref, input.environment ?? PRODUCTION, input.trigger, now());
      return getDeployment(id)!;
    },

    getDeployment,

    /** The latest deployment of `commit` of a repository (whatever its case) to `environment`, whatever its trigger and state. */
    deploymentOfCommit(repository: string, environment: string, commit: string): Deployment | undefined {
      const row = db
        .prepare(`SELECT * FROM deployments WHERE repository = ? AND environment = ? AND commit_sha = ? ORDER BY created_at DESC, rowid DESC LIMIT 1`)
        .get(repository, environment, commit);
      return row === undefined ? undefined : toDeployment(row);
    },

    /** Deployments newest first, of one repository (whatever its case) or all. */
    listDeployments(repository?: string, limit = 50): Deployment[] {
      const rows = repository
        ? db.prepare(`SELECT * FROM deployments WHERE repository = ? ORDER BY created_at DESC, rowid DESC LIMIT ?`).all(repository, limit)
        : db.prepare(`SELECT * FROM deployments ORDER BY created_at DESC, rowid DESC LIMIT ?`).all(limit);
      return rows.map(toDeployment);
    },

    /** The deployments of a repository (whatever its case) to `environment` that went live, newest first. */
    successfulDeployments(repository: string, environment: string, limit: number): Deployment[] {
      return db
        .prepare(`SELECT * FROM deployments WHERE repository = ? AND environment = ? AND state = 'success' ORDER BY created_at DESC, rowid DESC LIMIT ?`)
        .all(repository, environment, limit)
        .map(toDeployment);
    },

    /** Keeps what a deployment's functions run with, once it is live: a rollback to it needs no source. */
    recordSpecs(id: string, specs: readonly StoredSpec[]): void {
      db.prepare(`UPDATE deployments SET specs = ? WHERE id = ?`).run(JSON.stringify(specs), id);
    },

    /** What a live deployment's functions ran with; undefined for one that never went live (or went live before they were kept). */
    deploymentSpecs(id: string): StoredSpec[] | undefined {
      const row = db.prepare(`SELECT specs FROM deployments WHERE id = ?`).get(id);
      return row === undefined ? undefined : (parseRow(SpecsRow, row, `the function specs of deployment ${id}`).specs ?? undefined);
    },

    /** Changes a deployment; `building` sets its start once, a final state its end. */
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
        values[key] = typeof value === "object" && value !== null ? JSON.stringify(value) : key === "description" && typeof value === "string" ? mask(value) : value;
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
      return db
        .prepare(
          `UPDATE deployments SET state = 'error', description = ?, finished_at = ?
           WHERE state IN ('queued', 'building', 'starting') RETURNING *`,
        )
        .all(description, now())
        .map(toDeployment);
    },

    /**
     * Appends one line to a deployment's log, dropping the oldest past the
     * cap. A line that quotes the project's build or container output is
     * `private` (see {@link LogLine}); eserveless's own account of the
     * deployment is public.
     */
    appendLog(id: string, line: string, options: { private?: boolean } = {}): number {
      const { seq } = parseRow(SeqRow, insertLog.get(id, now(), mask(line), options.private ? 1 : 0, id), "a deployment log line number");
      if (seq > MAX_LOG_LINES) trimLog.run(id, seq - MAX_LOG_LINES);
      return seq;
    },

    /** A deployment's log lines after `afterSeq` (for following it live), the private ones included. */
    deploymentLog(id: string, afterSeq = 0): LogLine[] {
      return db
        .prepare(`SELECT seq, at, line, private FROM deployment_logs WHERE deployment_id = ? AND seq > ? ORDER BY seq`)
        .all(id, afterSeq)
        .map((row) => parseRow(LogLineRow, row, `a log line of deployment ${id}`));
    },
  };
}
