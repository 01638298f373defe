import type { Octokit } from "@octokit/rest";
import { RequestError } from "@octokit/request-error";

/** GitHub refuses comments longer than this (in characters). */
const MAX_COMMENT_CHARS = 65_536;

/** Whether GitHub refused for want of a permission the installation has not accepted (403). */
export function lacksPermission(error: unknown): boolean {
  return error instanceof RequestError && error.status === 403;
}

/**
 * Writes eserveless's one comment on a pull request: edits comment
 * `commentId` when given, else (or when that one was deleted) creates it.
 * Returns the id of the comment that now holds `body`.
 */
export async function writePullRequestComment(
  octokit: Octokit,
  input: { owner: string; repo: string; number: number; commentId: number | null; body: string },
): Promise<number> {
  const body = input.body.length > MAX_COMMENT_CHARS ? `${input.body.slice(0, MAX_COMMENT_CHARS - 1)}…` : input.body;
  if (input.commentId !== null) {
    try {
      await octokit.rest.issues.updateComment({ owner: input.owner, repo: input.repo, comment_id: input.commentId, body });
      return input.commentId;
    } catch (error) {
      // Someone deleted it: write a new one rather than none.
      if (!(error instanceof RequestError && error.status === 404)) throw error;
    }
  }
  const { data } = await octokit.rest.issues.createComment({ owner: input.owner, repo: input.repo, issue_number: input.number, body });
  return data.id;
}

/** Whether `username` may push to `owner/repo` (write, maintain or admin), per GitHub's collaborator permission. */
export async function canWrite(octokit: Octokit, input: { owner: string; repo: string; username: string }): Promise<boolean> {
  try {
    const { data } = await octokit.rest.repos.getCollaboratorPermissionLevel({ owner: input.owner, repo: input.repo, username: input.username });
    const role = (data as { role_name?: string }).role_name;
    return data.permission === "admin" || data.permission === "write" || role === "maintain";
  } catch (error) {
    // Not a collaborator at all.
    if (error instanceof RequestError && error.status === 404) return false;
    throw error;
  }
}
