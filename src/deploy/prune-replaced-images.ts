import type Docker from "dockerode";
import { pruneImages } from "../image/prune-images.js";
import type { DeploymentContext } from "./deployment-context.js";

/**
 * Removes the repository's older images, keeping the live one and the one it
 * replaced (for a quick rollback). A failure only warns: the next deployment
 * prunes them.
 */
export async function pruneReplacedImages(
  { job, log }: DeploymentContext,
  parts: { docker: Docker; instance: string },
  image: string,
  previousImage: string | undefined,
): Promise<void> {
  const pruned = await pruneImages(parts.docker, parts.instance, job.repository, [image, ...(previousImage ? [previousImage] : [])]).catch((error: Error) => {
    log.warn({ err: error }, "could not list old images to prune; they stay until the next deployment");
    return [];
  });
  if (pruned.length > 0) log.info({ pruned }, "removed old images");
}
