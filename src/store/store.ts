import Database from "better-sqlite3";
import { randomBytes } from "node:crypto";

/** The states a deployment moves through; the last five are final. */
export const deploymentStates = ["queued", "building", "starting", "success", "failure", "error", "superseded", "skipped"] as const;
export type DeploymentState = (typeof deploymentStates)[number];
export const finalStates: ReadonlySet<DeploymentState> = new Set(["success", "failure", "error", "superseded", "skipped"]);

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
];

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

/** The SQLite-backed state of eserveless: repositories, deliveries, deployments and live functions. */
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

  const insertLog = db.prepare(
    `INSERT INTO deployment_logs (deployment_id, seq, at, line)
     SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ? FROM deployment_logs WHERE deployment_id = ?
     RETURNING seq`,
  );
  const trimLog = db.prepare(`DELETE FROM deployment_logs WHERE deployment_id = ? AND seq <= ?`);

  return {
    /** Records a webhook delivery id; false when it was seen before (a redelivery). */
    recordDelivery(id: string, event: string): boolean {
      return db.prepare(`INSERT OR IGNORE INTO deliveries (id, event, received_at) VALUES (?, ?, ?)`).run(id, event, now())
        .changes === 1;
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

    liveFunction(repository: string, name: string): LiveFunction | undefined {
      const row = db.prepare(`SELECT * FROM functions WHERE repository = ? AND name = ?`).get(repository, name) as Row | undefined;
      return row ? toLiveFunction(row) : undefined;
    },

    liveFunctions(repository?: string): LiveFunction[] {
      const rows = repository
        ? db.prepare(`SELECT * FROM functions WHERE repository = ? ORDER BY name`).all(repository)
        : db.prepare(`SELECT * FROM functions ORDER BY repository, name`).all();
      return (rows as Row[]).map(toLiveFunction);
    },

    close(): void {
      db.close();
    },
  };
}
