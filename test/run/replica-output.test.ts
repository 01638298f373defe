import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { MAX_OUTPUT_LINES_PER_SECOND, OutputCollector, type ReplicaOutputLine } from "../../src/run/replica-output.js";

const line = (text: string, replica = "es-a", fn = "API"): ReplicaOutputLine => ({ repository: "local/app", function: fn, replica, stream: "stdout", at: 1, line: text });

describe("OutputCollector", () => {
  it("hands lines over in batches: at 100 lines at once, else after the flush interval", async () => {
    const batches: string[][] = [];
    const collector = new OutputCollector({ sink: (lines) => batches.push(lines.map((l) => l.line)), log: pino({ level: "silent" }), flushMs: 50 });
    for (let i = 0; i < 100; i++) collector.add(line(`n${i}`));
    expect(batches.map((b) => b.length)).toEqual([100]);
    collector.add(line("late"));
    expect(batches).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(batches.at(-1)).toEqual(["late"]);
  });

  it(`keeps at most ${MAX_OUTPUT_LINES_PER_SECOND} lines a second of a function however fast it prints, says how many it dropped, and spares the others`, () => {
    const batches: ReplicaOutputLine[][] = [];
    let now = 1_000_000;
    const collector = new OutputCollector({ sink: (lines) => batches.push(lines), log: pino({ level: "silent" }), now: () => now });
    for (let i = 0; i < 5000; i++) collector.add(line(`flood ${i}`));
    collector.add(line("quiet", "es-b", "Other"));
    collector.flush();
    const kept = batches.flat();
    expect(kept.filter((l) => l.line.startsWith("flood "))).toHaveLength(MAX_OUTPUT_LINES_PER_SECOND);
    expect(kept.filter((l) => l.function === "Other").map((l) => l.line)).toEqual(["quiet"]);
    expect(kept.at(-1)).toMatchObject({ replica: "es-a", stream: "stderr", line: `(eserveless: ${5000 - MAX_OUTPUT_LINES_PER_SECOND} lines of output dropped: the function printed faster than they are kept)` });
    // The next second takes lines again.
    now += 1000;
    collector.add(line("later"));
    collector.flush();
    expect(batches.at(-1)!.map((l) => l.line)).toEqual(["later"]);
  });

  it("a failing sink costs the lines, not the caller", () => {
    const collector = new OutputCollector({ sink: () => { throw new Error("disk full"); }, log: pino({ level: "silent" }), maxLines: 1 });
    expect(() => collector.add(line("x"))).not.toThrow();
  });
});
