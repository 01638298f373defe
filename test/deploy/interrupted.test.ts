import Docker from "dockerode";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pack } from "tar-stream";
import { describe, expect, it } from "vitest";
import { storedSpec } from "../../src/manifest/manifest-schema.js";
import { readManifest } from "../../src/manifest/read-manifest.js";
import { eserveslessLabels, LABEL } from "../../src/run/sandbox.js";
import { testImages } from "../support/wire-app.js";
import { eventually } from "../support/eventually.js";
import { readFixture } from "../support/fixtures.js";
import { useEserveless } from "../support/use-eserveless.js";

const OWNER = "octo-org";
const REPO = "interrupted";

const stack = useEserveless({ repositories: [{ owner: OWNER, name: REPO }] });

const docker = new Docker();
/** The images built for a deployment, as the labels on them say. */
const imagesOf = (deploymentId: string) => docker.listImages({ filters: { label: [`${LABEL}.deployment=${deploymentId}`] } });

/** Builds a one-layer image labelled as eserveless labels a deployment's image; returns its tag. */
async function labelledImage(tag: string, labels: Record<string, string>): Promise<string> {
  const context = pack();
  const lines = [`FROM ${testImages.ESERVELESS_NODE_IMAGE}`, ...Object.entries(labels).map(([key, value]) => `LABEL ${key}=${JSON.stringify(value)}`)];
  context.entry({ name: "Dockerfile" }, `${lines.join("\n")}\n`);
  context.finalize();
  const stream = await docker.buildImage(Readable.from(context), { t: tag });
  await new Promise((resolve, reject) => docker.modem.followProgress(stream, (error: Error | null) => (error ? reject(error) : resolve(undefined))));
  return tag;
}

const mainStatuses = (sha: string) => stack.emulator.statuses(OWNER, REPO, sha).filter((s) => s.context === "eserveless");

describe("deployments cut short by a stop", () => {
  it("end as errors on their commit when eserveless shuts down mid-deployment", async () => {
    // Loading takes 5 s, so the stop lands while the deployment waits for readiness.
    const files: Record<string, unknown> = readFixture("node-hello");
    files["functions.js"] = "const end = Date.now() + 5000; while (Date.now() < end);\nmodule.exports = { API: (req, res) => res.end('ok'), Ticker() {} };\n";
    const sha = stack.emulator.commit(OWNER, REPO, { files: files as never });
    expect((await stack.server.deliver("push", stack.emulator.pushPayload(OWNER, REPO, { after: sha }))).status).toBe(202);
    for (let i = 0; i < 200 && mainStatuses(sha).length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(mainStatuses(sha)[0]?.state).toBe("pending");

    // Built: the stop lands while the deployment waits for its container.
    const deployment = await eventually("the deployment to start its containers", async () => {
      const latest = stack.server.store.listDeployments(`${OWNER}/${REPO}`, 1)[0];
      return latest?.state === "starting" ? latest : undefined;
    });
    await stack.restart(async () => {
      const final = mainStatuses(sha).at(-1)!;
      expect(final.state).toBe("error");
      expect(final.description).toContain("Interrupted");
      // Its image was built before the stop, and the stop left it.
      expect(await imagesOf(deployment.id)).toHaveLength(1);
    });
    expect(stack.server.store.getDeployment(deployment.id)).toMatchObject({ commit: sha, state: "error" });
    // The next start removes it: that deployment will never run.
    await stack.server.recovered;
    expect(await imagesOf(deployment.id)).toEqual([]);
  });

  it("end as errors at the next start when the process died without a word", async () => {
    const sha = stack.emulator.commit(OWNER, REPO, { files: readFixture("node-hello") });
    const repository = `${OWNER}/${REPO}`;
    // What a killed process leaves behind: a deployment still marked building.
    const left = stack.server.store.createDeployment({ repository, commit: sha, ref: "refs/heads/main", trigger: "push" });
    stack.server.store.updateDeployment(left.id, { state: "building" });
    await stack.restart();
    for (let i = 0; i < 100 && mainStatuses(sha).length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(mainStatuses(sha).at(-1)).toMatchObject({ state: "error", target_url: `${stack.server.url}/deployments/${left.id}` });
    expect(stack.server.store.getDeployment(left.id)).toMatchObject({ state: "error" });
    expect(stack.server.store.getDeployment(left.id)!.description).toContain("Interrupted");
  });

  it("keep the image of a deployment that went live before the process died, though it ends as an error", async () => {
    const sha = stack.emulator.commit(OWNER, REPO, { files: readFixture("node-hello") });
    const repository = `${OWNER}/${REPO}`;
    // Killed between the switch and the success: its functions are live, its deployment still starting.
    const left = stack.server.store.createDeployment({ repository, commit: sha, ref: "refs/heads/main", trigger: "push" });
    stack.server.store.updateDeployment(left.id, { state: "starting" });
    const instance = readFileSync(join(stack.server.dataDir, "instance-id"), "utf8").trim();
    const image = await labelledImage(`eserveless/${OWNER}/${REPO}:${sha.slice(0, 12)}-${left.id}`, eserveslessLabels({ instance, repository, commit: sha, deployment: left.id }));
    const { manifest } = await readManifest(readFixture("node-hello")[".eserveless.yaml"]!.content.toString("utf8"), { has: () => true });
    stack.server.store.setLiveFunctions(repository, { id: left.id, commit: sha, image }, manifest.functions.map((fn) => storedSpec(fn, manifest)));

    await stack.restart();
    await stack.server.recovered;
    expect(stack.server.store.getDeployment(left.id)).toMatchObject({ state: "error" });
    expect(mainStatuses(sha).at(-1)).toMatchObject({ state: "error" });
    expect((await imagesOf(left.id)).map((i) => i.RepoTags)).toEqual([[image]]);
  });
});
