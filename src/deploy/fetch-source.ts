import type { Readable } from "node:stream";
import { EserveslessError } from "../errors.js";
import { downloadTarball } from "../github/download-tarball.js";
import type { GitHubApp } from "../github/github-app.js";
import { extractTarball, type ExtractLimits, type SourceTree } from "../source/extract-tarball.js";
import type { DeploymentContext } from "./deployment-context.js";
import { plural, shortSha } from "../format.js";

/** What a deployment's source may weigh: unpacked, and (for a download) compressed. */
export type SourceLimits = Partial<ExtractLimits> & { maxTarballBytes?: number };

/**
 * The deployment's source as files in memory: the uploaded tarball, or the
 * commit's tarball streamed from the GitHub App into the extractor, unpacked
 * within `limits`.
 */
export async function fetchSource(
  { job, say, signal }: DeploymentContext,
  github: () => GitHubApp | undefined,
  limits?: SourceLimits,
): Promise<SourceTree> {
  let tarball: Buffer | Readable;
  if (job.source.kind === "upload") {
    tarball = job.source.tarball;
  } else if (job.source.kind === "kept") {
    throw new EserveslessError("An uploaded folder's files are not kept, only its image, which is gone: deploy the folder again with eserveless deploy", {
      status: 409,
      code: "source_gone",
    });
  } else {
    const app = github();
    if (!app) throw new EserveslessError("The GitHub App is not configured; open /setup", { status: 503, code: "github_not_configured" });
    const [owner, repo] = job.repository.split("/") as [string, string];
    say(`Downloading ${job.repository}@${shortSha(job.commit)}`);
    tarball = await downloadTarball(await app.installation(job.source.installationId), { owner, repo, ref: job.commit, signal, maxBytes: limits?.maxTarballBytes });
  }
  const source = await extractTarball(tarball, limits);
  say(`Unpacked ${plural(source.size, "file")} (${Math.ceil(source.totalBytes / 1024)} KiB)`);
  return source;
}
