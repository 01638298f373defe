import type { ChunkedPost, ChunkedPostAnswer } from "./chunked-post.js";

/** The source of an http function `Held` that answers `version` once its request body ends: the test decides when its request finishes. */
export const heldFunction = (version: string) => `module.exports = { Held: (req, res) => { req.resume(); req.on("end", () => res.end(${JSON.stringify(version)})); } };\n`;

/**
 * Starts `run` while `held`'s request is open, ends that request's body
 * `holdMs` later, and tells whether `run` finished before the body ended:
 * what waits for requests in flight must not.
 */
export async function runWhileHeld<T>(held: ChunkedPost, run: () => Promise<T>, holdMs = 1_000): Promise<{ result: T; finishedBeforeEnd: boolean; answer: ChunkedPostAnswer }> {
  let ended = false;
  let finishedBeforeEnd = false;
  const running = run().then((result) => ((finishedBeforeEnd = !ended), result));
  await new Promise((resolve) => setTimeout(resolve, holdMs));
  ended = true;
  held.end();
  const answer = await held.response;
  return { result: await running, finishedBeforeEnd, answer };
}
