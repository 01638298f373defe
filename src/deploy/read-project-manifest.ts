import { MANIFEST_FILES } from "../contract/manifest-files.js";
import type { ManifestLimits } from "../manifest/manifest-limits.js";
import type { Manifest } from "../manifest/manifest-schema.js";
import type { SourceTree } from "../source/extract-tarball.js";
import type { DeploymentContext } from "./deployment-context.js";
import { plural } from "../format.js";

/**
 * Reads the manifest at the root of `source`, records its warnings and says
 * what it declares. Undefined when there is none: the commit is not an
 * eserveless project. Throws a SourceError when the manifest is invalid or asks
 * for more than `limits` allow.
 */
export async function readProjectManifest({ say, record }: DeploymentContext, source: SourceTree, limits?: ManifestLimits): Promise<Manifest | undefined> {
  const manifestFile = MANIFEST_FILES.find((name) => source.has(name));
  if (!manifestFile) return undefined;
  // The manifest parser and yaml load with the first deployment, not at start.
  const { readManifest } = await import("../manifest/read-manifest.js");
  const { manifest, warnings } = await readManifest(source.bytes(manifestFile) ?? "", source, manifestFile, limits);
  for (const warning of warnings) say(`warning: ${warning}`);
  record({ warnings });
  say(`Manifest: runtime ${manifest.runtime}, ${plural(manifest.functions.length, "function")} (${manifest.functions.map((f) => `${f.name}: ${f.type}`).join(", ")})`);
  return manifest;
}
