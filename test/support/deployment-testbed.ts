import { mkdtempSync, rmSync } from "node:fs";
import { TEST_SECRET_KEYS } from "./temp-store.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll } from "vitest";
import type { DeployJob, DeployRequest } from "../../src/deploy/deploy-request.js";
import { createDeploymentContext } from "../../src/deploy/deployment-context.js";
import { statusPoster } from "../../src/deploy/status-poster.js";
import type { GitHubApp } from "../../src/github/github-app.js";
import { createStore } from "../../src/store/store.js";

/** The public URL the test deployments' links start with. */
export const TEST_PUBLIC_URL = "http://localhost:3000";

/**
 * A real SQLite store for one test file, removed after its tests, in which
 * `deployment()` records deployments and returns the context their steps get,
 * wired as the deployer wires it (commit statuses go through `github`).
 * Call it at the top level of a test file.
 */
export function deploymentTestbed() {
  const dir = mkdtempSync(join(tmpdir(), "eserveless-steps-"));
  const store = createStore(join(dir, "eserveless.db"), { secrets: TEST_SECRET_KEYS });
  afterAll(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  return {
    store,
    /** Records a deployment (of octo-org/hello, uploaded, unless `request` says otherwise) and makes its context. */
    deployment(input: { request?: Partial<DeployRequest>; github?: GitHubApp; signal?: AbortSignal } = {}) {
      const request: DeployRequest = {
        repository: "octo-org/hello",
        commit: "0123456789abcdef0123456789abcdef01234567",
        ref: "refs/heads/main",
        trigger: "local",
        source: { kind: "upload", tarball: Buffer.alloc(0) },
        ...input.request,
      };
      const job: DeployJob = { ...request, deploymentId: store.createDeployment(request).id };
      const deployment = createDeploymentContext(job, input.signal ?? new AbortController().signal, {
        store,
        log: pino({ level: "silent" }),
        status: statusPoster(job, () => input.github, (line) => store.appendLog(job.deploymentId, line)),
        publicUrl: TEST_PUBLIC_URL,
      });
      return {
        deployment,
        /** The deployment's log, line by line. */
        lines: () => store.deploymentLog(job.deploymentId).map((l) => l.line),
        /** The deployment as recorded now. */
        recorded: () => store.getDeployment(job.deploymentId)!,
      };
    },
  };
}
