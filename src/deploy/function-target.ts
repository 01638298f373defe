import { containerEnvironment } from "../manifest/function-environment.js";
import type { FunctionTarget } from "../run/container-pool.js";
import type { LiveHttpFunction } from "../store/live-function-store.js";

/** What the container pool runs for a live http function. */
export function functionTarget(fn: LiveHttpFunction): FunctionTarget {
  const { spec } = fn;
  return {
    repository: fn.repository,
    name: fn.name,
    image: fn.image,
    commit: fn.commit,
    deploymentId: fn.deploymentId,
    environment: fn.environment,
    env: containerEnvironment(spec, spec),
    secrets: spec.secrets,
    memoryBytes: spec.memory,
    scaling: {
      concurrency: spec.concurrency,
      minReplicas: spec.minReplicas,
      maxReplicas: spec.maxReplicas,
      idleTimeoutMs: spec.idleTimeout * 1000,
    },
  };
}
