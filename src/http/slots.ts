/**
 * A counting semaphore that never queues: `take()` hands out one of `size`
 * slots, or nothing when all are taken, so the caller can refuse at once
 * (503) instead of keeping a waiting request, and its body, in memory.
 */
export class Slots {
  readonly size: number;
  #used = 0;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`Slots needs a whole number of slots, at least 1 (got ${size})`);
    this.size = size;
  }

  /** Slots in use now. */
  get used(): number {
    return this.#used;
  }

  /** A free slot's release function (calling it twice frees one slot only), or undefined when none is free. */
  take(): (() => void) | undefined {
    if (this.#used >= this.size) return undefined;
    this.#used++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#used--;
    };
  }
}
