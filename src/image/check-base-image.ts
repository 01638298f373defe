import type Docker from "dockerode";
import { UpstreamError } from "../errors.js";

/** The repository prefix of the local stand-ins scripts/build-base-images.sh makes; no registry has them. */
export const STAND_IN_PREFIX = "eserveless-local/";

const VARIABLES = { node: "ESERVELESS_NODE_IMAGE", golang: "ESERVELESS_GO_IMAGE" } as const;

/** What to do when a runtime's base image is missing, for the operator. */
export function baseImageHint(runtime: keyof typeof VARIABLES): string {
  return `Without registry access, build local stand-ins with \`npm run images\` (scripts/build-base-images.sh) and set ESERVELESS_NODE_IMAGE and ESERVELESS_GO_IMAGE to what \`bash scripts/build-base-images.sh --print-env\` prints; otherwise pull the image on the Docker host or set ${VARIABLES[runtime]} to one it has`;
}

/**
 * Fails before the build when a runtime's base image is a local stand-in the
 * Docker host does not have: Docker would otherwise try to pull that name
 * from Docker Hub. Other names missing locally are left to the build's pull.
 */
export async function checkBaseImage(docker: Docker, image: string, runtime: keyof typeof VARIABLES): Promise<void> {
  try {
    await docker.getImage(image).inspect();
  } catch (cause) {
    if ((cause as { statusCode?: number }).statusCode !== 404) {
      throw new UpstreamError(`Docker could not inspect the base image ${image}: ${(cause as Error).message}. Is the Docker engine running?`, { cause });
    }
    if (!image.startsWith(STAND_IN_PREFIX)) return;
    throw new UpstreamError(`The base image ${image} is not on this Docker host. ${baseImageHint(runtime)}.`, { code: "base_image_missing" });
  }
}
