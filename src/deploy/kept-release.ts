import type Docker from "dockerode";
import { shortSha } from "../format.js";
import { liveFunctionOf, type LiveFunction } from "../store/live-function-store.js";
import type { DeploymentStore } from "../store/deployment-store.js";
import type { DeploymentContext } from "./deployment-context.js";
import type { RollbackTo } from "./deploy-request.js";

/** What a rollback restarts without a build. */
export interface KeptRelease {
  image: string;
  /** The target's functions, as they ran, for this deployment. */
  live: LiveFunction[];
  /** Whether the image is still there, looked up while its containers are created (off the rollback's critical path). */
  present: Promise<boolean>;
}

/** Why a rollback rebuilds when its target's image turns out to be gone. */
export const IMAGE_GONE = "its image is gone (only the images of the last ESERVELESS_KEEP_RELEASES releases are kept)";

/**
 * What a rollback restarts: the target's kept image and the specs its
 * functions ran with. Undefined when it went live before specs were kept
 * (the deployment log says the commit is rebuilt instead). The image is
 * looked up, not awaited: when it was pruned, starting it fails and
 * {@link KeptRelease.present} says why.
 */
export function keptRelease(
  { job, say }: DeploymentContext,
  parts: { docker: Docker; store: Pick<DeploymentStore, "deploymentSpecs"> },
  target: RollbackTo,
): KeptRelease | undefined {
  const specs = parts.store.deploymentSpecs(target.deploymentId);
  const image = target.image;
  if (image === null || !specs) {
    const why = specs ? IMAGE_GONE : "it went live before eserveless kept what its functions run with";
    say(`Rolling back to deployment ${target.deploymentId}: ${why}, so commit ${shortSha(job.commit)} is rebuilt`);
    return undefined;
  }
  const present = parts.docker
    .getImage(image)
    .inspect()
    .then(() => true, () => false);
  say(`Rolling back to deployment ${target.deploymentId} (${shortSha(job.commit)}): starting its kept image ${image}, no build`);
  const live = specs.map((spec) => liveFunctionOf({ repository: job.repository, deploymentId: job.deploymentId, commit: job.commit, image }, spec));
  return { image, live, present };
}
