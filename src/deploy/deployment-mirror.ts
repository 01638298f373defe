import { RequestError } from "@octokit/request-error";
import type { Logger } from "pino";
import { PRODUCTION } from "../store/deployment-store.js";
import type { GitHubApp } from "../github/github-app.js";
import { createGitHubDeployment, postDeploymentStatus, type DeploymentStatusState } from "../github/github-deployment.js";
import type { Deployment } from "../store/deployment-store.js";
import { projectUrl, type ServerUrls } from "../urls.js";
import type { DeployJob } from "./deploy-request.js";

/** What each final state of a deployment becomes on GitHub. */
const GITHUB_STATE: Record<string, DeploymentStatusState> = { success: "success", failure: "failure", skipped: "inactive" };

/** One deployment's mirror on GitHub's Deployments API: created as it starts, ended with it. */
export interface DeploymentMirror {
  /** Creates the GitHub deployment, `in_progress`, in the background: the deployment does not wait for GitHub. */
  start(): void;
  /** Posts its final status, from the deployment as recorded. */
  end(deployment: Deployment | undefined): Promise<void>;
}

/**
 * Mirrors a deployment of a GitHub repository as a GitHub deployment to its
 * environment. Nothing for an upload, or without a GitHub App. GitHub's
 * refusals never fail the deployment: an installation that has not accepted
 * `deployments: write` gets a log line saying to accept it, others a warning
 * in the deployment log.
 */
export function deploymentMirror(
  job: Pick<DeployJob, "repository" | "commit" | "source" | "trigger">,
  options: { github: () => GitHubApp | undefined; urls: ServerUrls; logUrl: string; say: (line: string) => void; log: Logger; environment: string },
): DeploymentMirror {
  const [owner, repo] = job.repository.split("/") as [string, string];
  const octokit = () => (job.source.kind === "github" ? options.github()?.installation(job.source.installationId) : undefined);
  let id: number | undefined;
  let starting: Promise<void> = Promise.resolve();

  const refused = (error: unknown, what: string) => {
    if (error instanceof RequestError && error.status === 403) {
      options.log.warn(
        { installation: job.source.kind === "github" ? job.source.installationId : undefined },
        "the GitHub App's installation has not accepted the deployments: write permission, so deployments are not shown in GitHub's environments; accept it on GitHub (the installation's settings, \"Review request\")",
      );
      options.say(`GitHub deployments are off for ${job.repository}: accept the App's "deployments: write" permission on GitHub to see them`);
      return;
    }
    options.say(`warning: GitHub refused ${what} (${(error as Error).message})`);
  };

  return {
    start() {
      const installation = octokit();
      if (!installation) return;
      starting = (async () => {
        try {
          const client = await installation;
          id = await createGitHubDeployment(client, { owner, repo, sha: job.commit, environment: options.environment, transient: options.environment !== PRODUCTION, description: `eserveless ${job.trigger}` });
          await postDeploymentStatus(client, { owner, repo, deploymentId: id, state: "in_progress", description: "Deploying…", logUrl: options.logUrl });
        } catch (error) {
          refused(error, "the GitHub deployment");
        }
      })();
    },
    async end(deployment) {
      // After in_progress, whatever GitHub took to answer it.
      await starting;
      const installation = octokit();
      if (!installation || id === undefined || !deployment) return;
      const state = GITHUB_STATE[deployment.state] ?? "error";
      const urls = deployment.functions.flatMap((fn) => (fn.url ? [fn.url] : []));
      // One function: its URL; several (or only cron functions): the project's page.
      const environmentUrl = state === "success" ? (urls.length === 1 ? urls[0] : projectUrl(options.urls.publicUrl, job.repository)) : undefined;
      try {
        await postDeploymentStatus(await installation, { owner, repo, deploymentId: id, state, description: deployment.description ?? deployment.state, environmentUrl, logUrl: options.logUrl });
      } catch (error) {
        refused(error, "the GitHub deployment's status");
      }
    },
  };
}
