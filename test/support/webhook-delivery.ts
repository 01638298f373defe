import { createHmac, randomUUID } from "node:crypto";

/**
 * Builds the headers and raw body of a webhook delivery signed like GitHub's
 * (X-Hub-Signature-256 = "sha256=" + HMAC-SHA256 hex of the raw body).
 */
export function webhookDelivery(input: { event: string; payload: unknown; secret: string; id?: string }): {
  headers: Record<string, string>;
  body: string;
} {
  const body = JSON.stringify(input.payload);
  return {
    headers: {
      "content-type": "application/json",
      "user-agent": "GitHub-Hookshot/emulator",
      "x-github-event": input.event,
      "x-github-delivery": input.id ?? randomUUID(),
      "x-hub-signature-256": `sha256=${createHmac("sha256", input.secret).update(body).digest("hex")}`,
    },
    body,
  };
}
