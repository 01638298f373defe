import Database from "better-sqlite3";
import { chmodSync, closeSync, openSync } from "node:fs";
import * as v from "valibot";

/** The database and its -wal and -shm files: readable by eserveless's user only. */
export const DATABASE_FILE_MODE = 0o600;

/** The schema, one step per change; a database runs the steps it has not run yet (its user_version counts those it ran). */
export const MIGRATIONS: readonly string[] = [
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
  // A commit goes live once per environment from pushes: replayed deliveries cannot roll it back.
  `ALTER TABLE deployments ADD COLUMN environment TEXT NOT NULL DEFAULT 'production';
   CREATE INDEX deployments_by_commit ON deployments (repository, environment, commit_sha);`,
  // Build and function output may hold secrets: only signed-in viewers see it. Earlier lines cannot be told apart, so they are private.
  `ALTER TABLE deployment_logs ADD COLUMN private INTEGER NOT NULL DEFAULT 1;`,
  // Dashboard sign-outs outlive a restart, until the session would have expired anyway.
  `CREATE TABLE revoked_sessions (
     session_hash TEXT PRIMARY KEY,
     expires_at INTEGER NOT NULL
   );
   CREATE INDEX revoked_sessions_by_expiry ON revoked_sessions (expires_at);`,
  // What http functions print, a bounded ring per function (function-output-store.ts).
  `CREATE TABLE function_output (
     seq INTEGER PRIMARY KEY,
     repository TEXT NOT NULL COLLATE NOCASE,
     function TEXT NOT NULL COLLATE NOCASE,
     replica TEXT NOT NULL,
     stream TEXT NOT NULL,
     at INTEGER NOT NULL,
     line TEXT NOT NULL
   );
   CREATE INDEX function_output_by_function ON function_output (repository, function, seq);`,
  // Secrets, each value sealed with AES-256-GCM (secrets-store.ts): a copy of the file without the key reveals none.
  `CREATE TABLE secrets (
     repository TEXT NOT NULL COLLATE NOCASE,
     environment TEXT NOT NULL,
     name TEXT NOT NULL,
     sealed TEXT NOT NULL,
     updated_at INTEGER NOT NULL,
     PRIMARY KEY (repository, environment, name)
   );`,
  // What a live deployment's functions ran with, so a rollback restarts its kept image without its source.
  `ALTER TABLE deployments ADD COLUMN specs TEXT;`,
  // Environments: a repository's live functions per environment (production, or pr-<number> per pull request), and its previews.
  `CREATE TABLE functions_by_environment (
     repository TEXT NOT NULL COLLATE NOCASE,
     environment TEXT NOT NULL DEFAULT 'production' COLLATE NOCASE,
     name TEXT NOT NULL COLLATE NOCASE,
     type TEXT NOT NULL,
     deployment_id TEXT NOT NULL,
     commit_sha TEXT NOT NULL,
     image TEXT NOT NULL,
     spec TEXT NOT NULL,
     PRIMARY KEY (repository, environment, name)
   );
   INSERT INTO functions_by_environment (repository, environment, name, type, deployment_id, commit_sha, image, spec)
     SELECT repository, 'production', name, type, deployment_id, commit_sha, image, spec FROM functions;
   DROP TABLE functions;
   ALTER TABLE functions_by_environment RENAME TO functions;
   CREATE TABLE previews (
     repository TEXT NOT NULL COLLATE NOCASE,
     number INTEGER NOT NULL,
     head_sha TEXT NOT NULL,
     head_repository TEXT,
     fork INTEGER NOT NULL,
     state TEXT NOT NULL,
     approved_sha TEXT,
     comment_id INTEGER,
     installation_id INTEGER NOT NULL,
     opened_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     closed_at INTEGER,
     PRIMARY KEY (repository, number)
   );`,
  // A preview's cron functions run by hand: their runs are kept apart from production's.
  `ALTER TABLE cron_runs ADD COLUMN environment TEXT NOT NULL DEFAULT 'production' COLLATE NOCASE;
   CREATE INDEX cron_runs_by_environment ON cron_runs (repository, environment, function, started_at);`,
];

/**
 * Opens the SQLite database at `path` (":memory:" for a throwaway one) and
 * brings its schema up to date, keeping its data. The store's slices share it.
 */
export function openDatabase(path: string): Database.Database {
  if (path !== ":memory:") restrictFiles(path);
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  const version = v.parse(v.number(), db.pragma("user_version", { simple: true }));
  db.transaction(() => {
    for (const [index, sql] of MIGRATIONS.entries()) {
      if (index >= version) db.exec(sql);
    }
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  })();
  return db;
}

/**
 * Creates the database file 0600 before SQLite opens it, and tightens the
 * files an earlier version left 0644. SQLite gives the -wal and -shm files it
 * creates the database file's mode, so they follow.
 */
function restrictFiles(path: string): void {
  closeSync(openSync(path, "a", DATABASE_FILE_MODE));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      chmodSync(file, DATABASE_FILE_MODE);
    } catch (error) {
      // No -wal or -shm file until SQLite makes one, with the database's mode.
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
}
