import * as v from "valibot";

const GitHubStateSchema = v.picklist(["configured", "not configured"]);

/** `GET /api/status`: what the server is and how it is doing. */
export const ServerStatusSchema = v.object({
  publicUrl: v.string(),
  /** Where function URLs live, when not under publicUrl (ESERVELESS_FUNCTIONS_URL). */
  functionsUrl: v.optional(v.string()),
  github: GitHubStateSchema,
  /** Containers of http functions by state, and requests waiting for one. */
  containers: v.object({ ready: v.number(), paused: v.number(), draining: v.number(), starting: v.number(), queued: v.number() }),
  /** Projects with a live deployment. */
  projects: v.number(),
});
export type ServerStatus = v.InferOutput<typeof ServerStatusSchema>;

/** `GET /healthz`: 200 when Docker answers, 503 (same body) when it does not. */
export const HealthSchema = v.object({
  status: v.picklist(["ok", "degraded"]),
  /** `ok`, or `unreachable: <why>`. */
  docker: v.string(),
  github: GitHubStateSchema,
});
export type Health = v.InferOutput<typeof HealthSchema>;
