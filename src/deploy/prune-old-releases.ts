import type Docker from "dockerode";
import { pruneImages } from "../image/prune-images.js";
import { PRODUCTION, type DeploymentStore } from "../store/deployment-store.js";
import type { DeploymentContext } from "./deployment-context.js";

/** How many of a repository's latest releases keep their image when ESERVELESS_KEEP_RELEASES is not set. */
export const DEFAULT_KEEP_RELEASES = 5;

/**
 * Removes the repository's older images, keeping the live one and those of
 * its last `keep` successful production deployments, so that a rollback to
 * them starts at once. A failure only warns: the next deployment prunes them.
 */
export async function pruneOldReleases(
  { job, log }: DeploymentContext,
  parts: { docker: Docker; instance: string; store: Pick<DeploymentStore, "successfulDeployments">; keep: number },
  image: string,
): Promise<void> {
  const releases = parts.store.successfulDeployments(job.repository, PRODUCTION, parts.keep).flatMap((d) => (d.image ? [d.image] : []));
  const pruned = await pruneImages(parts.docker, parts.instance, job.repository, [image, ...releases]).catch((error: Error) => {
    log.warn({ err: error }, "could not list old images to prune; they stay until the next deployment");
    return [];
  });
  if (pruned.length > 0) log.info({ pruned }, "removed the images of releases older than the last kept ones (ESERVELESS_KEEP_RELEASES)");
}
