import { createHmac } from "node:crypto";
import { ReadableStream } from "node:stream/web";
import { describe, expect, it } from "vitest";
import { parseSignature, readSignedBody } from "../../src/http/read-signed-body.js";

const SECRET = "a-webhook-secret";
const sign = (body: string) => createHmac("sha256", SECRET).update(body).digest();

/** A body arriving in `pieces`, then ending (or stalling, or failing); records whether the reader cancelled it. */
function body(pieces: string[], end: "close" | "stall" | "error" = "close") {
  const state = { cancelled: false };
  let next = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (next < pieces.length) return controller.enqueue(Buffer.from(pieces[next++]!));
      if (end === "close") return controller.close();
      if (end === "error") return controller.error(new Error("connection reset"));
      return new Promise<void>(() => undefined); // a sender that stops sending
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

describe("parseSignature", () => {
  it("takes sha256= and 64 lowercase hex digits, as GitHub writes them", () => {
    const digest = sign("x");
    expect(parseSignature(`sha256=${digest.toString("hex")}`)).toEqual(digest);
  });

  it("refuses anything else", () => {
    const hex = sign("x").toString("hex");
    for (const value of [undefined, "", hex, `sha256=${hex.slice(1)}`, `sha256=${hex}0`, `sha256=${hex.toUpperCase()}`, `sha1=${hex.slice(0, 40)}`, `sha256=${hex} `]) {
      expect(parseSignature(value), JSON.stringify(value)).toBeUndefined();
    }
  });
});

describe("readSignedBody", () => {
  const options = { secret: SECRET, maxBytes: 1024, timeoutMs: 2_000 };

  it("hands over the chunks of a body whose signature matches", async () => {
    const { stream } = body(['{"zen":', '"Keep it ', 'logically awesome."}']);
    const read = await readSignedBody(stream, { ...options, signature: sign('{"zen":"Keep it logically awesome."}') });
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    expect(Buffer.concat(read.chunks).toString()).toBe('{"zen":"Keep it logically awesome."}');
    expect(read.bytes).toBe(36);
  });

  it("verifies an empty body", async () => {
    expect((await readSignedBody(null, { ...options, signature: sign("") })).ok).toBe(true);
  });

  it("refuses a signature made with another secret or over another body", async () => {
    const other = createHmac("sha256", "another-secret").update("abc").digest();
    expect(await readSignedBody(body(["abc"]).stream, { ...options, signature: other })).toEqual({ ok: false, reason: "bad_signature" });
    expect(await readSignedBody(body(["abd"]).stream, { ...options, signature: sign("abc") })).toEqual({ ok: false, reason: "bad_signature" });
  });

  it("stops at maxBytes and cancels the rest of the body", async () => {
    const { stream, state } = body(["a".repeat(1000), "a".repeat(1000), "never read"], "stall");
    expect(await readSignedBody(stream, { ...options, signature: sign("") })).toEqual({ ok: false, reason: "too_large" });
    expect(state.cancelled).toBe(true);
  });

  it("stops a body that stalls after timeoutMs and cancels it", async () => {
    const { stream, state } = body(["{"], "stall");
    const started = performance.now();
    expect(await readSignedBody(stream, { ...options, timeoutMs: 200, signature: sign("{") })).toEqual({ ok: false, reason: "timeout" });
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(state.cancelled).toBe(true);
  });

  it("says when the body broke off", async () => {
    expect(await readSignedBody(body(["{"], "error").stream, { ...options, signature: sign("{") })).toEqual({ ok: false, reason: "broken" });
  });
});
