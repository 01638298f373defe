import type Docker from "dockerode";
import type { Logger } from "pino";
import * as v from "valibot";
import { shortSha } from "../format.js";
import type { GitHubApp } from "../github/github-app.js";
import { deactivateEnvironment } from "../github/github-deployment.js";
import { canWrite, lacksPermission, writePullRequestComment } from "../github/pull-request-comment.js";
import { pruneImages } from "../image/prune-images.js";
import { outputKey, type ContainerPool } from "../run/container-pool.js";
import type { ProjectNetworks } from "../run/project-networks.js";
import type { CronRunStore } from "../store/cron-run-store.js";
import type { Deployment, DeploymentStore } from "../store/deployment-store.js";
import type { FunctionOutputStore } from "../store/function-output-store.js";
import type { LiveFunctionStore } from "../store/live-function-store.js";
import type { Preview, PreviewStore } from "../store/preview-store.js";
import type { RepositoryStore } from "../store/repository-store.js";
import { cronRunsUrl, deploymentUrl, environmentFunctionUrl, runByHandCommand, LOCAL_OWNER, previewEnvironment, previewNumber, projectUrl, type ServerUrls } from "../urls.js";
import type { DeployJob, DeployRequest } from "./deploy-request.js";
import type { PreviewHooks } from "./deployer.js";
import { parse, type WebhookOutcome } from "./handle-webhook-event.js";

/** Hidden in every comment eserveless writes, so a reader of the thread's source can tell it. */
const MARKER = "<!-- eserveless-preview -->";

/** The comment a maintainer writes to deploy a fork's head commit. */
export const PREVIEW_COMMAND = "/preview";

const PullRequestEvent = v.object({
  action: v.string(),
  number: v.pipe(v.number(), v.integer(), v.minValue(1)),
  pull_request: v.object({
    merged: v.optional(v.nullable(v.boolean()), false),
    head: v.object({ sha: v.pipe(v.string(), v.regex(/^[0-9a-f]{40}$/i, "not a commit sha")), repo: v.nullable(v.object({ full_name: v.string() })) }),
  }),
  repository: v.object({ full_name: v.string() }),
  installation: v.optional(v.object({ id: v.number() })),
});

const IssueCommentEvent = v.object({
  action: v.string(),
  issue: v.object({ number: v.pipe(v.number(), v.integer(), v.minValue(1)), pull_request: v.optional(v.unknown()) }),
  comment: v.object({ body: v.pipe(v.string(), v.maxLength(65_536)), user: v.object({ login: v.string() }) }),
  repository: v.object({ full_name: v.string() }),
  installation: v.optional(v.object({ id: v.number() })),
});

export interface PreviewOptions {
  store: PreviewStore &
    Pick<LiveFunctionStore, "allLiveFunctions" | "removeLiveFunctions"> &
    Pick<DeploymentStore, "getDeployment" | "deploymentOfCommit"> &
    Pick<FunctionOutputStore, "forgetOutput"> &
    Pick<CronRunStore, "forgetRuns"> &
    Pick<RepositoryStore, "upsertRepository">;
  github: () => GitHubApp | undefined;
  /** Queues a deployment (the deployer's enqueue). */
  deploy: (request: DeployRequest) => Deployment;
  pool: Pick<ContainerPool, "removeProject">;
  /** Each preview has a network of its own, removed with it. */
  networks: Pick<ProjectNetworks, "removeEnvironment">;
  docker: Docker;
  instance: string;
  urls: ServerUrls;
  /** ESERVELESS_MAX_PREVIEWS: open previews per repository; the oldest goes to make room. */
  maxPreviews: number;
  /** ESERVELESS_PREVIEW_IDLE_TIMEOUT, seconds: a preview's replicas stop after this long idle (or their own shorter idleTimeout). */
  idleTimeout: number;
  log: Logger;
}

/** Pull-request previews: what their events do, their one comment, their removal. */
export type Previews = ReturnType<typeof createPreviews>;

/**
 * Previews per pull request: `opened`, `reopened` and `synchronize` deploy
 * a same-repository head as environment `pr-<number>`; `closed` removes it;
 * a fork's head is deployed only after a `/preview` comment from someone
 * with write access, and only the commit it was written for.
 */
