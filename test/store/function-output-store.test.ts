import { describe, expect, it } from "vitest";
import { MAX_OUTPUT_LINES_PER_FUNCTION, MAX_OUTPUT_LINE_CHARS, createFunctionOutputStore } from "../../src/store/function-output-store.js";
import { useTempStore } from "../support/temp-store.js";

const temp = useTempStore((db) => createFunctionOutputStore(db));
const line = (text: string, fn = "API", replica = "es-a") => ({ repository: "octo-org/app", function: fn, replica, stream: "stdout" as const, at: 1_700_000_000_000, line: text });

describe("function output", () => {
  it("keeps lines in order per function, follows after a seq, and survives a restart", () => {
    temp.store.appendOutput([line("one"), line("other", "Other"), line("two", "API", "es-b")]);
    const all = temp.store.functionOutput("OCTO-ORG/app", "api");
    expect(all.map((l) => `${l.replica} ${l.line}`)).toEqual(["es-a one", "es-b two"]);
    expect(temp.store.functionOutput("octo-org/app", "API", { after: all[0]!.seq }).map((l) => l.line)).toEqual(["two"]);
    temp.reopen();
    expect(temp.store.functionOutput("octo-org/app", "API").map((l) => l.line)).toEqual(["one", "two"]);
  });

  it(`keeps the newest ${MAX_OUTPUT_LINES_PER_FUNCTION} lines of each function, each cut at ${MAX_OUTPUT_LINE_CHARS} characters`, () => {
    temp.store.appendOutput([line("kept", "Other")]);
    const flood = Array.from({ length: MAX_OUTPUT_LINES_PER_FUNCTION + 50 }, (_, i) => line(`line ${i}`));
    temp.store.appendOutput(flood.slice(0, 30));
    temp.store.appendOutput(flood.slice(30));
    temp.store.appendOutput([line("x".repeat(MAX_OUTPUT_LINE_CHARS * 3))]);
    const count = temp.db.prepare("SELECT count(*) AS n FROM function_output WHERE function = 'API'").get() as { n: number };
    expect(count.n).toBe(MAX_OUTPUT_LINES_PER_FUNCTION);
    const newest = temp.store.functionOutput("octo-org/app", "API", { limit: 2 });
    expect(newest[0]!.line).toBe(`line ${MAX_OUTPUT_LINES_PER_FUNCTION + 49}`);
    expect([...newest[1]!.line].length).toBe(MAX_OUTPUT_LINE_CHARS);
    expect(temp.store.functionOutput("octo-org/app", "Other").map((l) => l.line)).toEqual(["kept"]);
  });
});
