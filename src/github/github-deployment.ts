import type { Octokit } from "@octokit/rest";
import { statusDescription } from "./commit-status.js";

/** The states of a GitHub deployment status that eserveless posts. */
export type DeploymentStatusState = "in_progress" | "success" | "failure" | "error" | "inactive";

/**
 * Creates a GitHub deployment of `sha` to `environment`; resolves with its id.
 * `required_contexts: []`: GitHub would otherwise refuse (409) while
 * eserveless's own `eserveless` status is pending on the commit; `auto_merge:
 * false`: a deployment must never merge branches.
 */
export async function createGitHubDeployment(
  octokit: Octokit,
  input: { owner: string; repo: string; sha: string; environment: string; description: string; transient?: boolean },
): Promise<number> {
  const { data } = await octokit.rest.repos.createDeployment({
    owner: input.owner,
    repo: input.repo,
    ref: input.sha,
    environment: input.environment,
    description: statusDescription(input.description),
    required_contexts: [],
    auto_merge: false,
    transient_environment: input.transient ?? false,
    production_environment: input.environment === "production",
  });
  // 202 is GitHub's answer to an auto-merge, which is off: only a 201 carries the deployment.
  if (!("id" in data)) throw new Error(`GitHub did not create the deployment: ${data.message ?? "no reason given"}`);
  return data.id;
}

/** Posts a status of a GitHub deployment, with its environment's URL and the deployment's log page. */
export async function postDeploymentStatus(
  octokit: Octokit,
  input: { owner: string; repo: string; deploymentId: number; state: DeploymentStatusState; description: string; environmentUrl?: string; logUrl: string },
): Promise<void> {
  await octokit.rest.repos.createDeploymentStatus({
    owner: input.owner,
    repo: input.repo,
    deployment_id: input.deploymentId,
    state: input.state,
    description: statusDescription(input.description),
    log_url: input.logUrl,
    ...(input.environmentUrl ? { environment_url: input.environmentUrl } : {}),
  });
}

/**
 * Marks an environment's latest GitHub deployment `inactive` (a closed pull
 * request's preview): GitHub then shows the environment as gone. Nothing when
 * it has none.
 */
export async function deactivateEnvironment(octokit: Octokit, input: { owner: string; repo: string; environment: string; description: string; logUrl: string }): Promise<void> {
  const { data } = await octokit.rest.repos.listDeployments({ owner: input.owner, repo: input.repo, environment: input.environment, per_page: 1 });
  const latest = data[0];
  if (!latest) return;
  await postDeploymentStatus(octokit, { owner: input.owner, repo: input.repo, deploymentId: latest.id, state: "inactive", description: input.description, logUrl: input.logUrl });
}
