import type Docker from "dockerode";
import type { ProjectRemoved } from "../contract/project-removed.js";
import type { CronScheduler } from "../cron/cron-scheduler.js";
import { NotFoundError } from "../errors.js";
import { pruneImages } from "../image/prune-images.js";
import { outputKey, type ContainerPool } from "../run/container-pool.js";
import type { ProjectNetworks } from "../run/project-networks.js";
import type { FunctionOutputStore } from "../store/function-output-store.js";
import type { LiveFunctionStore } from "../store/live-function-store.js";

export interface RemoveProjectParts {
  store: Pick<LiveFunctionStore, "allLiveFunctions" | "removeLiveFunctions"> & Pick<FunctionOutputStore, "forgetOutput">;
  pool: Pick<ContainerPool, "removeProject">;
  scheduler: Pick<CronScheduler, "schedules" | "sync">;
  networks: Pick<ProjectNetworks, "removeProject">;
  docker: Docker;
  instance: string;
}

/**
 * Takes a project down (`DELETE /api/projects/:owner/:repo`): its functions
 * stop being live first, so its URLs answer 404 at once; then its schedules
 * stop, its containers go once their requests in flight finish, and its
 * output, images and network are removed, its previews' too. Deployments and run history stay.
 */
export async function removeProject(repository: string, parts: RemoveProjectParts): Promise<ProjectRemoved> {
  const live = parts.store.allLiveFunctions().filter((fn) => fn.repository.toLowerCase() === repository.toLowerCase());
  if (live.length === 0) {
    throw new NotFoundError(`No project ${repository} is live; "eserveless ls" lists those that are`, { code: "project_not_found" });
  }
  const name = live[0]!.repository;
  const functions = parts.store.removeLiveFunctions(name);
  const schedules = parts.scheduler.schedules(name).length;
  parts.scheduler.sync(name);
  const environments = [...new Set(live.map((fn) => fn.environment))];
  const counts = await Promise.all(environments.map((environment) => parts.pool.removeProject(name, environment)));
  const containers = counts.reduce((sum, count) => sum + count, 0);
  // What its functions printed may hold secrets: it goes with them.
  for (const environment of environments) parts.store.forgetOutput(outputKey({ repository: name, environment }));
  const images = await pruneImages(parts.docker, parts.instance, name, [], null);
  const network = await parts.networks.removeProject(name);
  return { repository: name, functions, containers, schedules, images, network };
}
