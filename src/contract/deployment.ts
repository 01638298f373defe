import * as v from "valibot";

/** The states a deployment moves through; the last five are final. */
export const deploymentStates = ["queued", "building", "starting", "success", "failure", "error", "superseded", "skipped"] as const;
export type DeploymentState = (typeof deploymentStates)[number];

/** The states a deployment ends in: once there, it changes no more. */
export const finalStates: ReadonlySet<DeploymentState> = new Set(["success", "failure", "error", "superseded", "skipped"]);

/** What started a deployment: a push, a redeploy of a commit, a local folder from the CLI, or a rollback to an earlier deployment. */
export const deploymentTriggers = ["push", "redeploy", "local", "rollback"] as const;

/** A function as a deployment and a project list it: an http function with its URL, a cron function with its schedule. */
export const FunctionSummarySchema = v.object({
  name: v.string(),
  type: v.picklist(["http", "cron"]),
  url: v.optional(v.string()),
  schedule: v.optional(v.string()),
  /** cron: the zone its schedule is read in. */
  timezone: v.optional(v.string()),
});
export type FunctionSummary = v.InferOutput<typeof FunctionSummarySchema>;

/** One deployment, as `GET /deployments/:id` and `GET /api/deployments` answer it. */
export const DeploymentSchema = v.object({
  id: v.string(),
  repository: v.string(),
  commit: v.string(),
  ref: v.nullable(v.string()),
  trigger: v.picklist(deploymentTriggers),
  state: v.picklist(deploymentStates),
  description: v.nullable(v.string()),
  image: v.nullable(v.string()),
  warnings: v.array(v.string()),
  /** Filled in once it is live. */
  functions: v.array(FunctionSummarySchema),
  createdAt: v.number(),
  startedAt: v.nullable(v.number()),
  finishedAt: v.nullable(v.number()),
  coldStartMs: v.nullable(v.number()),
});
export type Deployment = v.InferOutput<typeof DeploymentSchema>;

/** One line of a deployment's log; `seq` counts from 1, so `?after=seq` asks for the lines after it. */
export const LogLineSchema = v.object({ seq: v.number(), at: v.number(), line: v.string() });
export type LogLine = v.InferOutput<typeof LogLineSchema>;

/**
 * `GET /deployments/:id` with `Accept: application/json` (`?after=N`: only the
 * log lines after N). Without the admin token or a dashboard session, the lines
 * of build and function output are left out, and `hiddenLines` counts them.
 */
export const DeploymentWithLogSchema = v.object({ deployment: DeploymentSchema, log: v.array(LogLineSchema), hiddenLines: v.optional(v.number()) });
export type DeploymentWithLog = v.InferOutput<typeof DeploymentWithLogSchema>;

/** `GET /api/deployments`: recent deployments, newest first. */
export const DeploymentListSchema = v.object({ deployments: v.array(DeploymentSchema) });

/** The body of `POST /api/projects/:owner/:repo/rollback`: a deployment id or a commit (7+ hex characters); absent, the previous live release. */
export const RollbackBodySchema = v.object({
  to: v.optional(v.pipe(v.string("to must be a string"), v.trim(), v.regex(/^[0-9a-f]{7,40}$/i, "to must be a deployment id or a commit SHA (7 to 40 hex characters)"))),
});

/** What `POST /redeploy`, `POST /api/deployments` and `POST /api/projects/:owner/:repo/rollback` answer (202): the deployment they queued. */
export const DeploymentStartedSchema = v.object({
  deployment: v.object({
    id: v.string(),
    /** The deployment's page, under the server's PUBLIC_URL. */
    url: v.string(),
    commit: v.string(),
  }),
});
export type DeploymentRef = v.InferOutput<typeof DeploymentStartedSchema>["deployment"];
