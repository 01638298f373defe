import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MAX_RUNS_PER_FUNCTION, MAX_RUN_OUTPUT_CHARS, createStore, type Store } from "../../src/store/store.js";

const SHA = "c".repeat(40);
const base = { repository: "octo-org/cron", function: "Nightly", deploymentId: "d1", commit: SHA, trigger: "schedule" as const };

let dir: string;
let path: string;
let clock: { at: number };
let store: Store;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "eserveless-cron-store-"));
  path = join(dir, "eserveless.db");
  clock = { at: 1_700_000_000_000 };
  store = createStore(path, { now: () => clock.at });
});

afterEach(() => {
  try {
    store.close();
  } catch {
    // already closed by the test
  }
  rmSync(dir, { recursive: true, force: true });
});

describe("cron runs in the store", () => {
  it("records a run from running to its result, and lists runs newest first", () => {
    const first = store.createRun({ ...base, state: "running" });
    expect(first).toMatchObject({ state: "running", startedAt: clock.at, finishedAt: null, exitCode: null, output: "", outputTruncated: false });
    expect(store.runningRun("OCTO-ORG/cron", "nightly")?.id).toBe(first.id);

    clock.at += 1500;
    store.finishRun(first.id, { state: "succeeded", exitCode: 0, durationMs: 1234.6, output: "done\n" });
    expect(store.getRun(first.id)).toMatchObject({ state: "succeeded", exitCode: 0, durationMs: 1235, output: "done\n", finishedAt: clock.at, error: null });
    expect(store.runningRun(base.repository, base.function)).toBeUndefined();

    clock.at += 1000;
    const skipped = store.createRun({ ...base, state: "skipped", error: "Skipped: previous run still running" });
    expect(skipped).toMatchObject({ state: "skipped", finishedAt: clock.at, durationMs: 0 });

    expect(store.listRuns(base.repository, base.function).map((r) => r.id)).toEqual([skipped.id, first.id]);
    expect(store.listRuns(base.repository, base.function, 1).map((r) => r.id)).toEqual([skipped.id]);
    expect(store.listRuns(base.repository, "Other")).toEqual([]);
  });

  it("finishes a run once: a second result does not overwrite the first", () => {
    const run = store.createRun({ ...base, state: "running" });
    store.finishRun(run.id, { state: "timed_out", exitCode: 137, durationMs: 2000, output: "a" });
    store.finishRun(run.id, { state: "succeeded", exitCode: 0, durationMs: 1, output: "b" });
    expect(store.getRun(run.id)).toMatchObject({ state: "timed_out", exitCode: 137, output: "a" });
  });

  it(`keeps the latest ${MAX_RUNS_PER_FUNCTION} runs of each function, but never deletes one that runs`, () => {
    const running = store.createRun({ ...base, state: "running" });
    const other = store.createRun({ ...base, function: "Other", state: "skipped" });
    for (let i = 0; i < MAX_RUNS_PER_FUNCTION + 20; i++) {
      clock.at += 1000;
      store.createRun({ ...base, state: "skipped" });
    }
    const runs = store.listRuns(base.repository, base.function, 1000);
    expect(runs).toHaveLength(MAX_RUNS_PER_FUNCTION + 1);
    expect(runs.at(-1)!.id).toBe(running.id);
    expect(store.getRun(other.id)).toBeDefined();
  });

  it("keeps the end of long output and flags it", () => {
    const run = store.createRun({ ...base, state: "running" });
    const output = `${"x".repeat(MAX_RUN_OUTPUT_CHARS)}THE END`;
    store.finishRun(run.id, { state: "failed", exitCode: 1, durationMs: 5, output, error: "e".repeat(10_000) });
    const stored = store.getRun(run.id)!;
    expect(stored.output).toHaveLength(MAX_RUN_OUTPUT_CHARS);
    expect(stored.output.endsWith("THE END")).toBe(true);
    expect(stored.outputTruncated).toBe(true);
    expect(stored.error!.length).toBeLessThanOrEqual(2000);
  });

  it("fails the runs a previous process left running", () => {
    const run = store.createRun({ ...base, state: "running" });
    clock.at += 4000;
    expect(store.failInterruptedRuns("Interrupted")).toBe(1);
    expect(store.getRun(run.id)).toMatchObject({ state: "failed", error: "Interrupted", durationMs: 4000, finishedAt: clock.at });
    expect(store.failInterruptedRuns("Interrupted")).toBe(0);
  });

  it("adds cron_runs to a database created before it, keeping its data", () => {
    store.setLiveFunctions("octo-org/cron", { id: "d1", commit: SHA, image: "img" }, [{ name: "Nightly", type: "cron", spec: { schedule: "* * * * *" } }]);
    store.close();
    // Back to the first schema version: no cron_runs table.
    const raw = new Database(path);
    raw.exec("DROP TABLE cron_runs");
    raw.pragma("user_version = 1");
    raw.close();

    store = createStore(path, { now: () => clock.at });
    expect(store.liveFunctions()).toHaveLength(1);
    const run = store.createRun({ ...base, state: "running" });
    expect(store.getRun(run.id)?.state).toBe("running");
  });
});
