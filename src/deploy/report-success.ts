import type { Manifest } from "../manifest/manifest-schema.js";
import { environmentFunctionUrl, type ServerUrls } from "../urls.js";
import type { DeploymentContext } from "./deployment-context.js";
import { plural, seconds } from "../format.js";

/**
 * Records a live deployment as a success, says its function URLs, and posts
 * its commit statuses: one for the deployment, one per function. The
 * description counts the manifest's `warnings`, which the deployment page lists.
 */
export async function reportSuccess(deployment: DeploymentContext, urls: ServerUrls, manifest: Pick<Manifest, "functions">, coldStartMs: number, warnings = 0): Promise<void> {
  const { job, say, status, pageUrl } = deployment;
  // A preview's URLs are its pull request's, stable for its life.
  const functionUrl = (urls: ServerUrls, repository: string, name: string) => environmentFunctionUrl(urls, repository, job.environment ?? "production", name);
  const functions = manifest.functions.map((fn) =>
    fn.type === "http" ? { name: fn.name, type: fn.type, url: functionUrl(urls, job.repository, fn.name) } : { name: fn.name, type: fn.type, schedule: fn.schedule, timezone: fn.timezone },
  );
  const description = `Deployed ${plural(manifest.functions.length, "function")} in ${seconds(performance.now() - deployment.startedAt)}${coldStartMs ? `, cold start ${coldStartMs} ms` : ""}${warnings ? `, ${plural(warnings, "warning")}` : ""}`;
  deployment.record({ state: "success", description, functions, coldStartMs: coldStartMs || null });
  say(description);
  for (const fn of functions) if (fn.url) say(`${fn.name}: ${fn.url}`);
  await status("success", "eserveless", description, pageUrl);
  await Promise.all(
    manifest.functions.map((fn) =>
      fn.type === "http"
        ? status("success", `eserveless/${fn.name}`, `Live: ${fn.name} answers at its URL (Details)`, functionUrl(urls, job.repository, fn.name))
        : status("success", `eserveless/${fn.name}`, `Cron: runs on "${fn.schedule}" (${fn.timezone})`, pageUrl),
    ),
  );
}
