import type Docker from "dockerode";
import { createBuildContext, type RuntimeTemplate } from "../image/build-context.js";
import { BuildError, buildImage } from "../image/build-image.js";
import { checkBaseImage } from "../image/check-base-image.js";
import type { BuildSandbox } from "../image/build-sandbox.js";
import { EserveslessError } from "../errors.js";
import type { Manifest } from "../manifest/manifest-schema.js";
import { eserveslessLabels } from "../run/sandbox.js";
import type { SourceTree } from "../source/extract-tarball.js";
import { slug } from "../slug.js";
import type { DeploymentContext } from "./deployment-context.js";
import { seconds } from "../format.js";

/** What building a deployment's image needs besides its source. */
export interface ImageBuilder {
  docker: Docker;
  /** This eserveless's id, on every image it builds. */
  instance: string;
  templates: Map<string, RuntimeTemplate>;
  /** The base image of each runtime. */
  images: { node: string; golang: string };
  /** What confines the build: network, memory, CPU, time and concurrent builds. */
  build: BuildSandbox;
}

/**
 * Builds the image of a deployment's functions from its source and its
 * runtime's template, streaming the build to the deployment log (private
 * lines: see {@link DeploymentContext.output}). Resolves
 * with the image's tag; throws a BuildError when the project's build fails.
 */
export async function buildFunctionImage(
  { job, say, output, signal, startedAt }: DeploymentContext,
  builder: ImageBuilder,
  source: SourceTree,
  manifest: Manifest,
): Promise<string> {
  const template = builder.templates.get(manifest.runtime);
  if (!template) throw new EserveslessError(`This server has no ${manifest.runtime} runtime template`, { code: "runtime_missing" });
  const [owner, repo] = job.repository.split("/") as [string, string];
  const tag = `eserveless/${slug(owner)}/${slug(repo)}:${job.commit.slice(0, 12)}-${job.deploymentId}`;
  const baseImage = builder.images[manifest.runtime];
  await checkBaseImage(builder.docker, baseImage, manifest.runtime);
  say(`Building image ${tag}`);
  const labels = eserveslessLabels({ instance: builder.instance, repository: job.repository, commit: job.commit, deployment: job.deploymentId, environment: job.environment });
  let compileError: string | undefined;
  const onLine = (line: string) => {
    if (manifest.runtime === "golang") compileError ??= goCompileError(line);
    output(line);
  };
  const built = await buildImage(builder.docker, createBuildContext(source, template, manifest, labels), {
    tag,
    buildArgs: { BASE_IMAGE: baseImage },
    runtime: manifest.runtime,
    // What the build prints is the project's (its install scripts, its compiler): signed-in viewers only.
    onLine,
    onWait: say,
    signal,
    sandbox: builder.build,
  }).catch((error: unknown) => {
    // The compiler's first error says more than the step that ran it; the log keeps the rest.
    if (error instanceof BuildError && compileError !== undefined && error.code === "build_failed") {
      throw new BuildError(`Go build failed: ${compileError}`, error.step, error.exitCode);
    }
    throw error;
  });
  say(`Image built in ${seconds(performance.now() - startedAt)} (${built.cachedSteps.length}/${built.steps.length} steps from cache)`);
  return tag;
}

/** A Go compiler error line, `./functions.go:7:2: undefined: x`, as `functions.go:7:2: undefined: x`. */
export function goCompileError(line: string): string | undefined {
  const match = /^(?:\.{1,2}\/)*([\w.@/-]+\.go:\d+(?::\d+)?: .+)$/.exec(line.trim());
  return match?.[1];
}
