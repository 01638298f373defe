import type Docker from "dockerode";
import type { Logger } from "pino";
import type { RuntimeTemplate } from "../image/build-context.js";
import type { BuildSandbox } from "../image/build-sandbox.js";
import { EserveslessError } from "../errors.js";
import type { GitHubApp } from "../github/github-app.js";
import type { Pool } from "../run/pool.js";
import type { ProjectNetworks } from "../run/project-networks.js";
import { PRODUCTION, type Deployment, type DeploymentStore } from "../store/deployment-store.js";
import type { LiveFunction, LiveFunctionStore } from "../store/live-function-store.js";
import type { RepositoryStore } from "../store/repository-store.js";
import type { SecretStore } from "../store/secrets-store.js";
import { deploymentUrl, LOCAL_OWNER } from "../urls.js";
import { buildFunctionImage } from "./build-function-image.js";
import { checkCronFunctions } from "./check-cron-functions.js";
import { checkDeclaredSecrets } from "./check-declared-secrets.js";
import type { DeployJob, DeployRequest } from "./deploy-request.js";
import { createDeploymentContext, type DeploymentContext } from "./deployment-context.js";
import { fetchSource, type SourceLimits } from "./fetch-source.js";
import { plural, shortSha } from "../format.js";
import { pruneAbandonedImages, pruneImages } from "../image/prune-images.js";
import { goLive, liveFunctions, type PreviewScaling } from "./go-live.js";
import { environmentKey } from "../run/container-pool.js";
import { secretEnvironmentOf } from "../contract/secret.js";
import type { ManifestLimits } from "../manifest/manifest-limits.js";
import { LatestWinsQueue, Superseded } from "./latest-wins-queue.js";
import { DEFAULT_KEEP_RELEASES, pruneOldReleases } from "./prune-old-releases.js";
import { IMAGE_GONE, keptRelease, type KeptRelease } from "./kept-release.js";
import { deploymentMirror } from "./deployment-mirror.js";
import { DEFAULT_CHECKS_WAIT, waitForChecks, type ChecksWait } from "./wait-for-checks.js";
import { rollbackTarget } from "./rollback-target.js";
import { readProjectManifest } from "./read-project-manifest.js";
import { reportSuccess } from "./report-success.js";
import type { SecretRoller } from "./roll-secrets.js";
import { startReplicas, type StartedFunction } from "./start-replicas.js";
import { statusPoster, type PostStatus } from "./status-poster.js";

/** Why a deployment ended without a result; a redeploy runs it again. */
const INTERRUPTED = "Interrupted: eserveless stopped while this deployment ran; push again or use /redeploy";

/** The final states of a deployment that never went live: its image will never run. */
const NEVER_LIVE: ReadonlySet<Deployment["state"]> = new Set(["error", "failure", "superseded"]);

/** The abort reason of deployments running when eserveless shuts down. */
class ShuttingDown extends Error {
  constructor() {
    super("eserveless is shutting down");
    this.name = "ShuttingDown";
  }
}

export interface DeployerOptions {
  /** This eserveless's id, on every image it builds. */
  instance: string;
  store: DeploymentStore & LiveFunctionStore & RepositoryStore & Pick<SecretStore, "secretValues" | "maskSecrets">;
  docker: Docker;
  pool: Pool;
  /** The project and preview networks: cron checks join theirs; a preview closed while it deployed loses its own. */
  networks: ProjectNetworks;
  templates: Map<string, RuntimeTemplate>;
  images: { node: string; golang: string };
  /** What confines image builds: build network, memory, CPU, time and concurrent builds. */
  build: BuildSandbox;
  publicUrl: string;
  /** ESERVELESS_FUNCTIONS_URL: function URLs in statuses live there when set. */
  functionsUrl?: string;
  /** The GitHub App, when configured; read at each deployment so setup applies without a restart. */
  github: () => GitHubApp | undefined;
  sourceLimits?: SourceLimits;
  /** What a manifest may ask for (ESERVELESS_MAX_*); readManifest's defaults when absent. */
  manifestLimits?: ManifestLimits;
  log: Logger;
  /** ESERVELESS_KEEP_RELEASES: how many of a repository's latest releases keep their image for a rollback. */
  keepReleases?: number;
  /** How a `waitForChecks` deployment waits (ESERVELESS_CHECKS_GRACE, ESERVELESS_CHECKS_TIMEOUT). */
  checks?: ChecksWait;
  /** Called after a repository's functions switched to a new deployment (cron schedules follow it). */
  onLive?: (repository: string) => void;
  /** Secret changes: one made while a deployment started its containers rolls them once it is live (the one place that race is caught). */
  secrets?: Pick<SecretRoller, "generation" | "roll">;
  /** Pull-request previews: how they scale, whether one is still open, and its comment once a deployment ends. */
  previews?: PreviewHooks;
}

