import { EserveslessError } from "../errors.js";

/** A function's queue, as the waiting room counts it. */
export interface Queue {
  /** Requests waiting for capacity. */
  readonly queued: number;
  /** Lets go of the waiting requests whose caller left (they are answered 499). */
  dropGone(): void;
  /** Turns its most recent waiting request away with `error`. */
  shed(error: Error): void;
}

/** The refusal, without counts: other projects' traffic is not a caller's business. */
const busy = () =>
  new EserveslessError("The server is busy: too many requests are waiting for a container (ESERVELESS_MAX_WAITING); retry shortly", {
    status: 503,
    code: "server_busy",
    headers: { "retry-after": "1" },
  });

/**
 * The server-wide ceiling on requests waiting for capacity, across every
 * function's queue (ESERVELESS_MAX_WAITING). Each queue has its own bound,
 * but functions are many (each preview brings its own), and every waiting
 * request holds a connection and memory in the server.
 *
 * Once `max` wait, a request that would wait takes the place of the newest
 * request of the longest queue when that queue would still be at least as
 * long as its own, and is refused (503) otherwise: never more than `max`
 * wait, and a flood on one function cannot keep another's requests, or its
 * cold start, out (longest-queue drop); only one spread over `max`
 * functions, one request each, leaves a newcomer nothing to take. Returns
 * the check a queue makes before a request waits on it; the count is read
 * from the queues themselves, so nothing is kept that could drift from them.
 */
export function waitingRoom(max: number, queues: () => Iterable<Queue>): (own: Queue) => void {
  const waiting = () => {
    let total = 0;
    for (const queue of queues()) total += queue.queued;
    return total;
  };
  return (own) => {
    if (waiting() < max) return;
    // Callers who left give their places up before a live one is refused.
    for (const queue of queues()) queue.dropGone();
    if (waiting() < max) return;
    let longest: Queue | undefined;
    for (const queue of queues()) if (!longest || queue.queued > longest.queued) longest = queue;
    if (!longest || longest === own || longest.queued - own.queued < 2) throw busy();
    longest.shed(busy());
  };
}
