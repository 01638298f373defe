import * as v from "valibot";

/** One proxied request to an http function. */
export const InvocationSchema = v.object({
  at: v.number(),
  method: v.string(),
  path: v.string(),
  status: v.number(),
  ms: v.number(),
  cold: v.boolean(),
  /** The container that answered; null when none did. */
  container: v.nullable(v.string()),
});
export type Invocation = v.InferOutput<typeof InvocationSchema>;

/** `GET /api/functions/:owner/:repo/:function/invocations`: the latest ones, newest first. */
export const InvocationListSchema = v.object({ invocations: v.array(InvocationSchema) });
