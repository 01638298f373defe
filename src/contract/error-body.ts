import * as v from "valibot";

/** The body of every error answer of the JSON routes: a stable code and a message that says what to do. */
export const ErrorBodySchema = v.object({
  error: v.object({ code: v.string(), message: v.string() }),
});
export type ErrorBody = v.InferOutput<typeof ErrorBodySchema>;
