import type Docker from "dockerode";
import type { Logger } from "pino";
import { buildImage } from "../image/build-image.js";
import { pruneImages } from "../image/prune-images.js";
import { createBuildContext, type RuntimeTemplate } from "../image/build-context.js";
import { EserveslessError } from "../errors.js";
import { downloadTarball } from "../github/download-tarball.js";
import type { GitHubApp } from "../github/github-app.js";
import { postCommitStatus, type StatusState } from "../github/commit-status.js";
import { readManifest } from "../manifest/read-manifest.js";
import type { ContainerPool, FunctionTarget } from "../run/container-pool.js";
import type { Replica } from "../run/function-pool.js";
import { functionTarget } from "./function-target.js";
import { checkCronFunction } from "./cron-check.js";
import { eserveslessLabels } from "../run/sandbox.js";
import { extractTarball, type ExtractLimits, type SourceTree } from "../source/extract-tarball.js";
import type { Deployment, Store } from "../store/store.js";
import { deploymentUrl, functionUrl } from "../urls.js";
import { LatestWinsQueue, Superseded } from "./latest-wins-queue.js";
import { slug } from "../slug.js";

/** Where a deployment's source comes from. */
export type DeploySource = { kind: "github"; installationId: number } | { kind: "upload"; tarball: Buffer };

/** A request to deploy one commit of one repository. */
export interface DeployRequest {
  /** `owner/repo` as GitHub spells it. */
  repository: string;
  commit: string;
  ref: string | null;
  trigger: Deployment["trigger"];
  source: DeploySource;
}

interface DeployJob extends DeployRequest {
  deploymentId: string;
}

/** Why a deployment ended without a result; a redeploy runs it again. */
const INTERRUPTED = "Interrupted: eserveless stopped while this deployment ran; push again or use /redeploy";

/** The abort reason of deployments running when eserveless shuts down. */
class ShuttingDown extends Error {
  constructor() {
    super("eserveless is shutting down");
    this.name = "ShuttingDown";
  }
}

/** The manifest's names, tried in this order. */
const MANIFEST_FILES = [".eserveless.yaml", ".eserveless.yml"];

