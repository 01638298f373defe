import { storedSpec, type Manifest } from "../manifest/manifest-schema.js";
import type { ContainerPool } from "../run/container-pool.js";
import { PRODUCTION } from "../store/deployment-store.js";
import { liveFunctionOf, type LiveFunction, type LiveFunctionStore } from "../store/live-function-store.js";
import type { DeployJob } from "./deploy-request.js";
import type { DeploymentContext } from "./deployment-context.js";
import type { StartedFunction } from "./start-replicas.js";

/** How a preview's functions scale: to zero, and sooner than production's (ESERVELESS_PREVIEW_IDLE_TIMEOUT, seconds). */
export interface PreviewScaling {
  idleTimeout: number;
}

/**
 * The functions a deployment makes live: one per function of its manifest,
 * with the spec it runs with. In a preview (`previews` given, a `pr-` job)
 * http functions keep no replica warm and stop after the shorter of their
 * own idle timeout and the previews' one.
 */
export function liveFunctions(job: DeployJob, manifest: Manifest, image: string, previews?: PreviewScaling): LiveFunction[] {
  const environment = job.environment ?? PRODUCTION;
  return manifest.functions.map((fn) => {
    const spec = storedSpec(fn, manifest);
    const scaled = previews && environment !== PRODUCTION && spec.type === "http" ? { ...spec, minReplicas: 0, idleTimeout: Math.min(spec.idleTimeout, previews.idleTimeout) } : spec;
    return liveFunctionOf({ repository: job.repository, environment, deploymentId: job.deploymentId, commit: job.commit, image }, scaled);
  });
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
  const environment = job.environment ?? PRODUCTION;
  const previousImage = parts.store.liveFunctions(job.repository, environment)[0]?.image;
  parts.store.setLiveFunctions(job.repository, { id: job.deploymentId, commit: job.commit, image }, live.map((fn) => fn.spec), environment);
  const coldStartMs = Math.max(0, ...started.flatMap((f) => f.replicas).map((r) => r.coldStartMs));
  parts.pool.activate(job.repository, started, environment);
  return { previousImage, coldStartMs };
}