/** What the deployer asks of pull-request previews (deploy/previews.ts). */
export interface PreviewHooks extends PreviewScaling {
  /** False once the pull request closed: its deployment must not go live. */
  isOpen(job: DeployJob): boolean;
  /** Edits the pull request's comment to say how its deployment stands; never throws. */
  report(job: DeployJob): Promise<void>;
}

/** Why a preview's deployment stopped before going live: its pull request closed meanwhile. */
const PREVIEW_CLOSED = "The pull request was closed, so its preview was not deployed";

/** Runs deployments: one at a time per repository, the latest push wins. */
export type Deployer = ReturnType<typeof createDeployer>;

/**
 * Creates the deployment pipeline: source → manifest → image → ready
 * containers → switch → commit statuses.
 */
export function createDeployer(options: DeployerOptions) {
  const { store, docker, pool, publicUrl, instance, log: rootLog } = options;

  const queue = new LatestWinsQueue<DeployJob>(
    (job, signal) => run(job, signal),
    (dropped, by) => void supersede(dropped, by, rootLog).catch((error: unknown) => crashed(dropped, error)),
    (job, error) => crashed(job, error),
  );

  /** The last resort when recording a deployment's end itself failed (e.g. the disk is full). */
  function crashed(job: DeployJob, error: unknown): void {
    rootLog.error({ err: error, deployment: job.deploymentId, repository: job.repository }, "deployment crashed; its state may be stale");
  }

  /** A job's commit statuses; GitHub's refusals go to its deployment log. */
  const statusesOf = (job: Pick<DeployJob, "repository" | "commit" | "source" | "deploymentId">): PostStatus => {
    const post = statusPoster(job, options.github, (line) => store.appendLog(job.deploymentId, line));
    // A reason that quotes a function's output never shows a secret on GitHub.
    return (state, context, description, targetUrl) => post(state, context, store.maskSecrets(description), targetUrl);
  };
  /** Runs one deployment; a preview's comment says how it ended (a superseded one leaves that to its successor). */
  async function run(job: DeployJob, signal: AbortSignal): Promise<void> {
    const preview = (job.environment ?? PRODUCTION) !== PRODUCTION ? options.previews : undefined;
    await pipeline(job, signal, preview);
    if (!preview) return;
    if (store.getDeployment(job.deploymentId)?.state !== "superseded") await preview.report(job);
    // Its pull request closed while it built: the preview's removal may have run before its image and network existed.
    if (!preview.isOpen(job)) {
      await prunePreviewImages(job, rootLog, undefined);
      await options.networks.removeEnvironment(job.repository, job.environment!);
    }
  }

  async function pipeline(job: DeployJob, signal: AbortSignal, preview: PreviewHooks | undefined): Promise<void> {
    const environment = job.environment ?? PRODUCTION;
    // A preview's containers and cron checks get `preview` secrets, never production's.
    const secretValues = (repository: string, names: readonly string[]) => store.secretValues(repository, secretEnvironmentOf(environment), names);
    const deployment = createDeploymentContext(job, signal, { store, log: rootLog, status: statusesOf(job), publicUrl, mask: store.maskSecrets });
    // Started replicas that are not live yet: removed if the deployment ends any other way.
    let started: StartedFunction[] = [];
    // A rollback's pending status, posted while its container starts: every later status waits for it, so GitHub shows them in order.
    let pending: Promise<void> = Promise.resolve();
    const mirror = deploymentMirror(job, { github: options.github, urls: options, logUrl: deployment.pageUrl, say: deployment.say, log: deployment.log, environment });
    try {
      deployment.record({ state: "building" });
      if (preview) await preview.report(job);
      const kept = job.rollback ? keptRelease(deployment, { docker, store }, job.rollback) : undefined;
      // A rollback tells GitHub once Docker starts its container (below): its requests' work then runs while Docker works.
      if (!kept) mirror.start();
      let secretsGeneration: number | undefined;
      /** Starts the containers of `live` (one per http function; cron functions checked), remembering them for the clean-up. */
      const start = async (image: string, live: LiveFunction[], onStarting?: () => void) => {
        deployment.record({ state: "starting", image });
        secretsGeneration = options.secrets?.generation(job.repository, secretEnvironmentOf(environment));
        started = await startReplicas(deployment, pool, live, onStarting);
        // The first http container checked the cron functions; without one, each gets a container of its own.
        if (!live.some((fn) => fn.type === "http")) await checkCronFunctions(deployment, { docker, instance, networks: options.networks, secretValues }, live);
      };
      /** Starts a kept release while its image is looked up: false when the image is gone, so the commit is rebuilt. */
      const startKept = async (kept: KeptRelease): Promise<boolean> => {
        // Once Docker was asked to start its containers, not awaited: they start while GitHub is told (statusPoster never throws).
        let told = false;
        const tell = () => {
          if (told) return;
          told = true;
          mirror.start();
          pending = deployment.status("pending", "eserveless", `Rolling back to ${shortSha(job.commit)}…`, deployment.pageUrl);
        };
        try {
          // The release's functions may declare secrets deleted since: say so before a container starts.
          checkDeclaredSecrets(deployment, store, { functions: kept.live.map((fn) => fn.spec) }, secretEnvironmentOf(environment));
          await start(kept.image, kept.live, tell);
          return true;
        } catch (error) {
          tell();
          if (await kept.present) throw error;
          signal.throwIfAborted();
          deployment.say(`Rolling back to deployment ${job.rollback!.deploymentId}: ${IMAGE_GONE}, so commit ${shortSha(job.commit)} is rebuilt`);
          return false;
        }
      };
      let image: string;
      let live: LiveFunction[];
      if (kept && (await startKept(kept))) {
        ({ image, live } = kept);
      } else {
        const source = await fetchSource(deployment, options.github, options.sourceLimits);
        const manifest = await readProjectManifest(deployment, source, options.manifestLimits);
        if (!manifest) return skip(deployment, source.size);
        // Before the build, and before waiting for CI: a missing secret is said at once.
        checkDeclaredSecrets(deployment, store, manifest, secretEnvironmentOf(environment));
        // Production waits for CI; a preview is there to be looked at while CI runs.
        if (manifest.waitForChecks !== false && !preview && job.trigger !== "rollback") {
          await waitForChecks(deployment, options.github, manifest.waitForChecks, options.checks ?? DEFAULT_CHECKS_WAIT);
        }
        // After a kept image turned out gone, its "Rolling back" status first.
        await pending;
        await deployment.status("pending", "eserveless", `Building ${plural(manifest.functions.length, "function")}…`, deployment.pageUrl);
        image = await buildFunctionImage(deployment, options, source, manifest);
        live = liveFunctions(job, manifest, image, options.previews);
        await start(image, live);
      }
      // The last point a newer push can take over: after it, this deployment is live.
      signal.throwIfAborted();
      if (preview && !preview.isOpen(job)) throw new EserveslessError(PREVIEW_CLOSED, { code: "preview_closed" });
      const { coldStartMs } = goLive(deployment, { store, pool }, image, live, started);
      started = [];
      // Kept for a rollback to this deployment: its image and these restart it without its source.
      store.recordSpecs(job.deploymentId, live.map((fn) => fn.spec));
      // Cron schedules follow production only: a preview's cron functions run by hand.
      if (!preview) options.onLive?.(job.repository);
      // Its containers may hold a value changed since they started: roll them to the current one.
      if (options.secrets && options.secrets.generation(job.repository, secretEnvironmentOf(environment)) !== secretsGeneration) {
        void options.secrets.roll(job.repository, undefined, secretEnvironmentOf(environment));
      }
      await pending;
      await reportSuccess(deployment, options, { functions: live.map((fn) => fn.spec) }, coldStartMs, store.getDeployment(job.deploymentId)?.warnings.length ?? 0);
      // After the statuses: the user waits for those, not for the clean-up.
      if (preview) await prunePreviewImages(job, deployment.log, image);
      else await pruneOldReleases(deployment, { docker, instance, store, keep: options.keepReleases ?? DEFAULT_KEEP_RELEASES }, image);
    } catch (error) {
      await Promise.all([pool.discard(started.flatMap((f) => f.replicas)), pending]);
      if (signal.aborted && signal.reason instanceof Superseded) return await supersede(job, signal.reason.by, deployment.log);
      if (signal.aborted && signal.reason instanceof ShuttingDown) return await interrupted(deployment);
      return await fail(deployment, error);
    } finally {
      await mirror.end(store.getDeployment(job.deploymentId));
    }
  }

  /** Removes a preview's earlier images: a preview keeps only its live one (there is no rollback of a preview). */
  async function prunePreviewImages(job: DeployJob, log: Logger, image: string | undefined): Promise<void> {
    const pruned = await pruneImages(docker, instance, job.repository, image ? [image] : [], job.environment).catch((error: unknown) => {
      log.warn({ err: error }, "could not list the preview's old images; they go with its next deployment or its removal");
      return [];
    });
    if (pruned.length > 0) log.info({ pruned }, "removed the preview's old images");
  }

  /** Ends a deployment whose commit has no manifest: not an eserveless project. */
  function skip({ log, say, record }: DeploymentContext, files: number): void {
    log.info({ files }, "no .eserveless.yaml at the root of the commit; not an eserveless project, nothing deployed");
    say("No .eserveless.yaml at the root of this commit: it is not an eserveless project, so nothing was deployed.");
    record({ state: "skipped", description: "No .eserveless.yaml: not an eserveless project" });
  }

  /** Ends a deployment that a newer one of its repository replaced. */
  async function supersede(job: DeployJob, by: { commit: string; deploymentId: string }, log: Logger): Promise<void> {
    const description = `Superseded by ${shortSha(by.commit)}, which deploys instead`;
    store.appendLog(job.deploymentId, description);
    log.info({ deployment: job.deploymentId, by: by.deploymentId }, "deployment superseded");
    store.updateDeployment(job.deploymentId, { state: "superseded", description });
    // GitHub statuses have no "cancelled"; error says "not deployed" without blaming the commit's code.
    await statusesOf(job)("error", "eserveless", description, deploymentUrl(publicUrl, by.deploymentId));
  }

  /** Ends a deployment that eserveless's shutdown cut short. */
  async function interrupted({ say, record, status, pageUrl }: DeploymentContext): Promise<void> {
    say(INTERRUPTED);
    record({ state: "error", description: INTERRUPTED });
    await status("error", "eserveless", INTERRUPTED, pageUrl);
  }

  /** Ends a failed deployment: `failure` when the commit is to blame, `error` when eserveless or its dependencies are. */
  async function fail({ log, say, record, status, pageUrl }: DeploymentContext, error: unknown): Promise<void> {
    const known = error instanceof EserveslessError ? error : undefined;
    const state = known?.blame === "user" ? "failure" : "error";
    const reason = known?.message ?? `Internal error: ${(error as Error).message}`;
    say(`${state === "failure" ? "Deployment failed" : "Deployment errored"}: ${reason}`);
    if (!known) log.error({ err: error }, "deployment crashed");
    record({ state, description: reason });
    await status(state, "eserveless", reason, pageUrl);
  }

  /**
   * Removes the images of deployments that ended without going live: those
   * the last stop interrupted (ended at the stop, or just now), and any a
   * failure left. Otherwise they stay until their repository's next success.
   */
  async function pruneNeverLiveImages(): Promise<void> {
    // A process that died between the switch and the success left a live image on an interrupted deployment.
    const live = new Set(store.allLiveFunctions().map((fn) => fn.image));
    const abandoned = (id: string, tags: string[]) => {
      const state = store.getDeployment(id)?.state;
      // An image of a deployment this database does not know is left alone.
      return state !== undefined && NEVER_LIVE.has(state) && !tags.some((tag) => live.has(tag));
    };
    const removed = await pruneAbandonedImages(docker, instance, abandoned).catch((error: unknown) => {
      rootLog.warn({ err: error }, "could not list the images of deployments that never went live; they go with their repository's next success");
      return [];
    });
    if (removed.length > 0) rootLog.info({ removed }, "removed the images of deployments that never went live");
  }

  let closed = false;

  return {
    /** Records a deployment and queues it; returns at once. */
    enqueue(request: DeployRequest): Deployment {
      if (closed) throw new EserveslessError("eserveless is shutting down; retry in a moment", { status: 503, code: "shutting_down", headers: { "retry-after": "5" } });
      const deployment = store.createDeployment({ repository: request.repository, commit: request.commit, ref: request.ref, trigger: request.trigger, environment: request.environment });
      // One queue per environment: a preview never supersedes production, nor production a preview.
      queue.push(environmentKey(request.repository, request.environment), { ...request, deploymentId: deployment.id });
      rootLog.info({ deployment: deployment.id, repository: request.repository, commit: request.commit, trigger: request.trigger }, "deployment queued");
      return deployment;
    },
    /**
     * Queues a rollback of `repository` to an earlier release (see
     * {@link rollbackTarget} for what `to` may be): its kept image starts,
     * without a build. Returns at once.
     */
    rollback(repository: string, to: string | undefined): Deployment {
      const target = rollbackTarget(store, repository, to);
      const installationId = store.getRepository(target.repository)?.installationId;
      const local = target.repository.split("/")[0]!.toLowerCase() === LOCAL_OWNER;
      return this.enqueue({
        repository: target.repository,
        commit: target.commit,
        ref: target.ref,
        trigger: "rollback",
        source: !local && installationId ? { kind: "github", installationId } : { kind: "kept" },
        rollback: { deploymentId: target.id, image: target.image },
      });
    },
    /** Resolves when no deployment runs or waits. */
    idle: () => queue.idle(),

    /**
     * Ends deployments a previous process left unfinished as `error`, on the
     * deployment and on its commit, instead of leaving them pending forever.
     */
    async recoverInterrupted(): Promise<number> {
      const interrupted = store.failInterruptedDeployments(INTERRUPTED);
      for (const deployment of interrupted) {
        const installationId = store.getRepository(deployment.repository)?.installationId;
        if (deployment.trigger === "local" || !installationId) continue;
        await statusesOf({ ...deployment, deploymentId: deployment.id, source: { kind: "github", installationId } })(
          "error",
          "eserveless",
          INTERRUPTED,
          deploymentUrl(publicUrl, deployment.id),
        );
      }
      await pruneNeverLiveImages();
      return interrupted.length;
    },

    /**
     * Stops taking deployments, aborts the running ones (recorded as
     * interrupted) and waits for them, at most `timeoutMs`.
     */
    async close(timeoutMs = 10_000): Promise<void> {
      closed = true;
      queue.abortAll(new ShuttingDown());
      await Promise.race([queue.idle(), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
    },
  };
}
