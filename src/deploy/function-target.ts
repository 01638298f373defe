import { containerEnvironment } from "../manifest/function-environment.js";
import type { HttpFunctionSpec, Manifest } from "../manifest/manifest-schema.js";
import type { FunctionTarget } from "../run/container-pool.js";
import type { LiveFunction } from "../store/live-function-store.js";

/** The spec a live function keeps: its manifest entry plus the manifest-wide settings it needs. */
export type StoredSpec = HttpFunctionSpec & Pick<Manifest, "entry" | "runtime">;

/** What the container pool runs for a live http function. */
export function functionTarget(fn: Omit<LiveFunction, "type">): FunctionTarget {
  const spec = fn.spec as StoredSpec;
  return {
    repository: fn.repository,
    name: fn.name,
    image: fn.image,
    commit: fn.commit,
    deploymentId: fn.deploymentId,
    env: containerEnvironment(spec, spec),
    memoryBytes: spec.memory,
    scaling: {
      concurrency: spec.concurrency,
      minReplicas: spec.minReplicas,
      maxReplicas: spec.maxReplicas,
      idleTimeoutMs: spec.idleTimeout === undefined ? undefined : spec.idleTimeout * 1000,
    },
  };
}
