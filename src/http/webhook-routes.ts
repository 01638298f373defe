import { Hono } from "hono";
import type { Logger } from "pino";
import type { Deployer } from "../deploy/deployer.js";
import { BadRequestError, EserveslessError, UnauthorizedError } from "../errors.js";
import { handleWebhookEvent } from "../deploy/handle-webhook-event.js";
import type { Previews } from "../deploy/previews.js";
import type { DeliveryStore } from "../store/delivery-store.js";
import type { DeploymentStore } from "../store/deployment-store.js";
import type { RepositoryStore } from "../store/repository-store.js";
import { parseSignature, readSignedBody, type SignedBodyRefusal } from "./read-signed-body.js";
import { Slots } from "../slots.js";

/** GitHub caps webhook payloads at 25 MB; anything larger is not GitHub. */
export const WEBHOOK_MAX_BYTES = 25 * 1024 * 1024;
/**
 * Webhook bodies read at a time. Until its signature is checked a body is a stranger's bytes,
 * kept once as they arrive, so these slots bound that memory at 4 × 25 MB = 100 MB however many
 * posts come in; GitHub's deliveries are read in milliseconds, so 4 are rarely all taken.
 */
export const WEBHOOK_BODY_SLOTS = 4;
/** GitHub waits 10 s for an answer: a body still arriving after that is not a delivery GitHub waits for. */
export const WEBHOOK_READ_TIMEOUT_MS = 10_000;

// The signature covers the exact bytes: refuse rather than repair invalid UTF-8 or drop a BOM.
const strictUtf8 = () => new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

const unauthorized = () =>
  new UnauthorizedError("Webhook signature missing or wrong: check that WEBHOOK_SECRET matches the GitHub App's webhook secret.");

const refusals: Record<SignedBodyRefusal, () => EserveslessError> = {
  bad_signature: unauthorized,
  too_large: () => new EserveslessError("Webhook payload over 25 MB", { status: 413, code: "payload_too_large" }),
  timeout: () =>
    new EserveslessError(`Webhook body not received within ${WEBHOOK_READ_TIMEOUT_MS / 1000} s, GitHub's delivery timeout`, {
      status: 408,
      code: "request_timeout",
    }),
  broken: () => new BadRequestError("The webhook body broke off before its end"),
};

/**
 * `POST /webhooks/github`: refuses from the headers alone what cannot be a delivery, reads at most
 * {@link WEBHOOK_BODY_SLOTS} bodies at a time while verifying the signature over the raw bytes,
 * drops redeliveries, and answers at once; deployments run after the response.
 */
export function webhookRoutes(options: {
  webhookSecret: () => string | undefined;
  store: DeliveryStore & RepositoryStore & Pick<DeploymentStore, "deploymentOfCommit">;
  deployer: Deployer;
  log: Logger;
  previews?: Pick<Previews, "onPullRequest" | "onIssueComment">;
}) {
  const slots = new Slots(WEBHOOK_BODY_SLOTS);

  return new Hono().post("/webhooks/github", async (c) => {
    const secret = options.webhookSecret();
    if (!secret) {
      throw new EserveslessError("The GitHub App is not configured on this server: open /setup, or set APP_ID, PRIVATE_KEY and WEBHOOK_SECRET.", {
        status: 503,
        code: "github_not_configured",
      });
    }
    // Everything before the body is read is decided from the headers, so a stranger's post costs no memory.
    const signature = parseSignature(c.req.header("x-hub-signature-256"));
    if (!signature) throw unauthorized();
    const id = c.req.header("x-github-delivery");
    const name = c.req.header("x-github-event");
    if (!id || !name) throw new BadRequestError("X-GitHub-Delivery and X-GitHub-Event headers are required");
    if (Number(c.req.header("content-length") ?? 0) > WEBHOOK_MAX_BYTES) throw refusals.too_large();
    const release = slots.tryTake();
    if (!release) {
      throw new EserveslessError("Too many webhook deliveries at once; retry in a few seconds", {
        status: 503,
        code: "webhooks_busy",
        headers: { "retry-after": "5" },
      });
    }
    try {
      const read = await readSignedBody(c.req.raw.body, { secret, signature, maxBytes: WEBHOOK_MAX_BYTES, timeoutMs: WEBHOOK_READ_TIMEOUT_MS });
      if (!read.ok) throw refusals[read.reason]();

      let body = "";
      try {
        const decoder = strictUtf8();
        for (const chunk of read.chunks) body += decoder.decode(chunk, { stream: true });
        body += decoder.decode();
      } catch (cause) {
        throw new BadRequestError("The webhook body is not valid UTF-8", { cause });
      }
      read.chunks.length = 0; // the text replaces the bytes
      const log = options.log.child({ delivery: id, event: name });
      let payload: unknown;
      try {
        payload = JSON.parse(body);
      } catch (cause) {
        throw new BadRequestError("The webhook body is not JSON; set the App's webhook content type to application/json", { cause });
      }
      if (!options.store.recordDelivery(id, name)) {
        log.info({}, "redelivery ignored");
        return c.json({ action: "ignored", reason: "this delivery was already handled" }, 200);
      }
      let outcome;
      try {
        outcome = handleWebhookEvent(name, payload, { store: options.store, deployer: options.deployer, log, previews: options.previews });
      } catch (error) {
        // Not handled, so a redelivery must be handled again rather than acknowledged.
        options.store.forgetDelivery(id);
        throw error;
      }
      log.info({ outcome }, "webhook handled");
      return c.json(outcome, outcome.action === "deploying" ? 202 : 200);
    } finally {
      release();
    }
  });
}
