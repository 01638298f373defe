import * as v from "valibot";

/** `DELETE /api/projects/:owner/:repo`: what went with the project. */
export const ProjectRemovedSchema = v.object({
  removed: v.object({
    repository: v.string(),
    /** The live functions taken down: their URLs now answer 404. */
    functions: v.array(v.string()),
    /** Containers removed (after their requests in flight finished). */
    containers: v.number(),
    /** Cron schedules stopped (a run in progress finishes). */
    schedules: v.number(),
    /** Image tags removed; an image still in use by a finishing run stays for the next prune. */
    images: v.array(v.string()),
    /** Whether the project's network was removed (false when it had none). */
    network: v.boolean(),
  }),
});
export type ProjectRemoved = v.InferOutput<typeof ProjectRemovedSchema>["removed"];
