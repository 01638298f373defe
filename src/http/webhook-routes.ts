import { Webhooks } from "@octokit/webhooks";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Logger } from "pino";
import type { Deployer } from "../deploy/deployer.js";
import { BadRequestError, EserveslessError, UnauthorizedError } from "../errors.js";
import { handleWebhookEvent } from "../deploy/handle-webhook-event.js";
import type { DeliveryStore } from "../store/delivery-store.js";
import type { DeploymentStore } from "../store/deployment-store.js";
import type { RepositoryStore } from "../store/repository-store.js";

// The signature covers the exact bytes: refuse rather than repair invalid UTF-8 or drop a BOM.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * `POST /webhooks/github`: verifies the signature over the raw body, drops
 * redeliveries, and answers at once; deployments run after the response.
 */
export function webhookRoutes(options: { webhookSecret: () => string | undefined; store: DeliveryStore & RepositoryStore & Pick<DeploymentStore, "deploymentOfCommit">; deployer: Deployer; log: Logger }) {
  let verifier: { secret: string; webhooks: Webhooks } | undefined;
  const webhooksFor = (secret: string) => {
    if (verifier?.secret !== secret) verifier = { secret, webhooks: new Webhooks({ secret }) };
    return verifier.webhooks;
  };

  // GitHub caps payloads at 25 MB; anything larger is not GitHub.
  const limit = bodyLimit({
    maxSize: 25 * 1024 * 1024,
    onError: () => {
      throw new EserveslessError("Webhook payload over 25 MB", { status: 413, code: "payload_too_large" });
    },
  });
  return new Hono().post("/webhooks/github", limit, async (c) => {
    const secret = options.webhookSecret();
    if (!secret) {
      throw new EserveslessError("The GitHub App is not configured on this server: open /setup, or set APP_ID, PRIVATE_KEY and WEBHOOK_SECRET.", {
        status: 503,
        code: "github_not_configured",
      });
    }
    let body: string;
    try {
      body = strictUtf8.decode(await c.req.arrayBuffer());
    } catch (cause) {
      throw new BadRequestError("The webhook body is not valid UTF-8", { cause });
    }
    const signature = c.req.header("x-hub-signature-256");
    const valid = signature ? await webhooksFor(secret).verify(body, signature).catch(() => false) : false;
    if (!valid) throw new UnauthorizedError("Webhook signature missing or wrong: check that WEBHOOK_SECRET matches the GitHub App's webhook secret.");

    const id = c.req.header("x-github-delivery");
    const name = c.req.header("x-github-event");
    if (!id || !name) throw new BadRequestError("X-GitHub-Delivery and X-GitHub-Event headers are required");
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
      outcome = handleWebhookEvent(name, payload, { store: options.store, deployer: options.deployer, log });
    } catch (error) {
      // Not handled, so a redelivery must be handled again rather than acknowledged.
      options.store.forgetDelivery(id);
      throw error;
    }
    log.info({ outcome }, "webhook handled");
    return c.json(outcome, outcome.action === "deploying" ? 202 : 200);
  });
}
