import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { accessLog, MAX_ERROR_LINES, MAX_LOGGED_PATH, type AccessLine } from "../../src/http/access-log.js";

/** A pino logger whose lines are parsed into `lines`. */
function memoryLog(level = "info") {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { log: pino({ level }, stream), lines };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const line = (fn: string, status: number, path = "/"): AccessLine => ({ function: fn, method: "GET", path, status, ms: 1, cold: false, container: "c1" });

/** How many invocations the log's lines account for, per function. */
function counted(lines: Array<Record<string, unknown>>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const l of lines) {
    const fn = l.function as string;
    if (l.msg === "invocation") counts[fn] = (counts[fn] ?? 0) + 1;
    if (l.msg === "invocations") counts[fn] = (counts[fn] ?? 0) + (l.requests as number);
  }
  return counts;
}

describe("accessLog", () => {
  it("logs the first invocation of a window whole and sums up the rest at its end, counts exact per function", async () => {
    const { log, lines } = memoryLog();
    const access = accessLog(log, 100);
    for (let i = 0; i < 500; i++) access.record(line("o/r/A", i % 5 === 0 ? 404 : 200, `/a${i}`));
    access.record(line("o/r/B", 200, "/b"));
    // The first of each function, as the single line used to be.
    expect(lines).toEqual([
      expect.objectContaining({ msg: "invocation", function: "o/r/A", method: "GET", path: "/a0", status: 404, ms: 1, cold: false, container: "c1" }),
      expect.objectContaining({ msg: "invocation", function: "o/r/B", path: "/b", status: 200 }),
    ]);
    await sleep(250);
    expect(lines.find((l) => l.msg === "invocations")).toMatchObject({ function: "o/r/A", requests: 499, statuses: { "200": 400, "404": 99 } });
    expect(counted(lines)).toEqual({ "o/r/A": 500, "o/r/B": 1 });
    // A later invocation starts a window of its own.
    access.record(line("o/r/A", 200, "/later"));
    expect(lines.at(-1)).toMatchObject({ msg: "invocation", path: "/later" });
  });

  it("writes the open windows' counts at stop, so the last second is not lost", () => {
    const { log, lines } = memoryLog();
    const access = accessLog(log, 60_000);
    for (let i = 0; i < 7; i++) access.record(line("o/r/A", 200));
    access.flush();
    expect(lines.at(-1)).toMatchObject({ msg: "invocations", function: "o/r/A", requests: 6, statuses: { "200": 6 } });
    expect(counted(lines)).toEqual({ "o/r/A": 7 });
  });

  it("gives the 5xx answers of a window lines of their own, up to its cap", () => {
    const { log, lines } = memoryLog();
    const access = accessLog(log, 1000);
    access.record(line("o/r/A", 200));
    for (const status of [502, 504, 500]) access.record(line("o/r/A", status, `/${status}`));
    expect(lines.map((l) => [l.msg, l.status])).toEqual([
      ["invocation", 200],
      ["invocation", 502],
      ["invocation", 504],
      ["invocation", 500],
    ]);
  });

  it("caps the lines a caller who makes a function fail can add, counts kept exact, and cuts the long paths a stranger picks", async () => {
    const { log, lines } = memoryLog();
    const access = accessLog(log, 100);
    const longPath = `/${"a".repeat(15_000)}`;
    for (let i = 0; i < 1000; i++) access.record(line("o/r/Fail", 500, longPath));
    await sleep(250);
    expect(lines.filter((l) => l.msg === "invocation")).toHaveLength(1 + MAX_ERROR_LINES);
    expect(lines.find((l) => l.msg === "invocations")).toMatchObject({ requests: 1000 - 1 - MAX_ERROR_LINES, statuses: { "500": 1000 - 1 - MAX_ERROR_LINES } });
    expect(counted(lines)).toEqual({ "o/r/Fail": 1000 });
    for (const l of lines.filter((l) => l.msg === "invocation")) expect((l.path as string).length).toBe(MAX_LOGGED_PATH + 1);
    expect(JSON.stringify(lines).length).toBeLessThan(20 * (MAX_LOGGED_PATH + 300));
  });

  it("writes nothing below its level", async () => {
    const { log, lines } = memoryLog("warn");
    const access = accessLog(log, 20);
    for (let i = 0; i < 10; i++) access.record(line("o/r/A", i === 0 ? 502 : 200));
    await sleep(60);
    expect(lines).toEqual([]);
  });
});
