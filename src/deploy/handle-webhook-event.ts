import type { Logger } from "pino";
import * as v from "valibot";
import type { Deployer } from "./deployer.js";
import type { Previews } from "./previews.js";
import { BadRequestError } from "../errors.js";
import { shortSha } from "../format.js";
import { finalStates, PRODUCTION, type DeploymentStore } from "../store/deployment-store.js";
import type { RepositoryStore } from "../store/repository-store.js";
import { LOCAL_OWNER } from "../urls.js";

// Only the fields eserveless reads, checked once here; GitHub sends many more.
const Repository = v.object({ full_name: v.string() });
const Installation = v.object({ id: v.number() });

const PushEvent = v.object({
  ref: v.string(),
  after: v.string(),
  deleted: v.optional(v.boolean(), false),
  /** A force-push: the branch was moved to a commit that may have been live before (a rollback by git). */
  forced: v.optional(v.boolean(), false),
  repository: v.object({ full_name: v.string(), default_branch: v.optional(v.string()), master_branch: v.optional(v.string()) }),
  installation: v.optional(Installation),
});

const InstallationEvent = v.object({
  action: v.string(),
  installation: Installation,
  repositories: v.optional(v.array(Repository), []),
});

const InstallationRepositoriesEvent = v.object({
  action: v.string(),
  installation: Installation,
  repositories_added: v.array(Repository),
  repositories_removed: v.array(v.object({ full_name: v.optional(v.string()) })),
});

/** Parses the part of a payload eserveless uses; a 400 names the field that is off. */
export function parse<S extends v.GenericSchema>(schema: S, payload: unknown, event: string): v.InferOutput<S> {
  const result = v.safeParse(schema, payload);
  if (result.success) return result.output;
  const issue = result.issues[0];
  throw new BadRequestError(`The ${event} payload has no valid ${v.getDotPath(issue) ?? "body"}: ${issue.message}`);
}

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
  deps: { store: RepositoryStore & Pick<DeploymentStore, "deploymentOfCommit">; deployer: Deployer; log: Logger; /** Pull-request previews; their events are ignored without. */ previews?: Pick<Previews, "onPullRequest" | "onIssueComment"> },
): WebhookOutcome {
  switch (name) {
    case "pull_request":
      if (!deps.previews) return { action: "ignored", reason: "previews are off on this server (ESERVELESS_MAX_PREVIEWS=0)" };
      return deps.previews.onPullRequest(payload, deps.log);
    case "issue_comment":
      if (!deps.previews) return { action: "ignored", reason: "previews are off on this server (ESERVELESS_MAX_PREVIEWS=0)" };
      return deps.previews.onIssueComment(payload, deps.log);
    case "ping":
      return { action: "recorded", reason: "pong" };
    case "push":
      return onPush(parse(PushEvent, payload, name), deps);
    case "installation": {
      const event = parse(InstallationEvent, payload, name);
      if (event.action === "deleted" || event.action === "suspend") {
        deps.store.forgetInstallation(event.installation.id);
      } else {
        for (const repo of event.repositories) deps.store.upsertRepository({ fullName: repo.full_name, installationId: event.installation.id });
      }
      return { action: "recorded", reason: `installation ${event.action}` };
    }
    case "installation_repositories": {
      const event = parse(InstallationRepositoriesEvent, payload, name);
      for (const repo of event.repositories_added) deps.store.upsertRepository({ fullName: repo.full_name, installationId: event.installation.id });
      deps.store.forgetInstallation(event.installation.id, event.repositories_removed.flatMap((repo) => (repo.full_name ? [repo.full_name] : [])));
      return { action: "recorded", reason: `repositories ${event.action}` };
    }
    default:
      return { action: "ignored", reason: `eserveless does not act on ${name} events` };
  }
}

function onPush(
  event: v.InferOutput<typeof PushEvent>,
  deps: { store: RepositoryStore & Pick<DeploymentStore, "deploymentOfCommit">; deployer: Deployer; log: Logger },
): WebhookOutcome {
  const repository = event.repository.full_name;
  const defaultBranch = event.repository.default_branch ?? event.repository.master_branch ?? "main";
  const installationId = event.installation?.id;
  if (installationId) deps.store.upsertRepository({ fullName: repository, installationId, defaultBranch });
  const ignore = (reason: string): WebhookOutcome => {
    deps.log.info({ repository, ref: event.ref, reason }, "push ignored");
    return { action: "ignored", reason };
  };
  if (repository.split("/")[0]!.toLowerCase() === LOCAL_OWNER) return ignore(`the owner "${LOCAL_OWNER}" is reserved for folders deployed with eserveless deploy; its URLs would collide`);
  if (event.deleted || ZERO_SHA.test(event.after)) return ignore(`${event.ref} was deleted; production is unchanged`);
  if (event.ref.startsWith("refs/tags/")) return ignore(`tag pushes do not deploy; push to ${defaultBranch} or use /redeploy with the tag`);
  if (event.ref !== `refs/heads/${defaultBranch}`) return ignore(`only pushes to the default branch (${defaultBranch}) deploy`);
  if (!installationId) return ignore("the push carries no installation; is it a webhook of the eserveless GitHub App?");
  // A signed push replayed under a new delivery id would deploy its commit again, over what went live since.
  // Git moves a branch back only by force, so only a force-push deploys a commit a second time.
  const earlier = event.forced ? undefined : deps.store.deploymentOfCommit(repository, PRODUCTION, event.after);
  if (earlier) {
    return ignore(
      `commit ${shortSha(event.after)} ${finalStates.has(earlier.state) ? "was already" : "is already being"} deployed to ${PRODUCTION} (deployment ${earlier.id}, ${earlier.state}); ` +
        "a push deploys a commit once, so a replayed delivery cannot roll production back. To deploy it again, use /redeploy (eserveless deploy OWNER/REPO --ref SHA) or force-push",
    );
  }

  const deployment = deps.deployer.enqueue({
    repository,
    commit: event.after,
    ref: event.ref,
    trigger: "push",
    source: { kind: "github", installationId },
  });
  return { action: "deploying", deployment: { id: deployment.id, commit: deployment.commit } };
}
