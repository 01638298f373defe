/** What a caller that must wait is told: how many run, and how many wait before it. */
export interface SlotWait {
  running: number;
  ahead: number;
  max: number;
}

interface Waiter {
  grant: () => void;
}

/**
 * A first-come, first-served counting semaphore. Image builds wait for one
 * (`ESERVELESS_MAX_CONCURRENT_BUILDS`); webhook bodies take one or are refused
 * at once, so that a waiting request and its body are never kept in memory.
 */
export class Slots {
  #running = 0;
  readonly #waiting: Waiter[] = [];

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`Slots needs at least one slot, got ${max}`);
  }

  /** Slots taken now. */
  get running(): number {
    return this.#running;
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** A free slot's release function, or undefined when none is free (or others wait): never waits. */
  tryTake(): (() => void) | undefined {
    return this.#running < this.max && this.#waiting.length === 0 ? this.#take() : undefined;
  }

  /**
   * Waits for a free slot and resolves with the function that frees it
   * (call it once, whatever happened). `onWait` is told once when the build
   * must wait. Aborting `signal` while waiting rejects with its reason and
   * gives up the place in line.
   */
  acquire(signal?: AbortSignal, onWait?: (wait: SlotWait) => void): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#running < this.max && this.#waiting.length === 0) return Promise.resolve(this.#take());
    onWait?.({ running: this.#running, ahead: this.#waiting.length, max: this.max });
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve(this.#take());
        },
      };
      const onAbort = () => {
        const index = this.#waiting.indexOf(waiter);
        if (index >= 0) this.#waiting.splice(index, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  #take(): () => void {
    this.#running++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#running--;
      // The slot passes straight to the next in line.
      if (this.#running < this.max) this.#waiting.shift()?.grant();
    };
  }
}
