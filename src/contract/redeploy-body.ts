import * as v from "valibot";
import { REPOSITORY_NAME } from "./repository-name.js";

/** The body of `POST /redeploy`: a repository (`owner/repo` or its GitHub URL) and an optional ref (default: its default branch). */
export const RedeployBodySchema = v.object({
  repository: v.pipe(
    v.string("repository must be a string"),
    v.trim(),
    v.transform((text) => text.replace(/^https:\/\/github\.com\//i, "").replace(/\.git$/, "").replace(/\/+$/, "")),
    v.regex(REPOSITORY_NAME, 'repository must be "owner/repo" or "https://github.com/owner/repo"'),
  ),
  ref: v.optional(v.pipe(v.string("ref must be a string"), v.trim(), v.nonEmpty("ref must not be empty"))),
});
export type RedeployBody = v.InferInput<typeof RedeployBodySchema>;
