import { describe, expect, it } from "vitest";
import { MAX_RUNS_PER_FUNCTION, MAX_RUN_OUTPUT_CHARS, createCronRunStore } from "../../src/store/cron-run-store.js";
import { useTempStore } from "../support/temp-store.js";

const SHA = "c".repeat(40);
const base = { repository: "octo-org/cron", function: "Nightly", deploymentId: "d1", commit: SHA, trigger: "schedule" as const };

const temp = useTempStore(createCronRunStore);

describe("cron runs", () => {
  it("records a run from running to its result, and lists runs newest first", () => {
    const first = temp.store.createRun({ ...base, state: "running" });
    expect(first).toMatchObject({ state: "running", startedAt: temp.clock.at, finishedAt: null, exitCode: null, output: "", outputTruncated: false });
    expect(temp.store.runningRun("OCTO-ORG/cron", "nightly")?.id).toBe(first.id);

    temp.clock.at += 1500;
    temp.store.finishRun(first.id, { state: "succeeded", exitCode: 0, durationMs: 1234.6, output: "done\n" });
    expect(temp.store.getRun(first.id)).toMatchObject({ state: "succeeded", exitCode: 0, durationMs: 1235, output: "done\n", finishedAt: temp.clock.at, error: null });
    expect(temp.store.runningRun(base.repository, base.function)).toBeUndefined();

    temp.clock.at += 1000;
    const skipped = temp.store.createRun({ ...base, state: "skipped", error: "Skipped: previous run still running" });
    expect(skipped).toMatchObject({ state: "skipped", finishedAt: temp.clock.at, durationMs: 0 });

    expect(temp.store.listRuns(base.repository, base.function).map((r) => r.id)).toEqual([skipped.id, first.id]);
    expect(temp.store.listRuns(base.repository, base.function, 1).map((r) => r.id)).toEqual([skipped.id]);
    expect(temp.store.listRuns(base.repository, "Other")).toEqual([]);
  });

  it("finishes a run once: a second result does not overwrite the first", () => {
    const run = temp.store.createRun({ ...base, state: "running" });
    temp.store.finishRun(run.id, { state: "timed_out", exitCode: 137, durationMs: 2000, output: "a" });
    temp.store.finishRun(run.id, { state: "succeeded", exitCode: 0, durationMs: 1, output: "b" });
    expect(temp.store.getRun(run.id)).toMatchObject({ state: "timed_out", exitCode: 137, output: "a" });
  });

  it(`keeps the latest ${MAX_RUNS_PER_FUNCTION} runs of each function, but never deletes one that runs`, () => {
    const running = temp.store.createRun({ ...base, state: "running" });
    const other = temp.store.createRun({ ...base, function: "Other", state: "skipped" });
    for (let i = 0; i < MAX_RUNS_PER_FUNCTION + 20; i++) {
      temp.clock.at += 1000;
      temp.store.createRun({ ...base, state: "skipped" });
    }
    const runs = temp.store.listRuns(base.repository, base.function, 1000);
    expect(runs).toHaveLength(MAX_RUNS_PER_FUNCTION + 1);
    expect(runs.at(-1)!.id).toBe(running.id);
    expect(temp.store.getRun(other.id)).toBeDefined();
  });

  it("keeps the end of long output and flags it", () => {
    const run = temp.store.createRun({ ...base, state: "running" });
    const output = `${"x".repeat(MAX_RUN_OUTPUT_CHARS)}THE END`;
    temp.store.finishRun(run.id, { state: "failed", exitCode: 1, durationMs: 5, output, error: "e".repeat(10_000) });
    const stored = temp.store.getRun(run.id)!;
    expect(stored.output).toHaveLength(MAX_RUN_OUTPUT_CHARS);
    expect(stored.output.endsWith("THE END")).toBe(true);
    expect(stored.outputTruncated).toBe(true);
    expect(stored.error!.length).toBeLessThanOrEqual(2000);
  });

  it("fails the runs a previous process left running", () => {
    const run = temp.store.createRun({ ...base, state: "running" });
    temp.clock.at += 4000;
    expect(temp.store.failInterruptedRuns("Interrupted")).toBe(1);
    expect(temp.store.getRun(run.id)).toMatchObject({ state: "failed", error: "Interrupted", durationMs: 4000, finishedAt: temp.clock.at });
    expect(temp.store.failInterruptedRuns("Interrupted")).toBe(0);
  });
});
