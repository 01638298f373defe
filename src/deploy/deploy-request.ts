import type { Deployment } from "../store/deployment-store.js";

/** Where a deployment's source comes from. */
export type DeploySource = { kind: "github"; installationId: number } | { kind: "upload"; tarball: Buffer };

/** A request to deploy one commit of one repository. */
export interface DeployRequest {
  /** `owner/repo` as GitHub spells it. */
  repository: string;
  commit: string;
  ref: string | null;
  trigger: Deployment["trigger"];
  source: DeploySource;
  /** Where it goes live: `production` (when absent) or a pull request's preview, `pr-<number>`. */
  environment?: string;
}

/** A deploy request once recorded: it has a deployment id. */
export interface DeployJob extends DeployRequest {
  deploymentId: string;
}
