import Docker from "dockerode";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { buildFunctionImage } from "../../src/deploy/build-function-image.js";
import { EserveslessError } from "../../src/errors.js";
import { loadRuntimeTemplates } from "../../src/image/build-context.js";
import { readManifest } from "../../src/manifest/read-manifest.js";
import { eserveslessLabels } from "../../src/run/sandbox.js";
import { SourceTree } from "../../src/source/extract-tarball.js";
import { testImages } from "../support/start-eserveless.js";
import { deploymentTestbed } from "../support/deployment-testbed.js";
import { testBuildSandbox, testNetworks } from "../support/test-networks.js";

const testbed = deploymentTestbed();

const RUNTIMES = fileURLToPath(new URL("../../runtimes", import.meta.url));
const INSTANCE = "test-build-function-image";
const docker = new Docker();
const networks = testNetworks(docker, INSTANCE);
const build = testBuildSandbox(networks);
const images = { node: testImages.ESERVELESS_NODE_IMAGE, golang: testImages.ESERVELESS_GO_IMAGE };

const FILES = {
  ".eserveless.yaml": "runtime: node\nfunctions:\n  - { name: API, type: http }\n",
  "package.json": '{ "name": "build-function-image", "private": true }\n',
  "functions.js": "module.exports = { API: (req, res) => res.end('ok') };\n",
};
const source = new SourceTree(Object.entries(FILES).map(([path, text]) => ({ type: "file" as const, path, mode: 0o644, content: Buffer.from(text) })));
const { manifest } = await readManifest(FILES[".eserveless.yaml"], source);

const built: string[] = [];
afterAll(async () => {
  await Promise.all(built.map((tag) => docker.getImage(tag).remove({ force: true })));
  await networks.removeAll();
});

describe("buildFunctionImage", () => {
  it("builds the image of the commit, tagged and labelled for its deployment, and streams the build to its log", async () => {
    const test = testbed.deployment({ request: { repository: "Octo-Org/Hello.World" } });
    const { job } = test.deployment;
    const tag = await buildFunctionImage(test.deployment, { docker, instance: INSTANCE, templates: await loadRuntimeTemplates(RUNTIMES), images, build }, source, manifest);
    built.push(tag);

    expect(tag).toBe(`eserveless/octo-org/hello-world:${job.commit.slice(0, 12)}-${job.deploymentId}`);
    const info = await docker.getImage(tag).inspect();
    expect(info.Config.Labels).toMatchObject(eserveslessLabels({ instance: INSTANCE, repository: job.repository, commit: job.commit, deployment: job.deploymentId }));

    const lines = test.lines();
    expect(lines[0]).toBe(`Building image ${tag}`);
    const steps = lines.filter((line) => line.startsWith("Step "));
    expect(steps.length).toBeGreaterThan(0);
    expect(lines.at(-1)).toMatch(new RegExp(`^Image built in \\d+\\.\\d s \\(\\d+/${steps.length} steps from cache\\)$`));
  });

  it("refuses a runtime this server has no template for, before it asks Docker anything", async () => {
    const test = testbed.deployment();
    const noDocker = new Docker({ socketPath: join(tmpdir(), "no-docker-here.sock") });
    const error: unknown = await buildFunctionImage(test.deployment, { docker: noDocker, instance: INSTANCE, templates: new Map(), images, build }, source, manifest).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EserveslessError);
    expect(error).toMatchObject({ message: "This server has no node runtime template", code: "runtime_missing", blame: "system" });
    expect(test.lines()).toEqual([]);
  });
});
