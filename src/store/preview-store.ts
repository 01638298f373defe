import type Database from "better-sqlite3";
import * as v from "valibot";
import { parseRow } from "./parse-row.js";

const PreviewRow = v.pipe(
  v.object({
    repository: v.string(),
    number: v.number(),
    head_sha: v.string(),
    head_repository: v.nullable(v.string()),
    fork: v.picklist([0, 1]),
    state: v.picklist(["open", "closed"]),
    approved_sha: v.nullable(v.string()),
    comment_id: v.nullable(v.number()),
    installation_id: v.number(),
    opened_at: v.number(),
    updated_at: v.number(),
    closed_at: v.nullable(v.number()),
  }),
  v.transform((row) => ({
    repository: row.repository,
    number: row.number,
    headSha: row.head_sha,
    headRepository: row.head_repository,
    fork: row.fork === 1,
    state: row.state,
    approvedSha: row.approved_sha,
    commentId: row.comment_id,
    installationId: row.installation_id,
    openedAt: row.opened_at,
    updatedAt: row.updated_at,
    closedAt: row.closed_at,
  })),
);

/** A pull request eserveless has heard of: its head, whether it comes from a fork, its comment, open or closed. */
export type Preview = v.InferOutput<typeof PreviewRow>;

const toPreview = (row: unknown) => parseRow(PreviewRow, row, "a preview");

/** The previews table: one row per pull request, kept after it closes (its URLs answer 410). */
export type PreviewStore = ReturnType<typeof createPreviewStore>;

/** The previews table of `db`; `now` is the clock, in milliseconds. */
export function createPreviewStore(db: Database.Database, options: { now: () => number }) {
  const { now } = options;
  function getPreview(repository: string, number: number): Preview | undefined {
    const row = db.prepare(`SELECT * FROM previews WHERE repository = ? AND number = ?`).get(repository, number);
    return row === undefined ? undefined : toPreview(row);
  }
  return {
    getPreview,

    /**
     * Records a pull request's new head (opened, reopened, pushed to): it is
     * open again. An approval of a fork's earlier head does not carry over.
     */
    upsertPreview(input: { repository: string; number: number; headSha: string; headRepository: string | null; fork: boolean; installationId: number }): Preview {
      db.prepare(
        `INSERT INTO previews (repository, number, head_sha, head_repository, fork, state, installation_id, opened_at, updated_at)
         VALUES (@repository, @number, @headSha, @headRepository, @fork, 'open', @installationId, @at, @at)
         ON CONFLICT (repository, number) DO UPDATE SET
           head_sha = excluded.head_sha, head_repository = excluded.head_repository, fork = excluded.fork,
           installation_id = excluded.installation_id, updated_at = excluded.updated_at,
           opened_at = CASE WHEN previews.state = 'closed' THEN excluded.opened_at ELSE previews.opened_at END,
           state = 'open', closed_at = NULL`,
      ).run({ ...input, fork: input.fork ? 1 : 0, at: now() });
      return getPreview(input.repository, input.number)!;
    },

    /** Marks a pull request closed; false when it was not open. */
    closePreview(repository: string, number: number): boolean {
      const at = now();
      return db.prepare(`UPDATE previews SET state = 'closed', closed_at = ?, updated_at = ? WHERE repository = ? AND number = ? AND state = 'open'`).run(at, at, repository, number).changes > 0;
    },

    /** Remembers the pull request's comment, which every later preview edits. */
    setPreviewComment(repository: string, number: number, commentId: number): void {
      db.prepare(`UPDATE previews SET comment_id = ? WHERE repository = ? AND number = ?`).run(commentId, repository, number);
    },

    /** A maintainer allowed a fork's commit to run as a preview. */
    approvePreview(repository: string, number: number, sha: string): void {
      db.prepare(`UPDATE previews SET approved_sha = ?, updated_at = ? WHERE repository = ? AND number = ?`).run(sha, now(), repository, number);
    },

    /** The open pull requests of one repository (whatever its case) or of all, oldest first. */
    openPreviews(repository?: string): Preview[] {
      const rows = repository
        ? db.prepare(`SELECT * FROM previews WHERE repository = ? AND state = 'open' ORDER BY opened_at, number`).all(repository)
        : db.prepare(`SELECT * FROM previews WHERE state = 'open' ORDER BY repository, opened_at, number`).all();
      return rows.map(toPreview);
    },
  };
}
