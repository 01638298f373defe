/** `1.2 s`: a duration in the deployment log and commit statuses. */
export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** `1 file`, `2 files`. */
export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
