import { describe, expect, it } from "vitest";
import { demuxDockerLog, tailText } from "../../src/run/run-output.js";

/** One Docker log frame: stream 1 (stdout) or 2 (stderr), 3 zero bytes, the size, the payload. */
function frame(stream: 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

describe("demuxDockerLog", () => {
  it("joins stdout and stderr frames in the order they were written", () => {
    const raw = Buffer.concat([frame(1, "out 1\n"), frame(2, "err 1\n"), frame(1, "out 2\n")]);
    expect(demuxDockerLog(raw).toString()).toBe("out 1\nerr 1\nout 2\n");
  });

  it("keeps what a cut-off last frame holds", () => {
    const raw = Buffer.concat([frame(1, "whole\n"), frame(1, "cut off").subarray(0, 11)]);
    expect(demuxDockerLog(raw).toString()).toBe("whole\ncut");
  });

  it("ignores a partial header at the end", () => {
    const raw = Buffer.concat([frame(2, "whole\n"), Buffer.from([1, 0, 0])]);
    expect(demuxDockerLog(raw).toString()).toBe("whole\n");
  });
});

describe("tailText", () => {
  it("returns short output whole", () => {
    expect(tailText(Buffer.from("hello"), 10)).toEqual({ text: "hello", truncated: false });
  });

  it("keeps the end of long output", () => {
    expect(tailText(Buffer.from("0123456789"), 4)).toEqual({ text: "6789", truncated: true });
  });

  it("never starts with half a character", () => {
    // "a" 1 byte, "é" 2, "€" 3 (E2 82 AC), "x" 1: 7 bytes.
    const bytes = Buffer.from("aé€x");
    expect(tailText(bytes, 4)).toEqual({ text: "€x", truncated: true });
    // 3 bytes would start inside "€": its two continuation bytes are dropped too.
    expect(tailText(bytes, 3)).toEqual({ text: "x", truncated: true });
  });
});
