import { describe, expect, it } from "vitest";
import { duration, plural, shortSha, when } from "../src/format.js";

// The words and numbers the CLI and the pages share: one way each.

describe("format", () => {
  it("shows a moment in UTC, the same for every reader", () => {
    expect(when(Date.UTC(2025, 0, 31, 14, 5, 9, 700))).toBe("2025-01-31 14:05:09 UTC");
  });

  it("shows a duration in ms up to 10 s, then in seconds, then in minutes; nothing for a missing one", () => {
    expect(duration(812.4)).toBe("812 ms");
    expect(duration(9_999)).toBe("9999 ms");
    expect(duration(10_000)).toBe("10.0 s");
    expect(duration(42_450)).toBe("42.5 s");
    expect(duration(185_000)).toBe("3 min 5 s");
    for (const missing of [null, undefined, Number.NaN, -1]) expect(duration(missing)).toBe("");
  });

  it("counts words and shortens shas", () => {
    expect(plural(1, "file")).toBe("1 file");
    expect(plural(0, "function")).toBe("0 functions");
    expect(plural(3, "file")).toBe("3 files");
    expect(shortSha("0123456789abcdef0123456789abcdef01234567")).toBe("0123456");
  });
});
