import type { Deployment } from "../store/deployment-store.js";

/** Where a deployment's source comes from. */
export type DeploySource =
  | { kind: "github"; installationId: number }
  | { kind: "upload"; tarball: Buffer }
  /** A rollback of an uploaded folder: only its kept image, the files are not kept. */
  | { kind: "kept" };

/** The earlier deployment a rollback goes back to. */
export interface RollbackTo {
  deploymentId: string;
  /** Its image tag, which it started from; null if it never had one. */
  image: string | null;
}

/** A request to deploy one commit of one repository. */
export interface DeployRequest {
  /** `owner/repo` as GitHub spells it. */
  repository: string;
  commit: string;
  ref: string | null;
  trigger: Deployment["trigger"];
  source: DeploySource;
  /** Set for a rollback: its kept image starts, without a build, while it exists. */
  rollback?: RollbackTo;
  /** Where it goes live: `production` (when absent) or a pull request's preview, `pr-<number>`. */
  environment?: string;
}

/** A deploy request once recorded: it has a deployment id. */
export interface DeployJob extends DeployRequest {
  deploymentId: string;
}
