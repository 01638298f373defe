import { shortSha } from "../format.js";

/** The reason a deployment was aborted: a newer one of the same repository arrived. */
export class Superseded extends Error {
  /** The newest job that replaced it; updated when yet another one arrives. */
  by: { commit: string; deploymentId: string };

  constructor(by: { commit: string; deploymentId: string }) {
    super(`superseded by ${shortSha(by.commit)}`);
    this.name = "Superseded";
    this.by = by;
  }
}

interface Lane<J> {
  running?: { job: J; controller: AbortController };
  pending?: J;
}

/**
 * Runs one job at a time per key; the latest job wins. A job that arrives
 * while another runs aborts it (with {@link Superseded} as the reason) and
 * replaces any job still waiting, which is handed to `onDropped`.
 */
export class LatestWinsQueue<J extends { commit: string; deploymentId: string }> {
  readonly #lanes = new Map<string, Lane<J>>();
  readonly #idle = new Set<() => void>();

  constructor(
    private readonly run: (job: J, signal: AbortSignal) => Promise<void>,
    private readonly onDropped: (job: J, by: J) => void,
    /** Told when `run` rejects, so the job can be marked failed; the lane moves on. */
    private readonly onFailed: (job: J, error: unknown) => void,
  ) {}

  /** Queues `job` under `key` (a repository). */
  push(key: string, job: J): void {
    const lane = this.#lanes.get(key) ?? {};
    this.#lanes.set(key, lane);
    if (lane.pending) this.onDropped(lane.pending, job);
    lane.pending = job;
    const running = lane.running?.controller;
    if (!running) this.#next(key, lane);
    else if (running.signal.reason instanceof Superseded) running.signal.reason.by = job;
    else running.abort(new Superseded(job));
  }

  /**
   * Aborts every running job with `reason` and forgets the waiting ones
   * (they stay recorded as queued; the next start ends them). Pushes after
   * this are refused by the caller.
   */
  abortAll(reason: unknown): void {
    for (const lane of this.#lanes.values()) {
      lane.pending = undefined;
      lane.running?.controller.abort(reason);
    }
  }

  /** Resolves when no job runs or waits (tests and shutdown use it). */
  idle(): Promise<void> {
    if (this.#lanes.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.add(resolve));
  }

  #next(key: string, lane: Lane<J>): void {
    const job = lane.pending;
    lane.pending = undefined;
    if (!job) {
      this.#lanes.delete(key);
      if (this.#lanes.size === 0) {
        for (const resolve of this.#idle) resolve();
        this.#idle.clear();
      }
      return;
    }
    const controller = new AbortController();
    lane.running = { job, controller };
    void this.run(job, controller.signal)
      .catch((error: unknown) => this.onFailed(job, error))
      .finally(() => {
        lane.running = undefined;
        this.#next(key, lane);
      });
  }
}
