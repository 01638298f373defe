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

/** One environment of a project: production, or an open pull request's preview (`pr-<number>`). */
export const EnvironmentSchema = v.object({
  name: v.string(),
  /** The pull request of a preview; absent for production. */
  pullRequest: v.optional(v.number()),
  /** The commit live there, null while its first deployment runs or after it failed. */
  commit: v.nullable(v.string()),
  /** Its latest deployment and that deployment's state (a newer one may be building while an older one serves). */
  deployment: v.nullable(v.string()),
  state: v.nullable(v.string()),
  functions: v.array(FunctionSummarySchema),
});
export type Environment = v.InferOutput<typeof EnvironmentSchema>;

/** A project with a live deployment: its commit, that deployment, and its functions (production's), and every environment. */
export const ProjectSchema = v.object({
  repository: v.string(),
  commit: v.string(),
  deployment: v.string(),
  functions: v.array(ProjectFunctionSchema),
  /** Production and each open pull request's preview; absent from servers without previews. */
  environments: v.optional(v.array(EnvironmentSchema)),
});
export type Project = v.InferOutput<typeof ProjectSchema>;

/** `GET /api/projects`: every project with a live deployment. */
export const ProjectListSchema = v.object({ projects: v.array(ProjectSchema) });