export interface DeployerOptions {
  /** This eserveless's id, on every image it builds. */
  instance: string;
  store: Store;
  docker: Docker;
  pool: ContainerPool;
  templates: Map<string, RuntimeTemplate>;
  images: { node: string; golang: string };
  publicUrl: string;
  /** ESERVELESS_FUNCTIONS_URL: function URLs in statuses live there when set. */
  functionsUrl?: string;
  /** The GitHub App, when configured; read at each deployment so setup applies without a restart. */
  github: () => GitHubApp | undefined;
  sourceLimits?: Partial<ExtractLimits>;
  log: Logger;
  /** Called after a repository's functions switched to a new deployment (cron schedules follow it). */
  onLive?: (repository: string) => void;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** Runs deployments: one at a time per repository, the latest push wins. */
export type Deployer = ReturnType<typeof createDeployer>;

/**
 * Creates the deployment pipeline: source → manifest → image → ready
 * containers → switch → commit statuses.
 */
export function createDeployer(options: DeployerOptions) {
  const { store, docker, pool, publicUrl, log: rootLog } = options;

  const queue = new LatestWinsQueue<DeployJob>(
    (job, signal) => run(job, signal),
    (dropped, by) => void supersede(dropped, by, rootLog).catch((error: unknown) => crashed(dropped, error)),
    (job, error) => crashed(job, error),
  );

  /** The last resort when recording a deployment's end itself failed (e.g. the disk is full). */
  function crashed(job: DeployJob, error: unknown): void {
    rootLog.error({ err: error, deployment: job.deploymentId, repository: job.repository }, "deployment crashed; its state may be stale");
  }

  /** Posts a commit status; a status GitHub refuses must not fail the deployment, so the refusal goes to its log. */
  async function postStatus(job: DeployJob, state: StatusState, context: string, description: string, targetUrl: string): Promise<void> {
    if (job.source.kind !== "github") return;
    const github = options.github();
    if (!github) return;
    const [owner, repo] = job.repository.split("/") as [string, string];
    try {
      await postCommitStatus(github.installation(job.source.installationId), { owner, repo, sha: job.commit, state, context, description, targetUrl });
    } catch (error) {
      store.appendLog(job.deploymentId, `warning: GitHub refused the ${context} status (${(error as Error).message})`);
    }
  }

  /** Ends a deployment that a newer one of its repository replaced. */
  async function supersede(job: DeployJob, by: { commit: string; deploymentId: string }, log: Logger): Promise<void> {
    const description = `Superseded by ${by.commit.slice(0, 7)}, which deploys instead`;
    store.appendLog(job.deploymentId, description);
    log.info({ deployment: job.deploymentId, by: by.deploymentId }, "deployment superseded");
    store.updateDeployment(job.deploymentId, { state: "superseded", description });
    // GitHub statuses have no "cancelled"; error says "not deployed" without blaming the commit's code.
    await postStatus(job, "error", "eserveless", description, deploymentUrl(publicUrl, by.deploymentId));
  }

  async function run(job: DeployJob, signal: AbortSignal): Promise<void> {
    const started = performance.now();
    const [owner, repo] = job.repository.split("/") as [string, string];
    const log = rootLog.child({ deployment: job.deploymentId, repository: job.repository, commit: job.commit.slice(0, 7) });
    // The deployment's own log holds every line; the server log only at debug level.
    const say = (line: string) => {
      store.appendLog(job.deploymentId, line);
      log.debug({ line }, "deployment log");
    };
    const github = job.source.kind === "github" ? options.github() : undefined;
    const status = (state: StatusState, context: string, description: string, targetUrl: string) => postStatus(job, state, context, description, targetUrl);
    const pageUrl = deploymentUrl(publicUrl, job.deploymentId);
    let replicas: Replica[] = [];

    try {
      store.updateDeployment(job.deploymentId, { state: "building" });
      const source = await fetchSource(job, github, say, signal, options.sourceLimits);
      const manifestFile = MANIFEST_FILES.find((name) => source.has(name));
      if (!manifestFile) {
        log.info({ files: source.size }, "no .eserveless.yaml at the root of the commit; not an eserveless project, nothing deployed");
        say("No .eserveless.yaml at the root of this commit: it is not an eserveless project, so nothing was deployed.");
        store.updateDeployment(job.deploymentId, { state: "skipped", description: "No .eserveless.yaml: not an eserveless project" });
        return;
      }
      const { manifest, warnings } = readManifest(source.text(manifestFile) ?? "", source, manifestFile);
      for (const warning of warnings) say(`warning: ${warning}`);
      store.updateDeployment(job.deploymentId, { warnings });
      say(`Manifest: runtime ${manifest.runtime}, ${plural(manifest.functions.length, "function")} (${manifest.functions.map((f) => `${f.name}: ${f.type}`).join(", ")})`);
      await status("pending", "eserveless", `Building ${plural(manifest.functions.length, "function")}…`, pageUrl);

      const template = options.templates.get(manifest.runtime);
      if (!template) throw new EserveslessError(`This server has no ${manifest.runtime} runtime template`, { code: "runtime_missing" });
      const tag = `eserveless/${slug(owner)}/${slug(repo)}:${job.commit.slice(0, 12)}-${job.deploymentId}`;
      say(`Building image ${tag}`);
      const labels = eserveslessLabels({ instance: options.instance, repository: job.repository, commit: job.commit, deployment: job.deploymentId });
      const built = await buildImage(docker, createBuildContext(source, template, manifest, labels), {
        tag,
        buildArgs: { BASE_IMAGE: options.images[manifest.runtime] },
        onLine: say,
        signal,
      });
      say(`Image built in ${seconds(performance.now() - started)} (${built.cachedSteps.length}/${built.steps.length} steps from cache)`);
      store.updateDeployment(job.deploymentId, { state: "starting", image: tag });

      const live = manifest.functions.map((fn) => ({
        repository: job.repository,
        name: fn.name,
        type: fn.type,
        deploymentId: job.deploymentId,
        commit: job.commit,
        image: tag,
        spec: { ...fn, entry: manifest.entry, runtime: manifest.runtime },
      }));
      const startedReplicas: Array<{ target: FunctionTarget; replicas: Replica[] }> = [];
      const httpFunctions = live.filter((f) => f.type === "http");
      const cronNames = live.filter((f) => f.type === "cron").map((f) => f.name);
      for (const [index, fn] of httpFunctions.entries()) {
        signal.throwIfAborted();
        say(`Starting ${fn.name}…`);
        const target = functionTarget(fn);
        // The first http container also checks the cron functions: no container per check.
        const checking = index === 0 && cronNames.length > 0;
        const startTarget = checking ? { ...target, env: { ...target.env, ESERVELESS_CHECK_CRON: cronNames.join(",") } } : target;
        try {
          const replica = await pool.start(startTarget, signal);
          if (checking) say(`${cronNames.join(", ")} can run on schedule (checked in ${fn.name}'s container)`);
          replicas.push(replica);
          startedReplicas.push({ target, replicas: [replica] });
          say(`${fn.name} answered HTTP after ${replica.coldStartMs} ms`);
        } catch (error) {
          const logs = (error as { logs?: string[] }).logs ?? [];
          for (const line of logs) say(`  ${fn.name} | ${line}`);
          if (error instanceof EserveslessError) {
            throw new EserveslessError(`${fn.name}: ${error.message}`, { status: error.status, blame: error.blame, code: error.code, cause: error });
          }
          throw error;
        }
      }

      // A cron function is called only on schedule: check now that it can run, without calling it.
      // Without an http container to check them in, each gets a container of its own.
      for (const fn of httpFunctions.length === 0 ? live.filter((f) => f.type === "cron") : []) {
        signal.throwIfAborted();
        say(`Checking ${fn.name}…`);
        try {
          const checkedMs = await checkCronFunction(docker, fn, { instance: options.instance, signal, log });
          say(`${fn.name} can run on schedule (checked in ${checkedMs} ms)`);
        } catch (error) {
          for (const line of (error as { logs?: string[] }).logs ?? []) say(`  ${fn.name} | ${line}`);
          throw error;
        }
      }

      // The last point a newer push can take over: after it, this deployment is live.
      signal.throwIfAborted();
      const previousImage = store.liveFunctions(job.repository)[0]?.image;
      store.setLiveFunctions(job.repository, { id: job.deploymentId, commit: job.commit, image: tag }, live);
      const coldStart = Math.max(0, ...replicas.map((r) => r.coldStartMs));
      pool.activate(job.repository, startedReplicas);
      replicas = [];
      options.onLive?.(job.repository);

      const functions = manifest.functions.map((fn) =>
        fn.type === "http" ? { name: fn.name, type: fn.type, url: functionUrl(options, job.repository, fn.name) } : { name: fn.name, type: fn.type, schedule: fn.schedule },
      );
      const description = `Deployed ${plural(manifest.functions.length, "function")} in ${seconds(performance.now() - started)}${coldStart ? `, cold start ${coldStart} ms` : ""}`;
      store.updateDeployment(job.deploymentId, { state: "success", description, functions, coldStartMs: coldStart || null });
      say(description);
      for (const fn of functions) if (fn.url) say(`${fn.name}: ${fn.url}`);
      await status("success", "eserveless", description, pageUrl);
      await Promise.all(
        manifest.functions.map((fn) =>
          fn.type === "http"
            ? status("success", `eserveless/${fn.name}`, `Live: ${fn.name} answers at its URL (Details)`, functionUrl(options, job.repository, fn.name))
            : status("success", `eserveless/${fn.name}`, `Cron: runs on "${fn.schedule}" (${fn.timezone})`, pageUrl),
        ),
      );
      // After the statuses: the user waits for those, not for the clean-up.
      const pruned = await pruneImages(docker, options.instance, job.repository, [tag, ...(previousImage ? [previousImage] : [])]).catch((error: Error) => {
        log.warn({ err: error }, "could not list old images to prune; they stay until the next deployment");
        return [];
      });
      if (pruned.length > 0) log.info({ pruned }, "removed old images");
    } catch (error) {
      await pool.discard(replicas);
      const superseded = signal.aborted && signal.reason instanceof Superseded ? signal.reason : undefined;
      if (superseded) return supersede(job, superseded.by, log);
      if (signal.aborted && signal.reason instanceof ShuttingDown) {
        say(INTERRUPTED);
        store.updateDeployment(job.deploymentId, { state: "error", description: INTERRUPTED });
        await status("error", "eserveless", INTERRUPTED, pageUrl);
        return;
      }
      const known = error instanceof EserveslessError ? error : undefined;
      const state = known?.blame === "user" ? "failure" : "error";
      const reason = known?.message ?? `Internal error: ${(error as Error).message}`;
      say(`${state === "failure" ? "Deployment failed" : "Deployment errored"}: ${reason}`);
      if (!known) log.error({ err: error }, "deployment crashed");
      store.updateDeployment(job.deploymentId, { state, description: reason });
      await status(state, "eserveless", reason, pageUrl);
    }
  }

  let closed = false;

  return {
    /** Records a deployment and queues it; returns at once. */
    enqueue(request: DeployRequest): Deployment {
      if (closed) throw new EserveslessError("eserveless is shutting down; retry in a moment", { status: 503, code: "shutting_down", headers: { "retry-after": "5" } });
      const deployment = store.createDeployment({ repository: request.repository, commit: request.commit, ref: request.ref, trigger: request.trigger });
      queue.push(request.repository.toLowerCase(), { ...request, deploymentId: deployment.id });
      rootLog.info({ deployment: deployment.id, repository: request.repository, commit: request.commit, trigger: request.trigger }, "deployment queued");
      return deployment;
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
        await postStatus(
          { ...deployment, deploymentId: deployment.id, source: { kind: "github", installationId } },
          "error",
          "eserveless",
          INTERRUPTED,
          deploymentUrl(publicUrl, deployment.id),
        );
      }
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

async function fetchSource(
  job: DeployJob,
  github: GitHubApp | undefined,
  say: (line: string) => void,
  signal: AbortSignal,
  limits?: Partial<ExtractLimits>,
): Promise<SourceTree> {
  let tarball: Buffer;
  if (job.source.kind === "upload") {
    tarball = job.source.tarball;
  } else {
    if (!github) throw new EserveslessError("The GitHub App is not configured; open /setup", { status: 503, code: "github_not_configured" });
    const [owner, repo] = job.repository.split("/") as [string, string];
    say(`Downloading ${job.repository}@${job.commit.slice(0, 7)}`);
    tarball = await downloadTarball(github.installation(job.source.installationId), { owner, repo, ref: job.commit, signal });
  }
  const source = await extractTarball(tarball, limits);
  say(`Unpacked ${plural(source.size, "file")} (${Math.ceil(source.totalBytes / 1024)} KiB)`);
  return source;
}
