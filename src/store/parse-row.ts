import * as v from "valibot";
import { EserveslessError } from "../errors.js";

/**
 * A row read back from the database, parsed with `schema` rather than cast. A
 * row that does not fit was not written by this version of eserveless (the
 * file was edited, or a newer version wrote it): a 500 that names the row and
 * says what to do, rather than a half-read value further on.
 */
export function parseRow<S extends v.GenericSchema>(schema: S, row: unknown, what: string, fix = "restore the database from a backup"): v.InferOutput<S> {
  const result = v.safeParse(schema, row);
  if (result.success) return result.output;
  const problems = result.issues.map((issue) => `${v.getDotPath(issue) ?? "the row"}: ${issue.message}`).join("; ");
  throw new EserveslessError(`The database holds ${what} that eserveless cannot read (${problems}); ${fix}.`, {
    code: "store_unreadable",
  });
}

/** A TEXT column holding JSON, parsed with `schema`. */
export const jsonColumn = <S extends v.GenericSchema>(schema: S) => v.pipe(v.string(), v.parseJson(), schema);
