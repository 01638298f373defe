import { setImmediate } from "node:timers/promises";

/**
 * Cuts long synchronous work into slices, giving the event loop a turn
 * between them, so that reading a hostile file never stops the server from
 * answering requests for longer than a slice.
 */
export class TimeSlicer {
  #deadline: number;

  constructor(private readonly sliceMs = 10) {
    this.#deadline = performance.now() + sliceMs;
  }

  /** Gives the event loop a turn if the current slice is used up. */
  async maybeYield(): Promise<void> {
    if (performance.now() >= this.#deadline) await this.yield();
  }

  /** Gives the event loop a turn (timers, I/O) and starts a new slice. */
  async yield(): Promise<void> {
    await setImmediate();
    this.#deadline = performance.now() + this.sliceMs;
  }
}
