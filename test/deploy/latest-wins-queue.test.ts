import { describe, expect, it } from "vitest";
import { LatestWinsQueue, Superseded } from "../../src/deploy/latest-wins-queue.js";

interface Job {
  commit: string;
  deploymentId: string;
}

const job = (n: number, repo = "a"): Job => ({ commit: `${repo}${n}`.padEnd(40, String(n % 10)), deploymentId: `${repo}-dep-${n}` });

/** Lets queued promise callbacks (the queue's `.finally`) run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A queue whose jobs run until the test finishes them by hand: `running`
 * lists every job started, with its signal and a `finish` to end it.
 */
function harness() {
  const started: Array<{ job: Job; signal: AbortSignal; finish: () => void; fail: (error: Error) => void }> = [];
  const dropped: Array<{ job: Job; by: Job }> = [];
  const failed: Array<{ job: Job; error: unknown }> = [];
  const finished: string[] = [];
  const queue = new LatestWinsQueue<Job>(
    (j, signal) =>
      new Promise<void>((resolve, reject) => {
        started.push({
          job: j,
          signal,
          finish: () => {
            finished.push(j.deploymentId);
            resolve();
          },
          fail: (error) => {
            finished.push(j.deploymentId);
            reject(error);
          },
        });
      }),
    (j, by) => dropped.push({ job: j, by }),
    (j, error) => failed.push({ job: j, error }),
  );
  const running = () => started.filter((s) => !finished.includes(s.job.deploymentId)).map((s) => s.job.deploymentId);
  const startedJob = (deploymentId: string) => {
    const entry = started.find((s) => s.job.deploymentId === deploymentId);
    if (!entry) throw new Error(`${deploymentId} never started`);
    return entry;
  };
  return { queue, started, dropped, failed, finished, running, startedJob };
}

describe("LatestWinsQueue", () => {
  it("starts a job at once when its key is idle", () => {
    const h = harness();
    h.queue.push("octo/a", job(1));
    expect(h.running()).toEqual(["a-dep-1"]);
    expect(h.startedJob("a-dep-1").signal.aborted).toBe(false);
  });

  it("runs one job at a time per key: a newer job waits for the aborted one to return", async () => {
    const h = harness();
    h.queue.push("octo/a", job(1));
    h.queue.push("octo/a", job(2));
    await settle();
    // The first is told to stop but has not returned yet, so the second must not start.
    expect(h.running()).toEqual(["a-dep-1"]);

    h.startedJob("a-dep-1").finish();
    await settle();
    expect(h.running()).toEqual(["a-dep-2"]);
    expect(h.startedJob("a-dep-2").signal.aborted).toBe(false);
  });

  it("aborts the running job with Superseded naming the newer commit and deployment", () => {
    const h = harness();
    const newer = job(2);
    h.queue.push("octo/a", job(1));
    h.queue.push("octo/a", newer);

    const { signal } = h.startedJob("a-dep-1");
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBeInstanceOf(Superseded);
    const reason = signal.reason as Superseded;
    expect(reason.by).toEqual(newer);
    expect(reason.name).toBe("Superseded");
    expect(reason.message).toBe(`superseded by ${newer.commit.slice(0, 7)}`);
  });

  it("hands a waiting job replaced by a newer one to onDropped and never runs it", async () => {
    const h = harness();
    const [first, second, third] = [job(1), job(2), job(3)];
    h.queue.push("octo/a", first);
    h.queue.push("octo/a", second);
    expect(h.dropped).toEqual([]);
    h.queue.push("octo/a", third);
    expect(h.dropped).toEqual([{ job: second, by: third }]);

    h.startedJob("a-dep-1").finish();
    await settle();
    expect(h.running()).toEqual(["a-dep-3"]);
    h.startedJob("a-dep-3").finish();
    await settle();
    expect(h.started.map((s) => s.job.deploymentId)).toEqual(["a-dep-1", "a-dep-3"]);
    expect(h.dropped).toHaveLength(1);
  });

  it("runs different keys in parallel, and a push to one key does not abort another", () => {
    const h = harness();
    h.queue.push("octo/a", job(1, "a"));
    h.queue.push("octo/b", job(1, "b"));
    expect(h.running()).toEqual(["a-dep-1", "b-dep-1"]);
    h.queue.push("octo/a", job(2, "a"));
    expect(h.startedJob("a-dep-1").signal.aborted).toBe(true);
    expect(h.startedJob("b-dep-1").signal.aborted).toBe(false);
    expect(h.dropped).toEqual([]);
  });

  it("starts a new job at once on a key whose last job finished", async () => {
    const h = harness();
    h.queue.push("octo/a", job(1));
    h.startedJob("a-dep-1").finish();
    await settle();
    h.queue.push("octo/a", job(2));
    expect(h.running()).toEqual(["a-dep-2"]);
    expect(h.startedJob("a-dep-2").signal.aborted).toBe(false);
  });

  it("resolves idle() at once when nothing was queued", async () => {
    const h = harness();
    await expect(h.queue.idle()).resolves.toBeUndefined();
  });

  it("resolves idle() only when every key has finished, including jobs that waited", async () => {
    const h = harness();
    let idle = false;
    h.queue.push("octo/a", job(1, "a"));
    h.queue.push("octo/a", job(2, "a"));
    h.queue.push("octo/b", job(1, "b"));
    const waiters = [h.queue.idle(), h.queue.idle()];
    void Promise.all(waiters).then(() => {
      idle = true;
    });

    h.startedJob("a-dep-1").finish();
    await settle();
    expect(idle).toBe(false); // a-dep-2 now runs
    h.startedJob("b-dep-1").finish();
    await settle();
    expect(idle).toBe(false); // a-dep-2 still runs
    expect(h.running()).toEqual(["a-dep-2"]);
    h.startedJob("a-dep-2").finish();
    await settle();
    expect(idle).toBe(true);
    await expect(h.queue.idle()).resolves.toBeUndefined();
  });

  it("moves on to the next job of a key when a job fails", async () => {
    const h = harness();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      h.queue.push("octo/a", job(1));
      h.queue.push("octo/a", job(2));
      h.startedJob("a-dep-1").fail(new Error("docker went away"));
      await settle();
      await settle();
      expect(h.running()).toEqual(["a-dep-2"]);
      h.startedJob("a-dep-2").finish();
      await h.queue.idle();
      // A failed job must not surface as an unhandled rejection, which ends a Node process.
      expect(unhandled).toEqual([]);
      expect(h.failed.map((f) => [f.job.deploymentId, (f.error as Error).message])).toEqual([["a-dep-1", "docker went away"]]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });
});
