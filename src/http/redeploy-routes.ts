import { Hono } from "hono";
import * as v from "valibot";
import { DeploymentStartedSchema } from "../contract/deployment.js";
import { RedeployBodySchema } from "../contract/redeploy-body.js";
import type { Deployer } from "../deploy/deployer.js";
import { BadRequestError, EserveslessError } from "../errors.js";
import type { GitHubApp } from "../github/github-app.js";
import { resolveCommit } from "../github/resolve-commit.js";
import type { RepositoryStore } from "../store/repository-store.js";
import { deploymentUrl } from "../urls.js";
import { bearerAuth, type TokenGuard } from "./bearer-auth.js";
import { toWire } from "./to-wire.js";

/**
 * `POST /redeploy` (admin token): resolves a ref of a repository the App can
 * see and deploys that commit as a push would.
 */
export function redeployRoutes(options: { adminToken: string | undefined; tokenGuard?: TokenGuard; github: () => GitHubApp | undefined; store: RepositoryStore; deployer: Deployer; publicUrl: string }) {
  return new Hono().post("/redeploy", bearerAuth(options.adminToken, options.tokenGuard), async (c) => {
    const json = await c.req.json().catch(() => {
      throw new BadRequestError('The body must be JSON such as {"repository": "owner/repo", "ref": "main"}');
    });
    const parsed = v.safeParse(RedeployBodySchema, json);
    if (!parsed.success) throw new BadRequestError(parsed.issues.map((issue) => issue.message).join("; "));
    const github = options.github();
    if (!github) throw new EserveslessError("The GitHub App is not configured on this server: open /setup first.", { status: 503, code: "github_not_configured" });

    const [owner, repo] = parsed.output.repository.split("/") as [string, string];
    const installationId = options.store.getRepository(`${owner}/${repo}`)?.installationId ?? (await github.installationFor(owner, repo));
    const octokit = await github.installation(installationId);
    const { sha, ref, fullName, defaultBranch } = await resolveCommit(octokit, { owner, repo, ref: parsed.output.ref });
    options.store.upsertRepository({ fullName, installationId, defaultBranch });
    const deployment = options.deployer.enqueue({
      repository: fullName,
      commit: sha,
      ref,
      trigger: "redeploy",
      source: { kind: "github", installationId },
    });
    return c.json(toWire(DeploymentStartedSchema, { deployment: { id: deployment.id, url: deploymentUrl(options.publicUrl, deployment.id), commit: sha } }), 202);
  });
}
