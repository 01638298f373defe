import type Database from "better-sqlite3";
import * as v from "valibot";
import { parseRow } from "./parse-row.js";

const RepositoryRow = v.pipe(
  v.object({ full_name: v.string(), installation_id: v.nullable(v.number()), default_branch: v.nullable(v.string()) }),
  v.transform((row) => ({ fullName: row.full_name, installationId: row.installation_id, defaultBranch: row.default_branch })),
);

/** A repository eserveless knows: which installation of the App can read it, and its default branch. */
export type Repository = v.InferOutput<typeof RepositoryRow>;

/** The repositories the App was installed on. */
export type RepositoryStore = ReturnType<typeof createRepositoryStore>;

/** The repositories table of `db`; `now` is the clock, in milliseconds. */
export function createRepositoryStore(db: Database.Database, options: { now: () => number }) {
  const { now } = options;
  return {
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

    /** A repository by its `owner/name`, whatever its case. */
    getRepository(fullName: string): Repository | undefined {
      const row = db.prepare(`SELECT * FROM repositories WHERE full_name = ?`).get(fullName);
      return row === undefined ? undefined : parseRow(RepositoryRow, row, `repository ${fullName}`);
    },
  };
}
