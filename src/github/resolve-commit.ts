import type { Octokit } from "@octokit/rest";
import { githubError } from "./github-app.js";

/** Resolves a branch, tag or sha (default: the default branch) to a commit sha, with the repository's canonical name. */
export async function resolveCommit(
  octokit: Octokit,
  input: { owner: string; repo: string; ref?: string },
): Promise<{ sha: string; ref: string; defaultBranch: string; fullName: string }> {
  const name = `${input.owner}/${input.repo}`;
  let defaultBranch: string;
  let fullName: string;
  try {
    const { data } = await octokit.rest.repos.get({ owner: input.owner, repo: input.repo });
    defaultBranch = data.default_branch;
    fullName = data.full_name;
  } catch (error) {
    throw githubError(error, `Repository ${name} was not found, or the eserveless App cannot read it.`);
  }
  const ref = input.ref ?? defaultBranch;
  try {
    const { data } = await octokit.rest.repos.getCommit({ owner: input.owner, repo: input.repo, ref });
    return { sha: data.sha, ref, defaultBranch, fullName };
  } catch (error) {
    throw githubError(error, `No commit found for "${ref}" in ${name}. Give a branch, a tag or a commit sha that exists.`);
  }
}
