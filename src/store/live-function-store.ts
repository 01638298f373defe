import type Database from "better-sqlite3";
import * as v from "valibot";
import { jsonColumn, parseRow } from "./parse-row.js";

const LiveFunctionRow = v.pipe(
  v.object({
    repository: v.string(),
    name: v.string(),
    type: v.picklist(["http", "cron"]),
    deployment_id: v.string(),
    commit_sha: v.string(),
    image: v.string(),
    spec: jsonColumn(v.record(v.string(), v.unknown())),
  }),
  v.transform((row) => ({
    repository: row.repository,
    name: row.name,
    type: row.type,
    deploymentId: row.deployment_id,
    commit: row.commit_sha,
    image: row.image,
    /** The function's manifest entry, as validated. */
    spec: row.spec,
  })),
);

/** A function of a repository's live deployment. */
export type LiveFunction = v.InferOutput<typeof LiveFunctionRow>;

const toLiveFunction = (row: unknown) => parseRow(LiveFunctionRow, row, "a live function", "deploy its repository again to replace it");

/** The functions each repository serves: those of its live deployment. */
export type LiveFunctionStore = ReturnType<typeof createLiveFunctionStore>;

/** The functions table of `db`. */
export function createLiveFunctionStore(db: Database.Database) {
  const selectLive = db.prepare(`SELECT * FROM functions WHERE repository = ? AND name = ?`);
  // Only this process writes the functions table, so the cache is dropped on each switch.
  const liveCache = new Map<string, LiveFunction | undefined>();

  return {
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
      const row = selectLive.get(repository, name);
      const fn = row === undefined ? undefined : toLiveFunction(row);
      liveCache.set(key, fn);
      return fn;
    },

    /** The live functions of one repository (whatever its case) or of all, by repository and name. */
    liveFunctions(repository?: string): LiveFunction[] {
      const rows = repository
        ? db.prepare(`SELECT * FROM functions WHERE repository = ? ORDER BY name`).all(repository)
        : db.prepare(`SELECT * FROM functions ORDER BY repository, name`).all();
      return rows.map(toLiveFunction);
    },
  };
}
