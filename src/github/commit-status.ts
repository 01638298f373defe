import type { Octokit } from "@octokit/rest";

/** GitHub rejects descriptions longer than this with 422. */
export const MAX_STATUS_DESCRIPTION = 140;

/** Shortens text to GitHub's limit (counted in characters, not UTF-16 units), marking the cut with an ellipsis. */
export function statusDescription(text: string): string {
  const characters = [...text.replace(/\s+/g, " ").trim()];
  return characters.length <= MAX_STATUS_DESCRIPTION ? characters.join("") : `${characters.slice(0, MAX_STATUS_DESCRIPTION - 1).join("")}…`;
}

export type StatusState = "pending" | "success" | "failure" | "error";

/** Posts one commit status; the description is cut to GitHub's limit. */
export async function postCommitStatus(
  octokit: Octokit,
  input: { owner: string; repo: string; sha: string; state: StatusState; context: string; description: string; targetUrl?: string },
): Promise<void> {
  await octokit.rest.repos.createCommitStatus({
    owner: input.owner,
    repo: input.repo,
    sha: input.sha,
    state: input.state,
    context: input.context,
    description: statusDescription(input.description),
    ...(input.targetUrl ? { target_url: input.targetUrl } : {}),
  });
}
