import type { Logger } from "pino";
import { shortSha } from "../format.js";
import type { DeploymentStore } from "../store/deployment-store.js";
import { deploymentUrl } from "../urls.js";
import type { DeployJob } from "./deploy-request.js";
import type { PostStatus } from "./status-poster.js";

/** What the steps of one running deployment share: the job, its logs, its commit statuses and its cancellation. */
export interface DeploymentContext {
  readonly job: DeployJob;
  /** The server log, as a child for this deployment. */
  readonly log: Logger;
  /** Appends a line of eserveless's own account to the deployment's log, which anyone with its link reads. */
  say(line: string): void;
  /**
   * Appends a line the project's code printed (its build, its containers) to
   * the deployment's log, for signed-in viewers only: it may hold secrets.
   */
  output(line: string): void;
  /** Records changes to the deployment (state, image, warnings…). */
  record(patch: Parameters<DeploymentStore["updateDeployment"]>[1]): void;
  /** Posts a commit status on the deployment's commit. */
  readonly status: PostStatus;
  /** The deployment's page, the target of its commit statuses. */
  readonly pageUrl: string;
  /** Aborted when a newer push supersedes the deployment or eserveless shuts down. */
  readonly signal: AbortSignal;
  /** When it began to run (`performance.now()`), for the durations it reports. */
  readonly startedAt: number;
}

/** The context of one deployment as it begins to run. */
export function createDeploymentContext(
  job: DeployJob,
  signal: AbortSignal,
  options: { store: DeploymentStore; log: Logger; status: PostStatus; publicUrl: string; /** Known secret values out of the debug log too (the store masks its own lines). */ mask?: (text: string) => string },
): DeploymentContext {
  const { store } = options;
  const mask = options.mask ?? ((text: string) => text);
  const log = options.log.child({ deployment: job.deploymentId, repository: job.repository, commit: shortSha(job.commit) });
  return {
    job,
    log,
    // The deployment's own log holds every line; the server log only at debug level.
    say: (line) => {
      store.appendLog(job.deploymentId, line);
      log.debug({ line: mask(line) }, "deployment log");
    },
    output: (line) => {
      store.appendLog(job.deploymentId, line, { private: true });
      log.debug({ line: mask(line) }, "deployment output");
    },
    record: (patch) => store.updateDeployment(job.deploymentId, patch),
    status: options.status,
    pageUrl: deploymentUrl(options.publicUrl, job.deploymentId),
    signal,
    startedAt: performance.now(),
  };
}
