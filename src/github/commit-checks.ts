import type { Octokit } from "@octokit/rest";
import { RequestError } from "@octokit/request-error";

/** A status context or a check run on a commit, reduced to what waitForChecks needs. */
export interface CommitCheck {
  name: string;
  state: "pending" | "success" | "failure";
  /** GitHub's word for how it ended (`failure`, `timed_out`, `error`…), or its status while it runs. */
  outcome: string;
}

/** Check-run conclusions that let a deployment go on: a neutral or skipped check did not fail. */
const PASSING = new Set(["success", "neutral", "skipped"]);

/**
 * The latest status of each context and the check runs on a commit (the
 * first 100 of each). `checksReadable` is false when the installation has not
 * accepted `checks: read`: only statuses are read then.
 */
export async function readCommitChecks(octokit: Octokit, input: { owner: string; repo: string; sha: string }): Promise<{ checks: CommitCheck[]; checksReadable: boolean }> {
  const { owner, repo, sha } = input;
  const { data: statuses } = await octokit.rest.repos.listCommitStatusesForRef({ owner, repo, ref: sha, per_page: 100 });
  const checks = new Map<string, CommitCheck>();
  // Newest first: the first of each context is its current state.
  for (const status of statuses) {
    if (checks.has(status.context)) continue;
    const state = status.state === "success" ? "success" : status.state === "pending" ? "pending" : "failure";
    checks.set(status.context, { name: status.context, state, outcome: status.state });
  }
  let checksReadable = true;
  try {
    const { data } = await octokit.rest.checks.listForRef({ owner, repo, ref: sha, per_page: 100 });
    for (const run of data.check_runs) {
      const state = run.status !== "completed" ? "pending" : PASSING.has(run.conclusion ?? "") ? "success" : "failure";
      checks.set(run.name, { name: run.name, state, outcome: run.conclusion ?? run.status });
    }
  } catch (error) {
    if (!(error instanceof RequestError && error.status === 403)) throw error;
    checksReadable = false;
  }
  return { checks: [...checks.values()], checksReadable };
}
