import type Docker from "dockerode";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { buildFunctionImage } from "../../src/deploy/build-function-image.js";
import { loadRuntimeTemplates } from "../../src/image/build-context.js";
import { readManifest } from "../../src/manifest/read-manifest.js";
import type { Replica } from "../../src/run/function-pool.js";
import type { ProjectNetworks } from "../../src/run/project-networks.js";
import { proxyRequest } from "../../src/run/proxy.js";
import { SourceTree } from "../../src/source/extract-tarball.js";
import type { deploymentTestbed } from "./deployment-testbed.js";
import { testImages } from "./wire-app.js";
import { testBuildSandbox } from "./test-networks.js";

const RUNTIMES = fileURLToPath(new URL("../../runtimes", import.meta.url));

/**
 * Builds the image of a project made of `files` (its manifest among them, as
 * `.eserveless.yaml`), as a deployment does, for tests that start containers
 * with a ContainerPool of their own. Returns the image's name.
 */
export async function buildTestImage(input: { docker: Docker; instance: string; networks: ProjectNetworks; testbed: ReturnType<typeof deploymentTestbed>; files: Record<string, string> }): Promise<string> {
  const { ".eserveless.yaml": manifestText, ...rest } = input.files;
  const source = new SourceTree(Object.entries(rest).map(([path, text]) => ({ type: "file" as const, path, mode: 0o644, content: Buffer.from(text) })));
  const { manifest } = await readManifest(manifestText ?? "", source);
  return buildFunctionImage(
    input.testbed.deployment().deployment,
    { docker: input.docker, instance: input.instance, templates: await loadRuntimeTemplates(RUNTIMES), images: { node: testImages.ESERVELESS_NODE_IMAGE, golang: testImages.ESERVELESS_GO_IMAGE }, build: testBuildSandbox(input.networks) },
    source,
    manifest,
  );
}

/** One GET through the router's proxy to `replica`: the body of its 200 answer. */
export async function getThrough(replica: Replica, path = "/"): Promise<string> {
  const response = await proxyRequest({
    dispatcher: replica.dispatcher,
    origin: replica.origin,
    method: "GET",
    path,
    headers: { host: "fn.test" },
    body: null,
    maxBodyBytes: 1024,
    timeoutMs: 10_000,
    caller: new AbortController().signal,
  });
  const text = await new Response(response.toWeb(() => undefined)).text();
  expect(response.statusCode, text).toBe(200);
  return text;
}
