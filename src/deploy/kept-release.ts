import type Docker from "dockerode";
import { shortSha } from "../format.js";
import type { StoredSpec } from "../manifest/manifest-schema.js";
import type { DeploymentStore } from "../store/deployment-store.js";
import type { DeploymentContext } from "./deployment-context.js";
import type { RollbackTo } from "./deploy-request.js";

/**
 * What a rollback restarts: the target's kept image and the specs its
 * functions ran with. Undefined when either is gone (the image was pruned, or
 * the target went live before specs were kept); the deployment log says the
 * commit is rebuilt instead.
 */
export async function keptRelease(
  { job, say }: DeploymentContext,
  parts: { docker: Docker; store: Pick<DeploymentStore, "deploymentSpecs"> },
  target: RollbackTo,
): Promise<{ image: string; specs: StoredSpec[] } | undefined> {
  const specs = parts.store.deploymentSpecs(target.deploymentId);
  const image = target.image;
  const present =
    image !== null &&
    (await parts.docker
      .getImage(image)
      .inspect()
      .then(() => true, () => false));
  if (image !== null && present && specs) {
    say(`Rolling back to deployment ${target.deploymentId} (${shortSha(job.commit)}): starting its kept image ${image}, no build`);
    return { image, specs };
  }
  const why = specs ? "its image is gone (only the images of the last ESERVELESS_KEEP_RELEASES releases are kept)" : "it went live before eserveless kept what its functions run with";
  say(`Rolling back to deployment ${target.deploymentId}: ${why}, so commit ${shortSha(job.commit)} is rebuilt`);
  return undefined;
}
