import { setTimeout as sleep } from "node:timers/promises";
import { EserveslessError, SourceError, UpstreamError } from "../errors.js";
import { readCommitChecks, type CommitCheck } from "../github/commit-checks.js";
import type { GitHubApp } from "../github/github-app.js";
import type { DeploymentContext } from "./deployment-context.js";

/** How a deployment waits for the commit's checks: ESERVELESS_CHECKS_GRACE and ESERVELESS_CHECKS_TIMEOUT, and the polling back-off. */
export interface ChecksWait {
  graceMs: number;
  timeoutMs: number;
  /** The first pause between two looks (1 s); each next one is 1.5 times longer, up to `maxIntervalMs` (30 s). */
  intervalMs?: number;
  maxIntervalMs?: number;
}

export const DEFAULT_CHECKS_WAIT: ChecksWait = { graceMs: 60_000, timeoutMs: 1_800_000 };

/** eserveless's own statuses: waiting for them would be waiting for itself. */
const isOwn = (name: string) => name === "eserveless" || name.startsWith("eserveless/");

/**
 * Holds a deployment (manifest `waitForChecks`) until the commit's other
 * statuses and check runs succeeded (`true`), or the named ones. Polls GitHub
 * with back-off, keeping the `eserveless` status pending with the names it
 * waits for. A failed check ends it as a failure naming the check; no answer
 * within `timeoutMs` as an error. With `true` and no check at all after
 * `graceMs`, it goes on.
 */
export async function waitForChecks(deployment: DeploymentContext, github: () => GitHubApp | undefined, wanted: true | string[], wait: ChecksWait): Promise<void> {
  const { job, say, status, pageUrl, signal } = deployment;
  if (job.source.kind !== "github") {
    say("waitForChecks: only commits from GitHub have checks; this one deploys at once");
    return;
  }
  const app = github();
  if (!app) throw new UpstreamError("The GitHub App is not configured, so the commit's checks cannot be read; open /setup", { status: 503, code: "github_not_configured" });
  const octokit = await app.installation(job.source.installationId);
  const [owner, repo] = job.repository.split("/") as [string, string];
  const began = performance.now();
  let interval = wait.intervalMs ?? 1000;
  let said = "";
  let toldUnreadable = false;
  say(wanted === true ? "waitForChecks: waiting until every other check on this commit succeeded" : `waitForChecks: waiting for ${wanted.join(", ")}`);
  for (;;) {
    const { checks, checksReadable } = await readCommitChecks(octokit, { owner, repo, sha: job.commit });
    if (!checksReadable && !toldUnreadable) {
      toldUnreadable = true;
      say('warning: the App\'s installation has not accepted "checks: read", so only commit statuses are waited for; accept it on GitHub to wait for check runs too');
    }
    const others = checks.filter((check) => !isOwn(check.name));
    const relevant: CommitCheck[] =
      wanted === true ? others : wanted.map((name) => others.find((check) => check.name === name) ?? { name, state: "pending", outcome: "not reported yet" });
    const failed = relevant.find((check) => check.state === "failure");
    if (failed) throw new SourceError(`Check ${failed.name} ended ${failed.outcome}: not deployed (waitForChecks)`, { code: "check_failed" });
    const elapsed = performance.now() - began;
    if (wanted === true && relevant.length === 0 && elapsed >= wait.graceMs) {
      say(`No check appeared on this commit within ${Math.round(wait.graceMs / 1000)} s (ESERVELESS_CHECKS_GRACE): deploying`);
      return;
    }
    const pending = relevant.filter((check) => check.state === "pending").map((check) => check.name);
    if (relevant.length > 0 && pending.length === 0) {
      say(`Checks passed: ${relevant.map((check) => check.name).join(", ")}`);
      return;
    }
    if (elapsed >= wait.timeoutMs) {
      throw new EserveslessError(`No answer from ${pending.join(", ") || "any check"} within ${Math.round(wait.timeoutMs / 1000)} s (ESERVELESS_CHECKS_TIMEOUT): not deployed`, {
        status: 504,
        blame: "system",
        code: "checks_timeout",
      });
    }
    const description = pending.length > 0 ? `Waiting for checks: ${pending.join(", ")}` : "Waiting for checks to appear";
    if (description !== said) {
      said = description;
      say(description);
      await status("pending", "eserveless", description, pageUrl);
    }
    await sleep(interval, undefined, { signal });
    interval = Math.min(interval * 1.5, wait.maxIntervalMs ?? 30_000);
  }
}
