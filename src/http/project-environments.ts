import type { Environment } from "../contract/project.js";
import type { DeploymentStore } from "../store/deployment-store.js";
import type { LiveFunctionStore } from "../store/live-function-store.js";
import type { PreviewStore } from "../store/preview-store.js";
import { environmentFunctionUrl, previewEnvironment, type ServerUrls } from "../urls.js";

/** How many of a repository's latest deployments are searched for each environment's latest one. */
const RECENT_DEPLOYMENTS = 200;

/**
 * A project's environments, as `eserveless ls` and the dashboard show them:
 * production, then each open pull request's preview, with the commit live
 * there, its latest deployment's state, and its functions' URLs.
 */
export function projectEnvironments(
  options: ServerUrls & { store: Pick<LiveFunctionStore, "liveFunctions"> & Pick<DeploymentStore, "listDeployments"> & Partial<Pick<PreviewStore, "openPreviews">> },
  repository: string,
): Environment[] {
  const { store } = options;
  const recent = store.listDeployments(repository, RECENT_DEPLOYMENTS);
  const environment = (name: string, pullRequest?: number): Environment => {
    const live = store.liveFunctions(repository, name);
    const latest = recent.find((d) => d.environment === name);
    return {
      name,
      ...(pullRequest === undefined ? {} : { pullRequest }),
      commit: live[0]?.commit ?? null,
      deployment: latest?.id ?? live[0]?.deploymentId ?? null,
      state: latest?.state ?? null,
      functions: live.map((fn) =>
        fn.type === "http"
          ? { name: fn.name, type: fn.type, url: environmentFunctionUrl(options, repository, name, fn.name) }
          : { name: fn.name, type: fn.type, schedule: fn.spec.schedule, timezone: fn.spec.timezone },
      ),
    };
  };
  const previews = store.openPreviews?.(repository) ?? [];
  return [environment("production"), ...previews.map((p) => environment(previewEnvironment(p.number), p.number))];
}
