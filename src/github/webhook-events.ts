import type { EmitterWebhookEvent } from "@octokit/webhooks";
import type { Logger } from "pino";
import type { Deployer } from "../deploy/deployer.js";
import type { Store } from "../store/store.js";

type Payload<E extends "push" | "installation" | "installation_repositories"> = EmitterWebhookEvent<E>["payload"];

/** What eserveless did with one delivery; the webhook's response body. */
export type WebhookOutcome =
  | { action: "deploying"; deployment: { id: string; commit: string } }
  | { action: "ignored"; reason: string }
  | { action: "recorded"; reason: string };

const ZERO_SHA = /^0{40}$/;

/**
 * Acts on a verified GitHub event: a push to the default branch queues a
 * deployment; installation events keep the repository → installation map.
 */
export function handleWebhookEvent(
  name: string,
  payload: unknown,
  deps: { store: Store; deployer: Deployer; log: Logger },
): WebhookOutcome {
  switch (name) {
    case "ping":
      return { action: "recorded", reason: "pong" };
    case "push":
      return onPush(payload as Payload<"push">, deps);
    case "installation": {
      const event = payload as Payload<"installation">;
      if (event.action === "deleted" || event.action === "suspend") {
        deps.store.forgetInstallation(event.installation.id);
      } else {
        for (const repo of event.repositories ?? []) deps.store.upsertRepository({ fullName: repo.full_name, installationId: event.installation.id });
      }
      return { action: "recorded", reason: `installation ${event.action}` };
    }
    case "installation_repositories": {
      const event = payload as Payload<"installation_repositories">;
      for (const repo of event.repositories_added) deps.store.upsertRepository({ fullName: repo.full_name, installationId: event.installation.id });
      deps.store.forgetInstallation(event.installation.id, event.repositories_removed.flatMap((repo) => (repo.full_name ? [repo.full_name] : [])));
      return { action: "recorded", reason: `repositories ${event.action}` };
    }
    default:
      return { action: "ignored", reason: `eserveless does not act on ${name} events` };
  }
}

function onPush(event: Payload<"push">, deps: { store: Store; deployer: Deployer; log: Logger }): WebhookOutcome {
  const repository = event.repository.full_name;
  const defaultBranch = event.repository.default_branch ?? event.repository.master_branch;
  const installationId = event.installation?.id;
  if (installationId) deps.store.upsertRepository({ fullName: repository, installationId, defaultBranch });
  const ignore = (reason: string): WebhookOutcome => {
    deps.log.info({ repository, ref: event.ref, reason }, "push ignored");
    return { action: "ignored", reason };
  };
  if (event.deleted || ZERO_SHA.test(event.after)) return ignore(`${event.ref} was deleted; production is unchanged`);
  if (event.ref.startsWith("refs/tags/")) return ignore(`tag pushes do not deploy; push to ${defaultBranch} or use /redeploy with the tag`);
  if (event.ref !== `refs/heads/${defaultBranch}`) return ignore(`only pushes to the default branch (${defaultBranch}) deploy`);
  if (!installationId) return ignore("the push carries no installation; is it a webhook of the eserveless GitHub App?");

  const deployment = deps.deployer.enqueue({
    repository,
    commit: event.after,
    ref: event.ref,
    trigger: "push",
    source: { kind: "github", installationId },
  });
  return { action: "deploying", deployment: { id: deployment.id, commit: deployment.commit } };
}
