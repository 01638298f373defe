import { postCommitStatus, type StatusState } from "../github/commit-status.js";
import type { GitHubApp } from "../github/github-app.js";
import type { DeployJob } from "./deploy-request.js";

/** Posts one commit status on a deployment's commit. */
export type PostStatus = (state: StatusState, context: string, description: string, targetUrl: string) => Promise<void>;

/**
 * The commit-status poster of one deployment. It posts nothing for an upload
 * or while no GitHub App is configured (read at each post, so setup applies
 * at once). A status GitHub refuses must not fail the deployment, so the
 * refusal goes to `appendLog` (the deployment log) instead.
 */
export function statusPoster(
  job: Pick<DeployJob, "repository" | "commit" | "source">,
  github: () => GitHubApp | undefined,
  appendLog: (line: string) => void,
): PostStatus {
  return async (state, context, description, targetUrl) => {
    if (job.source.kind !== "github") return;
    const app = github();
    if (!app) return;
    const [owner, repo] = job.repository.split("/") as [string, string];
    try {
      await postCommitStatus(await app.installation(job.source.installationId), { owner, repo, sha: job.commit, state, context, description, targetUrl });
    } catch (error) {
      appendLog(`warning: GitHub refused the ${context} status (${(error as Error).message})`);
    }
  };
}
