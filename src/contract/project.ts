import * as v from "valibot";
import { FunctionSummarySchema } from "./deployment.js";

/** A project with a live deployment: its commit, that deployment, and its functions. */
export const ProjectSchema = v.object({
  repository: v.string(),
  commit: v.string(),
  deployment: v.string(),
  functions: v.array(FunctionSummarySchema),
});
export type Project = v.InferOutput<typeof ProjectSchema>;

/** `GET /api/projects`: every project with a live deployment. */
export const ProjectListSchema = v.object({ projects: v.array(ProjectSchema) });
