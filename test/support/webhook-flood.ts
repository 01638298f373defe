import { randomBytes, randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { chunkedPost } from "./chunked-post.js";

/** Headers of a webhook post whose signature is well-formed but made of random bytes: it cannot verify. */
export function forgedWebhookHeaders(): Record<string, string> {
  return {
    "content-type": "application/json",
    "x-github-event": "push",
    "x-github-delivery": randomUUID(),
    "x-hub-signature-256": `sha256=${randomBytes(32).toString("hex")}`,
  };
}

/**
 * The webhook flood of issue 9, finding 6: `workers` clients at once, each posting a chunked
 * body of `bodyBytes` with a forged signature, again and again (after `retryDelayMs` when
 * refused), until the server has read `bodiesToRead` whole bodies (answered them after the
 * last byte). A client stops sending as soon as it gets an answer.
 */
export async function webhookFlood(url: string, options: { workers: number; bodyBytes: number; bodiesToRead: number; retryDelayMs: number }) {
  const chunk = Buffer.alloc(64 * 1024, 0x20); // a JSON-ish body of spaces; its content does not matter
  const statuses = new Map<number, number>();
  let read = 0;
  let failures = 0;
  const worker = async () => {
    while (read < options.bodiesToRead) {
      const post = chunkedPost(`${url}/webhooks/github`, forgedWebhookHeaders());
      for (let sent = 0; sent < options.bodyBytes && read < options.bodiesToRead; sent += chunk.length) {
        if (!(await post.write(chunk.subarray(0, Math.min(chunk.length, options.bodyBytes - sent))))) break;
      }
      if (read >= options.bodiesToRead && !post.answered) {
        post.destroy(); // the flood is over
        break;
      }
      post.end();
      const answer = await post.response.catch(() => undefined);
      post.destroy();
      if (!answer) {
        failures++;
        continue;
      }
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      if (answer.sentBefore >= options.bodyBytes) read++;
      else await sleep(options.retryDelayMs);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: options.workers }, worker));
  return { statuses, read, failures, seconds: (performance.now() - started) / 1000 };
}
