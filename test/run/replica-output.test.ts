import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { OutputCollector, type ReplicaOutputLine } from "../../src/run/replica-output.js";

const line = (text: string, replica = "es-a"): ReplicaOutputLine => ({ repository: "local/app", function: "API", replica, stream: "stdout", at: 1, line: text });

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

  it("holds at most 2000 lines however fast a replica prints, and says how many it dropped", () => {
    const batches: ReplicaOutputLine[][] = [];
    // A sink that is never reached by size (maxLines above the ceiling): only the ceiling bounds memory.
    const collector = new OutputCollector({ sink: (lines) => batches.push(lines), log: pino({ level: "silent" }), flushMs: 60_000, maxLines: 1_000_000 });
    for (let i = 0; i < 5000; i++) collector.add(line(`flood ${i}`));
    collector.flush();
    const [batch] = batches;
    expect(batch).toHaveLength(2001);
    expect(batch!.at(-1)).toMatchObject({ replica: "es-a", stream: "stderr", line: "(eserveless: 3000 lines of output dropped: the function printed faster than they are kept)" });
  });

  it("a failing sink costs the lines, not the caller", () => {
    const collector = new OutputCollector({ sink: () => { throw new Error("disk full"); }, log: pino({ level: "silent" }), maxLines: 1 });
    expect(() => collector.add(line("x"))).not.toThrow();
  });
});
