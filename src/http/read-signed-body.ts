import { createHmac, timingSafeEqual } from "node:crypto";
import type { ReadableStreamReadResult } from "node:stream/web";

/** `sha256=` and 64 lowercase hex digits: what GitHub writes in X-Hub-Signature-256. */
const SIGNATURE = /^sha256=([0-9a-f]{64})$/;

/** The HMAC-SHA256 digest an `X-Hub-Signature-256` value carries; undefined when the value is missing or malformed. */
export function parseSignature(header: string | undefined): Buffer | undefined {
  const hex = header === undefined ? undefined : SIGNATURE.exec(header)?.[1];
  return hex === undefined ? undefined : Buffer.from(hex, "hex");
}

/** Why a signed body was not accepted. */
export type SignedBodyRefusal = "too_large" | "timeout" | "bad_signature" | "broken";

/**
 * Reads a request body while hashing it (HMAC-SHA256 with `secret`), and hands its chunks
 * over only when the digest equals `signature`, compared in constant time. Until then the
 * body exists once, as the chunks that arrived: never decoded, never copied. Stops reading
 * and cancels the stream past `maxBytes` or after `timeoutMs`.
 */
export async function readSignedBody(
  body: ReadableStream<Uint8Array> | null,
  options: { secret: string; signature: Buffer; maxBytes: number; timeoutMs: number },
): Promise<{ ok: true; chunks: Uint8Array[]; bytes: number } | { ok: false; reason: SignedBodyRefusal }> {
  const hmac = createHmac("sha256", options.secret);
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  if (body) {
    const reader = body.getReader();
    let timedOut = false;
    // Cancelling ends a pending read with `done`, so a sender that stalls cannot hold the reader.
    const timer = setTimeout(() => {
      timedOut = true;
      reader.cancel().catch(() => undefined);
    }, options.timeoutMs);
    try {
      for (;;) {
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await reader.read();
        } catch {
          return { ok: false, reason: timedOut ? "timeout" : "broken" };
        }
        if (timedOut) return { ok: false, reason: "timeout" };
        if (next.done) break;
        bytes += next.value.byteLength;
        if (bytes > options.maxBytes) {
          await reader.cancel().catch(() => undefined);
          return { ok: false, reason: "too_large" };
        }
        hmac.update(next.value);
        chunks.push(next.value);
      }
    } finally {
      clearTimeout(timer);
    }
  }
  const digest = hmac.digest();
  if (digest.length !== options.signature.length || !timingSafeEqual(digest, options.signature)) return { ok: false, reason: "bad_signature" };
  return { ok: true, chunks, bytes };
}
