import * as v from "valibot";
import { FunctionSummarySchema } from "./deployment.js";

/** A function's requests in the last hour: how many, and how many answered 5xx. */
export const RequestStatsSchema = v.object({ requests: v.number(), errors: v.number() });

/** A live function of a project, with what is known of it now: a cron function's zone and next run, an http function's last hour. */
export const ProjectFunctionSchema = v.object({
  ...FunctionSummarySchema.entries,
  /** cron: ISO time of its next run, null when it is not scheduled. */
  nextRun: v.optional(v.nullable(v.string())),
  /** http: requests and 5xx answers in the last hour, since the server started. */
  lastHour: v.optional(RequestStatsSchema),
});
export type ProjectFunction = v.InferOutput<typeof ProjectFunctionSchema>;

/** A project with a live deployment: its commit, that deployment, and its functions. */
export const ProjectSchema = v.object({
  repository: v.string(),
  commit: v.string(),
  deployment: v.string(),
  functions: v.array(ProjectFunctionSchema),
});
export type Project = v.InferOutput<typeof ProjectSchema>;

/** `GET /api/projects`: every project with a live deployment. */
export const ProjectListSchema = v.object({ projects: v.array(ProjectSchema) });
