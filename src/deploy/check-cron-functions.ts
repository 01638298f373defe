import type Docker from "dockerode";
import { ContainerFailedError } from "../errors.js";
import type { SecretValues } from "../run/container-pool.js";
import type { ProjectNetworks } from "../run/project-networks.js";
import type { LiveFunction } from "../store/live-function-store.js";
import { checkCronFunction } from "./cron-check.js";
import type { DeploymentContext } from "./deployment-context.js";

/**
 * A cron function is called only on schedule: checks now, each in a container
 * of its own, that the cron functions of `live` can run, without calling them.
 * For a deployment without http functions; otherwise the first http container
 * checks them (see startReplicas). On failure the check's logs go to the
 * deployment log (private lines).
 */
export async function checkCronFunctions(
  { say, output, signal, log }: DeploymentContext,
  runner: { docker: Docker; instance: string; networks: Pick<ProjectNetworks, "forProject">; secretValues?: SecretValues },
  live: LiveFunction[],
): Promise<void> {
  for (const fn of live.filter((f) => f.type === "cron")) {
    signal.throwIfAborted();
    say(`Checking ${fn.name}…`);
    try {
      const network = await runner.networks.forProject(fn.repository, fn.environment);
      const secrets = fn.type === "cron" && fn.spec.secrets.length ? runner.secretValues?.(fn.repository, fn.spec.secrets) : undefined;
      const checkedMs = await checkCronFunction(runner.docker, fn, { instance: runner.instance, signal, log, network, secrets });
      say(`${fn.name} can run on schedule (checked in ${checkedMs} ms)`);
    } catch (error) {
      if (error instanceof ContainerFailedError) for (const line of error.logs) output(`  ${fn.name} | ${line}`);
      throw error;
    }
  }
}
