import Database from "better-sqlite3";
import * as v from "valibot";

/** The schema, one step per release that changed it; a database runs the steps it has not run yet. */
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
];

/**
 * Opens the SQLite database at `path` (":memory:" for a throwaway one) and
 * brings its schema up to date, keeping its data. The store's slices share it.
 */
export function openDatabase(path: string): Database.Database {
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
