import { storedSpec, type Manifest } from "../manifest/manifest-schema.js";
import type { ContainerPool } from "../run/container-pool.js";
import { liveFunctionOf, type LiveFunction, type LiveFunctionStore } from "../store/live-function-store.js";
import type { DeployJob } from "./deploy-request.js";
import type { DeploymentContext } from "./deployment-context.js";
import type { StartedFunction } from "./start-replicas.js";

/** The functions a deployment makes live: one per function of its manifest, with the spec it runs with. */
export function liveFunctions(job: DeployJob, manifest: Manifest, image: string): LiveFunction[] {
  return manifest.functions.map((fn) =>
    liveFunctionOf({ repository: job.repository, deploymentId: job.deploymentId, commit: job.commit, image }, storedSpec(fn, manifest)),
  );
}

/**
 * Switches the deployment's repository to it: its functions become the live
 * ones, and new requests go to its started replicas while the previous
 * deployment's drain. Returns the image it replaced, if any, and the longest
 * cold start among its replicas (0 without any).
 */
export function goLive(
  { job }: Pick<DeploymentContext, "job">,
  parts: { store: Pick<LiveFunctionStore, "liveFunctions" | "setLiveFunctions">; pool: Pick<ContainerPool, "activate"> },
  image: string,
  live: LiveFunction[],
  started: StartedFunction[],
): { previousImage: string | undefined; coldStartMs: number } {
  const previousImage = parts.store.liveFunctions(job.repository)[0]?.image;
  parts.store.setLiveFunctions(job.repository, { id: job.deploymentId, commit: job.commit, image }, live.map((fn) => fn.spec));
  const coldStartMs = Math.max(0, ...started.flatMap((f) => f.replicas).map((r) => r.coldStartMs));
  parts.pool.activate(job.repository, started);
  return { previousImage, coldStartMs };
}
