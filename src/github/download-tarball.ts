import type { Octokit } from "@octokit/rest";
import { githubError } from "./github-app.js";

/**
 * Downloads a commit's tarball through the REST API (GitHub answers with a
 * 302 to codeload, which Octokit follows). The bytes stay in memory.
 */
export async function downloadTarball(octokit: Octokit, input: { owner: string; repo: string; ref: string; signal?: AbortSignal }): Promise<Buffer> {
  try {
    const response = await octokit.rest.repos.downloadTarballArchive({
      owner: input.owner,
      repo: input.repo,
      ref: input.ref,
      request: { signal: input.signal },
    });
    return Buffer.from(response.data as ArrayBuffer);
  } catch (error) {
    throw githubError(error, `GitHub has no tarball of ${input.owner}/${input.repo}@${input.ref}; the App may have lost access to the repository.`);
  }
}
