import type Database from "better-sqlite3";
import * as v from "valibot";
import { parseRow } from "./parse-row.js";

/** Lines of output kept per function: the newest; older ones go as new ones come. */
export const MAX_OUTPUT_LINES_PER_FUNCTION = 2000;
/** The most of one line that is kept (in characters): a line without newlines must not fill the disk. */
export const MAX_OUTPUT_LINE_CHARS = 4000;
/** The most lines one read returns. */
export const MAX_OUTPUT_LINES_PER_READ = 1000;

const OutputRow = v.pipe(
  v.object({
    seq: v.number(),
    replica: v.string(),
    stream: v.picklist(["stdout", "stderr"]),
    at: v.number(),
    line: v.string(),
  }),
  v.transform((row) => ({ seq: row.seq, replica: row.replica, stream: row.stream, at: row.at, line: row.line })),
);

/** One line a function's replica printed. */
export type OutputLine = v.InferOutput<typeof OutputRow>;

/** A line to record: which replica printed it, on which stream, when (ms). */
export interface NewOutputLine {
  repository: string;
  function: string;
  replica: string;
  stream: "stdout" | "stderr";
  at: number;
  line: string;
}

/** What http functions printed, kept after their containers are gone. */
export type FunctionOutputStore = ReturnType<typeof createFunctionOutputStore>;

/** The function_output table of `db`. */
export function createFunctionOutputStore(db: Database.Database, options: { mask?: (text: string) => string } = {}) {
  // A function that prints its secret keeps *** in its output instead.
  const mask = options.mask ?? ((text: string) => text);
  const insert = db.prepare(`INSERT INTO function_output (repository, function, replica, stream, at, line) VALUES (?, ?, ?, ?, ?, ?)`);
  const trim = db.prepare(
    `DELETE FROM function_output WHERE repository = @repository AND function = @function AND seq <= (
       SELECT seq FROM function_output WHERE repository = @repository AND function = @function ORDER BY seq DESC LIMIT 1 OFFSET @keep
     )`,
  );
  const appendAll = db.transaction((lines: NewOutputLine[]) => {
    const functions = new Map<string, { repository: string; function: string }>();
    for (const l of lines) {
      // Masked before it is cut: a value cut in two would not be found.
      const full = mask(l.line);
      const line = full.length > MAX_OUTPUT_LINE_CHARS ? `${full.slice(0, MAX_OUTPUT_LINE_CHARS - 1)}…` : full;
      insert.run(l.repository, l.function, l.replica, l.stream, Math.round(l.at), line);
      functions.set(`${l.repository}/${l.function}`.toLowerCase(), { repository: l.repository, function: l.function });
    }
    for (const fn of functions.values()) trim.run({ ...fn, keep: MAX_OUTPUT_LINES_PER_FUNCTION });
  });

  return {
    /** Records lines of output in one transaction, keeping the newest {@link MAX_OUTPUT_LINES_PER_FUNCTION} of each function. */
    appendOutput(lines: NewOutputLine[]): void {
      if (lines.length > 0) appendAll(lines);
    },

    /** A function's output after `after` (a seq), oldest first, at most `limit` lines (the newest ones when `after` is 0). */
    functionOutput(repository: string, fn: string, options: { after?: number; limit?: number } = {}): OutputLine[] {
      const limit = Math.min(options.limit ?? MAX_OUTPUT_LINES_PER_READ, MAX_OUTPUT_LINES_PER_READ);
      const rows = options.after
        ? db
            .prepare(`SELECT seq, replica, stream, at, line FROM function_output WHERE repository = ? AND function = ? AND seq > ? ORDER BY seq LIMIT ?`)
            .all(repository, fn, options.after, limit)
        : db
            .prepare(`SELECT seq, replica, stream, at, line FROM function_output WHERE repository = ? AND function = ? ORDER BY seq DESC LIMIT ?`)
            .all(repository, fn, limit)
            .reverse();
      return rows.map((row) => parseRow(OutputRow, row, "a line of function output"));
    },

    /** Forgets a project's output (when it is removed). */
    forgetOutput(repository: string): void {
      db.prepare(`DELETE FROM function_output WHERE repository = ?`).run(repository);
    },
  };
}
