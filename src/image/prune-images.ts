import type Docker from "dockerode";
import { LABEL } from "../run/sandbox.js";

/**
 * Removes a repository's images (of this instance) in `environment` (production's unless told; a
 * preview's carry its label) except those tagged in `keep` (the live one and the one it replaced,
 * for a quick rollback). With `environment` null, those of every environment. Returns the removed tags.
 */
export async function pruneImages(docker: Docker, instance: string, repository: string, keep: string[], environment: string | null = "production"): Promise<string[]> {
  const images = await docker.listImages({ filters: { label: [`${LABEL}.instance=${instance}`, `${LABEL}.repository=${repository}`] } });
  const inEnvironment = (image: Docker.ImageInfo) => environment === null || (image.Labels?.[`${LABEL}.environment`] ?? "production") === environment;
  return removeImages(docker, images.filter((image) => inEnvironment(image) && !image.RepoTags?.some((tag) => keep.includes(tag))));
}

/**
 * Removes this instance's images whose deployment `abandoned` says will never
 * run (it ended without going live), whatever their repository. Images in use
 * by a container stay (Docker refuses with 409). Returns the removed tags.
 */
export async function pruneAbandonedImages(docker: Docker, instance: string, abandoned: (deploymentId: string, tags: string[]) => boolean): Promise<string[]> {
  const images = await docker.listImages({ filters: { label: [`${LABEL}.instance=${instance}`] } });
  return removeImages(
    docker,
    images.filter((image) => {
      const deployment = image.Labels?.[`${LABEL}.deployment`];
      return deployment !== undefined && abandoned(deployment, image.RepoTags ?? []);
    }),
  );
}

/** Removes `images` one by one; returns the tags of those removed. */
async function removeImages(docker: Docker, images: Docker.ImageInfo[]): Promise<string[]> {
  const removed: string[] = [];
  for (const image of images) {
    // A container (a draining one, say) may still use it (409): the next prune gets it.
    const gone = await docker
      .getImage(image.Id)
      .remove()
      .then(() => true, () => false);
    if (gone) removed.push(image.RepoTags?.[0] ?? image.Id);
  }
  return removed;
}