export function createPreviews(options: PreviewOptions) {
  const { store, log: rootLog } = options;
  /** Comment writes of one pull request, one after another: a create must finish before an edit. */
  const comments = new Map<string, Promise<void>>();
  /** Removals under way, so tests and shutdown can wait for them. */
  const removals = new Set<Promise<void>>();

  const keyOf = (repository: string, number: number) => `${repository.toLowerCase()}#${number}`;

  /** Writes the pull request's one comment; GitHub's refusal is logged (with the permission to accept when that is why), never thrown. */
  function comment(preview: Preview, body: string): Promise<void> {
    const key = keyOf(preview.repository, preview.number);
    const next = (comments.get(key) ?? Promise.resolve()).then(async () => {
      const app = options.github();
      if (!app) return;
      const [owner, repo] = preview.repository.split("/") as [string, string];
      const current = store.getPreview(preview.repository, preview.number);
      const log = rootLog.child({ repository: preview.repository, pullRequest: preview.number });
      try {
        const id = await writePullRequestComment(await app.installation(preview.installationId), { owner, repo, number: preview.number, commentId: current?.commentId ?? null, body: `${MARKER}\n${body}` });
        if (id !== current?.commentId) store.setPreviewComment(preview.repository, preview.number, id);
      } catch (error) {
        if (lacksPermission(error)) {
          log.warn(
            { err: error, permission: "pull_requests: write" },
            "GitHub refused the preview comment: the App's installation lacks the pull_requests: write permission; accept it in the organisation's or account's Settings → GitHub Apps → eserveless (previews deploy without the comment meanwhile)",
          );
        } else {
          log.warn({ err: error }, "GitHub refused the preview comment; the next deployment of the pull request writes it again");
        }
      }
    });
    comments.set(key, next);
    void next.finally(() => {
      if (comments.get(key) === next) comments.delete(key);
    });
    return next;
  }

  /** The comment of a deployment: its commit, its state, and its functions' preview URLs or its failure's reason. */
  function deploymentComment(preview: Preview, deployment: Deployment): string {
    const environment = previewEnvironment(preview.number);
    const page = deploymentUrl(options.urls.publicUrl, deployment.id);
    const head = `### eserveless preview\n\n**Commit** \`${shortSha(deployment.commit)}\` · **State** ${deployment.state}`;
    if (deployment.state === "success") {
      const rows = deployment.functions.map((fn) =>
        fn.type === "http"
          ? `| ${fn.name} | http | ${environmentFunctionUrl(options.urls, preview.repository, environment, fn.name)} |`
          : `| ${fn.name} | cron | not scheduled in previews; run it by hand: \`${runByHandCommand(preview.repository, fn.name, environment)}\` ([runs](${cronRunsUrl(options.urls.publicUrl, preview.repository, fn.name, environment)})) |`,
      );
      return `${head}\n\n| Function | Type | Preview URL |\n| --- | --- | --- |\n${rows.join("\n")}\n\n${deployment.description ?? ""} ([log](${page}))\n\nThe URLs stay the same for this pull request's life; each push updates them.`;
    }
    if (deployment.state === "failure" || deployment.state === "error") {
      return `${head}\n\nThe preview was not deployed: ${deployment.description ?? "no reason recorded"}\n\n[Deployment log](${page})`;
    }
    return `${head}\n\nDeploying commit \`${shortSha(deployment.commit)}\`… ([log](${page}))`;
  }

  function forkComment(preview: Preview): string {
    return (
      `### eserveless preview\n\n**Not deployed**: this pull request comes from a fork (\`${preview.headRepository ?? "a deleted repository"}\`). ` +
      "Its code would run on this server with no review, so eserveless does not deploy pull requests from forks by default.\n\n" +
      `A maintainer with write access who has read commit \`${shortSha(preview.headSha)}\` can comment \`${PREVIEW_COMMAND}\` to deploy that commit as this pull request's preview. ` +
      `Each new push needs a new \`${PREVIEW_COMMAND}\`.`
    );
  }

  /** Queues the preview's deployment of `sha`, making room first when the repository has its most previews. */
  function deployPreview(preview: Preview, sha: string): WebhookOutcome {
    const environment = previewEnvironment(preview.number);
    makeRoom(preview);
    const deployment = options.deploy({
      repository: preview.repository,
      commit: sha,
      ref: `refs/pull/${preview.number}/head`,
      trigger: "push",
      source: { kind: "github", installationId: preview.installationId },
      environment,
    });
    return { action: "deploying", deployment: { id: deployment.id, commit: deployment.commit } };
  }

  /** At most maxPreviews deployed previews per repository: the oldest others go, with a word in their comment. */
  function makeRoom(preview: Preview): void {
    const others = store
      .openPreviews(preview.repository)
      .filter((p) => p.number !== preview.number && (!p.fork || p.approvedSha !== null));
    const excess = others.length - (options.maxPreviews - 1);
    for (const oldest of others.slice(0, Math.max(0, excess))) {
      store.closePreview(oldest.repository, oldest.number);
      track(
        remove(oldest, `it was the oldest of ${options.maxPreviews} previews of ${preview.repository} (ESERVELESS_MAX_PREVIEWS) when #${preview.number} needed one. Push to the pull request to deploy it again.`),
      );
    }
  }

  function track(removal: Promise<void>): void {
    removals.add(removal);
    void removal.finally(() => removals.delete(removal));
  }

  /**
   * Takes a preview down: its functions first (its URLs answer 410 at once),
   * then its containers once their requests finish, its network, its output
   * and its images; then its comment says so. Never throws: what Docker refuses stays
   * until the next start, and is logged.
   */
  async function remove(preview: Preview, why: string): Promise<void> {
    const environment = previewEnvironment(preview.number);
    const log = rootLog.child({ repository: preview.repository, environment });
    const functions = store.removeLiveFunctions(preview.repository, environment);
    const containers = await options.pool.removeProject(preview.repository, environment);
    // A run by hand still under way keeps it until the next start (logged).
    const network = await options.networks.removeEnvironment(preview.repository, environment);
    store.forgetOutput(outputKey({ repository: preview.repository, environment }));
    // Its cron functions' runs (by hand) go with it: a pull request number is never reused.
    const runs = store.forgetRuns(preview.repository, environment);
    const images = await pruneImages(options.docker, options.instance, preview.repository, [], environment).catch((error: unknown) => {
      log.warn({ err: error }, "could not remove the preview's images; remove them with docker image rm, or they go when eserveless next removes the project");
      return [];
    });
    log.info({ functions, containers, network, images, runs }, "preview removed");
    await deactivate(preview, log);
    await comment(preview, `### eserveless preview\n\n**Removed**: the preview was removed because ${why} Its URLs now answer 410 Gone.`);
  }

  /** GitHub's environment of the preview goes `inactive`; a refusal (no deployments: write) is logged, never thrown. */
  async function deactivate(preview: Preview, log: Logger): Promise<void> {
    const app = options.github();
    if (!app) return;
    const [owner, repo] = preview.repository.split("/") as [string, string];
    const environment = previewEnvironment(preview.number);
    await deactivateEnvironment(await app.installation(preview.installationId), {
      owner,
      repo,
      environment,
      description: `Removed with pull request #${preview.number}`,
      logUrl: projectUrl(options.urls.publicUrl, preview.repository),
    }).catch((error: unknown) => log.warn({ err: error, environment }, "GitHub refused to mark the preview's environment inactive; it stays listed on GitHub"));
  }

  function onPullRequest(payload: unknown, log: Logger): WebhookOutcome {
    const event = parse(PullRequestEvent, payload, "pull_request");
    const repository = event.repository.full_name;
    const ignore = (reason: string): WebhookOutcome => {
      log.info({ repository, pullRequest: event.number, action: event.action, reason }, "pull request event ignored");
      return { action: "ignored", reason };
    };
    if (repository.split("/")[0]!.toLowerCase() === LOCAL_OWNER) return ignore(`the owner "${LOCAL_OWNER}" is reserved for folders deployed with eserveless deploy`);
    const installationId = event.installation?.id;
    if (!installationId) return ignore("the event carries no installation; is it a webhook of the eserveless GitHub App?");
    store.upsertRepository({ fullName: repository, installationId });

    if (event.action === "closed") {
      const preview = store.getPreview(repository, event.number);
      if (!preview || !store.closePreview(repository, event.number)) return ignore(`pull request #${event.number} has no open preview`);
      track(remove(preview, `pull request #${event.number} was ${event.pull_request.merged ? "merged" : "closed"}.`));
      return { action: "recorded", reason: `removing the preview of pull request #${event.number}` };
    }
    if (!["opened", "reopened", "synchronize"].includes(event.action)) return ignore(`pull request ${event.action} events change no preview`);

    const head = event.pull_request.head;
    const fork = head.repo?.full_name.toLowerCase() !== repository.toLowerCase();
    const preview = store.upsertPreview({ repository, number: event.number, headSha: head.sha, headRepository: head.repo?.full_name ?? null, fork, installationId });
    if (fork && preview.approvedSha?.toLowerCase() !== head.sha.toLowerCase()) {
      void comment(preview, forkComment(preview));
      return ignore(`pull request #${event.number} comes from a fork; a maintainer's ${PREVIEW_COMMAND} comment deploys its head commit`);
    }
    // A replayed delivery must not deploy the same head twice.
    const earlier = store.deploymentOfCommit(repository, previewEnvironment(event.number), head.sha);
    if (earlier && event.action === "synchronize") return ignore(`commit ${shortSha(head.sha)} was already deployed to pull request #${event.number}'s preview (deployment ${earlier.id})`);
    return deployPreview(preview, head.sha);
  }

  function onIssueComment(payload: unknown, log: Logger): WebhookOutcome {
    const event = parse(IssueCommentEvent, payload, "issue_comment");
    const repository = event.repository.full_name;
    const command = event.comment.body.trim().split(/\s+/)[0]?.toLowerCase();
    if (event.action !== "created" || event.issue.pull_request === undefined || command !== PREVIEW_COMMAND) {
      return { action: "ignored", reason: `only a ${PREVIEW_COMMAND} comment on a pull request acts` };
    }
    const preview = store.getPreview(repository, event.issue.number);
    if (!preview || preview.state !== "open") return { action: "ignored", reason: `pull request #${event.issue.number} has no open preview to allow` };
    const user = event.comment.user.login;
    const sha = preview.headSha;
    track(
      (async () => {
        const app = options.github();
        if (!app) return;
        const [owner, repo] = repository.split("/") as [string, string];
        const allowed = await canWrite(await app.installation(preview.installationId), { owner, repo, username: user }).catch((error: unknown) => {
          log.warn({ err: error, user }, "could not read the commenter's permission on GitHub; the preview is not deployed");
          return false;
        });
        if (!allowed) {
          log.info({ repository, pullRequest: preview.number, user }, "a /preview from someone without write access: not deployed");
          await comment(preview, `${forkComment(preview)}\n\n@${user} asked for a preview, but only someone with write access to ${repository} can allow one.`);
          return;
        }
        // Exactly the commit the maintainer saw: a push after the comment needs another /preview.
        const current = store.getPreview(repository, preview.number);
        if (current?.state !== "open" || current.headSha !== sha) return;
        store.approvePreview(repository, preview.number, sha);
        log.info({ repository, pullRequest: preview.number, user, commit: shortSha(sha) }, "fork preview allowed by a maintainer");
        deployPreview(current, sha);
      })(),
    );
    return { action: "recorded", reason: `checking whether ${user} may allow a preview of #${preview.number}` };
  }

  const hooks: PreviewHooks = {
    idleTimeout: options.idleTimeout,
    isOpen: (job: DeployJob) => {
      const number = previewNumber(job.environment ?? "");
      return number !== undefined && store.getPreview(job.repository, number)?.state === "open";
    },
    report: async (job: DeployJob) => {
      const number = previewNumber(job.environment ?? "");
      const preview = number === undefined ? undefined : store.getPreview(job.repository, number);
      const deployment = store.getDeployment(job.deploymentId);
      // A closed pull request's comment says it was removed; a later report must not overwrite that.
      if (!preview || preview.state !== "open" || !deployment) return;
      await comment(preview, deploymentComment(preview, deployment));
    },
  };

  return {
    hooks,
    onPullRequest,
    onIssueComment,
    /** Why a preview URL answers 410, when its pull request closed; undefined when it never existed or is open. */
    gone(repository: string, number: number): string | undefined {
      const preview = store.getPreview(repository, number);
      if (preview?.state !== "closed") return undefined;
      return `The preview of ${preview.repository} pull request #${number} was removed with the pull request (closed, merged, or the oldest past ESERVELESS_MAX_PREVIEWS).`;
    },
    /** Resolves when no removal or comment is under way. */
    async idle(): Promise<void> {
      while (removals.size > 0 || comments.size > 0) await Promise.all([...removals, ...comments.values()]);
    },
  };
}
