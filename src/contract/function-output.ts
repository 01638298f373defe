import * as v from "valibot";

/** One line an http function printed: which replica (container), which stream, when (ms). */
export const OutputLineSchema = v.object({
  seq: v.number(),
  replica: v.string(),
  stream: v.picklist(["stdout", "stderr"]),
  at: v.number(),
  line: v.string(),
});
export type OutputLine = v.InferOutput<typeof OutputLineSchema>;

/** `GET /api/functions/:owner/:repo/:function/output?after=SEQ`: lines after `after`, oldest first (the newest ones without it). */
export const FunctionOutputSchema = v.object({ output: v.array(OutputLineSchema) });
export type FunctionOutput = v.InferOutput<typeof FunctionOutputSchema>;
