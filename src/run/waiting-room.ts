import { EserveslessError } from "../errors.js";

/** A function's queue, as the waiting room counts it. */
export interface Queue {
  /** Requests waiting for capacity. */
  readonly queued: number;
  /** Lets go of the waiting requests whose caller left (they are answered 499). */
  dropGone(): void;
}

/**
 * The server-wide ceiling on requests waiting for capacity, across every
 * function's queue (ESERVELESS_MAX_WAITING). Each queue has its own bound,
 * but functions are many (each preview brings its own), and every waiting
 * request holds a connection and memory in the server.
 *
 * Past `max`, a request is refused (503) only when its own function already
 * holds its share (`max` over the functions that have requests waiting): a
 * flood on one function cannot keep another's requests, or its cold start,
 * out. So at most `2 × max` wait in all. Returns the check a queue makes
 * before a request waits on it; the count is read from the queues
 * themselves, so nothing is kept that could drift from them.
 */
export function waitingRoom(max: number, queues: () => Iterable<Queue>): (own: Queue) => void {
  const count = (own: Queue) => {
    let waiting = 0;
    let holders = own.queued === 0 ? 1 : 0;
    for (const queue of queues()) {
      waiting += queue.queued;
      if (queue.queued > 0) holders++;
    }
    return { waiting, share: max / holders };
  };
  return (own) => {
    if (count(own).waiting < max) return;
    // Callers who left give their places up before a live one is refused.
    for (const queue of queues()) queue.dropGone();
    const { waiting, share } = count(own);
    if (waiting < max || own.queued < share) return;
    throw new EserveslessError(
      `The server is busy: ${waiting} requests are waiting for a container, ${own.queued} of them for this function, past ESERVELESS_MAX_WAITING (${max}); retry shortly`,
      { status: 503, code: "server_busy", headers: { "retry-after": "1" } },
    );
  };
}
