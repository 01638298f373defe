import Docker from "dockerode";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { pack } from "tar-stream";
import { describe, expect, it } from "vitest";
import { defaultManifestLimits } from "../../src/manifest/manifest-limits.js";
import { readFixture } from "../support/fixtures.js";
import { ADMIN_TOKEN } from "../support/start-eserveless.js";
import { useEserveless } from "../support/use-eserveless.js";

const OWNER = "octo-org";
const REPO = "hello";

const stack = useEserveless({ repositories: [{ owner: OWNER, name: REPO }] });

/** The fixture project with its function answering `version`. */
function project(version: string, overrides: Record<string, string> = {}) {
  const files: Record<string, string | Buffer | { content: Buffer; mode: number }> = readFixture("node-hello");
  const source = (files["functions.js"] as { content: Buffer }).content.toString();
  files["functions.js"] = source.replace('const VERSION = "v1"', `const VERSION = "${version}"`);
  return { ...files, ...overrides };
}

async function push(sha: string, init: { id?: string; secret?: string; ref?: string } = {}) {
  return stack.server.deliver("push", stack.emulator.pushPayload(OWNER, REPO, { after: sha, ref: init.ref }), init);
}

/** Waits until the commit's `eserveless` status leaves pending; returns every status of the commit. */
const settled = (sha: string) => stack.settled(OWNER, REPO, sha);

async function callApi(path = "/") {
  const response = await fetch(`${stack.server.url}/fn/${OWNER}/${REPO}/API${path}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown>, headers: response.headers };
}

function tarGz(entries: Array<{ name: string; type?: "file" | "symlink"; linkname?: string; content?: string }>, sha = "abc1234") {
  const tar = pack();
  const chunks: Buffer[] = [];
  tar.on("data", (chunk) => chunks.push(chunk as Buffer));
  tar.entry({ name: "pax_global_header", type: "pax-global-header", pax: { comment: sha } } as never);
  tar.entry({ name: `${OWNER}-${REPO}-${sha}/`, type: "directory" });
  for (const entry of entries) {
    if (entry.type === "symlink") tar.entry({ name: `${OWNER}-${REPO}-${sha}/${entry.name}`, type: "symlink", linkname: entry.linkname });
    else tar.entry({ name: `${OWNER}-${REPO}-${sha}/${entry.name}` }, entry.content ?? "");
  }
  tar.finalize();
  return new Promise<Buffer>((resolve) => tar.on("end", () => resolve(gzipSync(Buffer.concat(chunks)))));
}

describe("push to deploy", () => {
  it("deploys a signed push: pending, then success with the function's live URL", async () => {
    const sha = stack.emulator.commit(OWNER, REPO, { files: project("v1") });
    const response = await push(sha);
    expect(response.status).toBe(202);
    const accepted = (await response.json()) as { action: string; deployment: { id: string } };
    expect(accepted.action).toBe("deploying");

    const { statuses, final } = await settled(sha);
    const main = statuses.filter((s) => s.context === "eserveless");
    expect(main[0]).toMatchObject({ state: "pending", description: "Building 2 functions…" });
    expect(final.state).toBe("success");
    expect(final.description).toMatch(/^Deployed 2 functions in \d+\.\d s, cold start \d+ ms$/);
    expect(final.target_url).toBe(`${stack.server.url}/deployments/${accepted.deployment.id}`);

    const api = statuses.find((s) => s.context === "eserveless/API");
    expect(api).toMatchObject({ state: "success", target_url: `${stack.server.url}/fn/${OWNER}/${REPO}/API` });
    const ticker = statuses.find((s) => s.context === "eserveless/Ticker");
    expect(ticker?.description).toContain("*/5 * * * *");

    const answer = await fetch(`${api!.target_url}/greet?name=ada`, { method: "POST" });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ greeting: "hello", version: "v1", path: "/greet?name=ada", method: "POST" });

    const page = await fetch(final.target_url!, { headers: { accept: "application/json" } });
    const body = (await page.json()) as { deployment: { state: string }; log: Array<{ line: string }> };
    expect(body.deployment.state).toBe("success");
    expect(body.log.map((l) => l.line)).toContain(`API: ${stack.server.url}/fn/${OWNER}/${REPO}/API`);
  });

  it("reuses the dependency layer on a code-only push", async () => {
    const sha = stack.emulator.commit(OWNER, REPO, { files: project("v2") });
    expect((await push(sha)).status).toBe(202);
    const { final } = await settled(sha);
    expect(final.state).toBe("success");
    const deployment = stack.server.store.listDeployments(`${OWNER}/${REPO}`, 1)[0]!;
    const log = stack.server.store.deploymentLog(deployment.id).map((l) => l.line);
    const install = log.findIndex((line) => line.includes("install-deps.sh"));
    expect(install).toBeGreaterThan(-1);
    expect(log[install + 1]).toContain("Using cache");
    expect((await callApi()).body.version).toBe("v2");
  });

  it("rejects a bad signature with 401 and deploys nothing", async () => {
    const sha = stack.emulator.commit(OWNER, REPO, { files: project("evil") });
    const before = stack.server.store.listDeployments().length;
    const response = await push(sha, { secret: "not-the-secret" });
    expect(response.status).toBe(401);
    expect(stack.server.store.listDeployments().length).toBe(before);
    expect(stack.emulator.statuses(OWNER, REPO, sha)).toEqual([]);

    const unsigned = await fetch(`${stack.server.url}/webhooks/github`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-github-event": "push", "x-github-delivery": "x" },
      body: JSON.stringify(stack.emulator.pushPayload(OWNER, REPO, { after: sha })),
    });
    expect(unsigned.status).toBe(401);
    expect(stack.server.store.listDeployments().length).toBe(before);
  });

  it("deploys a redelivery once", async () => {
    const sha = stack.emulator.commit(OWNER, REPO, { files: project("v3") });
    const id = `delivery-${randomBytes(4).toString("hex")}`;
    expect((await push(sha, { id })).status).toBe(202);
    const again = await push(sha, { id });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ action: "ignored" });
    await settled(sha);
    expect(stack.server.store.listDeployments().filter((d) => d.commit === sha)).toHaveLength(1);
    expect(stack.emulator.statuses(OWNER, REPO, sha).filter((s) => s.context === "eserveless" && s.state === "pending")).toHaveLength(1);
  });

  it("leaves other branches, tags and deletions alone", async () => {
    const sha = stack.emulator.commit(OWNER, REPO, { files: project("feature"), branch: "feature" });
    for (const ref of ["refs/heads/feature", "refs/tags/v9"]) {
      const response = await push(sha, { ref });
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ action: "ignored" });
    }
    const deleted = await stack.server.deliver("push", stack.emulator.pushPayload(OWNER, REPO, { after: sha, deleted: true }));
    expect(await deleted.json()).toMatchObject({ action: "ignored" });
    expect(stack.emulator.statuses(OWNER, REPO, sha)).toEqual([]);
    expect((await callApi()).body.version).toBe("v3");
  });

  it("fails an invalid manifest with the reason on the commit, and the previous version keeps answering", async () => {
    const manifest = "runtime: node\nfunctions:\n  - name: API\n    type: htp\n";
    const sha = stack.emulator.commit(OWNER, REPO, { files: project("broken", { ".eserveless.yaml": manifest }) });
    await push(sha);
    const { final } = await settled(sha);
    expect(final.state).toBe("failure");
    expect(final.description).toMatch(/line 4.*functions\[0\]\.type/);
    expect(final.description!.length).toBeLessThanOrEqual(140);
    expect((await callApi()).body.version).toBe("v3");
  });

  it("fails a manifest over this server's maximums, naming the setting on the commit", async () => {
    // What the review deployed: 16g of memory and a million warm replicas.
    const manifest = "runtime: node\nfunctions:\n  - name: API\n    type: http\n    memory: 16g\n    minReplicas: 1000000\n    maxReplicas: 1000000\n";
    const sha = stack.emulator.commit(OWNER, REPO, { files: project("greedy", { ".eserveless.yaml": manifest }) });
    await push(sha);
    const { final } = await settled(sha);
    expect(final.state).toBe("failure");
    expect(final.description).toMatch(/^\.eserveless\.yaml line 5: functions\[0\]\.memory "16g" is over this server's maximum of 1 GiB \(ESERVELESS_MAX_MEMORY\)/);
    const deployment = stack.server.store.listDeployments(`${OWNER}/${REPO}`, 1)[0]!;
    expect(deployment.commit).toBe(sha);
    const log = stack.server.store.deploymentLog(deployment.id).map((l) => l.line);
    expect(log.some((line) => line.includes(`minReplicas 1000000 is over this server's maximum of ${defaultManifestLimits.maxReplicas} (ESERVELESS_MAX_REPLICAS)`))).toBe(true);
    // Nothing was built or started for it.
    expect(log.some((line) => line.startsWith("Building image"))).toBe(false);
    expect((await callApi()).body.version).toBe("v3");
  });

  it("fails a manifest with more functions than allowed, or larger than allowed, naming the setting", async () => {
    const count = defaultManifestLimits.maxFunctions + 1;
    const many = `runtime: node\nfunctions:\n${Array.from({ length: count }, (_, i) => `  - { name: f${i}, type: http }`).join("\n")}\n`;
    const huge = `runtime: node\nfunctions: [{ name: API, type: http }]\n${"#".repeat(defaultManifestLimits.maxManifestBytes)}\n`;
    for (const [manifest, setting] of [
      [many, "ESERVELESS_MAX_FUNCTIONS"],
      [huge, "ESERVELESS_MAX_MANIFEST_BYTES"],
    ] as const) {
      const sha = stack.emulator.commit(OWNER, REPO, { files: project("too-much", { ".eserveless.yaml": manifest }) });
      await push(sha);
      const { final } = await settled(sha);
      expect(final.state).toBe("failure");
      expect(final.description).toContain(`(${setting})`);
    }
    expect((await callApi()).body.version).toBe("v3");
  });

  it("fails a commit whose code crashes at start, and the previous version keeps answering", async () => {
    const sha = stack.emulator.commit(OWNER, REPO, { files: project("crash", { "functions.js": "throw new Error('boom at load');\n" }) });
    await push(sha);
    const { final } = await settled(sha);
    expect(final.state).toBe("failure");
    expect(final.description).toContain("API");
    const deployment = stack.server.store.listDeployments(`${OWNER}/${REPO}`, 1)[0]!;
    expect(stack.server.store.deploymentLog(deployment.id).some((l) => l.line.includes("boom at load"))).toBe(true);
    expect((await callApi()).body.version).toBe("v3");
  });

  it("posts nothing for a commit without .eserveless.yaml", async () => {
    const files = project("none");
    delete (files as Record<string, unknown>)[".eserveless.yaml"];
    const sha = stack.emulator.commit(OWNER, REPO, { files });
    expect((await push(sha)).status).toBe(202);
    await stack.server.deployer.idle();
    expect(stack.emulator.statuses(OWNER, REPO, sha)).toEqual([]);
    expect(stack.server.store.listDeployments(`${OWNER}/${REPO}`, 1)[0]).toMatchObject({ commit: sha, state: "skipped" });
    expect((await callApi()).body.version).toBe("v3");
  });

  it("refuses tarballs with a ../ entry or a symlink out of the tree, writing nothing outside", async () => {
    const marker = `eserveless-escape-${randomBytes(4).toString("hex")}`;
    const traversal = stack.emulator.commitTarball(
      OWNER,
      REPO,
      await tarGz([
        { name: ".eserveless.yaml", content: "runtime: node\nfunctions:\n  - name: API\n    type: http\n" },
        { name: `../../../../../../tmp/${marker}`, content: "pwned" },
      ]),
    );
    await push(traversal);
    const first = await settled(traversal);
    expect(first.final.state).toBe("failure");
    expect(first.final.description).toMatch(/\.\./);
    expect(existsSync(`/tmp/${marker}`)).toBe(false);

    const symlink = stack.emulator.commitTarball(
      OWNER,
      REPO,
      await tarGz([
        { name: ".eserveless.yaml", content: "runtime: node\nfunctions:\n  - name: API\n    type: http\n" },
        { name: "passwd", type: "symlink", linkname: "../../../../etc/passwd" },
      ]),
    );
    await push(symlink);
    const second = await settled(symlink);
    expect(second.final.state).toBe("failure");
    expect(second.final.description).toMatch(/passwd/);
    expect((await callApi()).body.version).toBe("v3");
  });

  it("redeploys by hand with the admin token, and refuses without it", async () => {
    const sha = stack.emulator.commit(OWNER, REPO, { files: project("v4") });
    const request = (token: string | undefined, body: unknown) =>
      fetch(`${stack.server.url}/redeploy`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });

    expect((await request(undefined, { repository: `${OWNER}/${REPO}` })).status).toBe(401);
    expect((await request("wrong-token-wrong-token", { repository: `${OWNER}/${REPO}` })).status).toBe(401);
    const bad = await request(ADMIN_TOKEN, { repository: "not a repo" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toContain("owner/repo");
    const unknown = await request(ADMIN_TOKEN, { repository: "someone/else" });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { message: string } }).error.message).toContain("Install the App");
    const noRef = await request(ADMIN_TOKEN, { repository: `${OWNER}/${REPO}`, ref: "no-such-branch" });
    expect(noRef.status).toBe(404);
    expect(stack.emulator.statuses(OWNER, REPO, sha)).toEqual([]);

    const accepted = await request(ADMIN_TOKEN, { repository: `https://github.com/${OWNER}/${REPO}` });
    expect(accepted.status).toBe(202);
    const body = (await accepted.json()) as { deployment: { id: string; url: string; commit: string } };
    expect(body.deployment.commit).toBe(sha);
    expect(body.deployment.url).toBe(`${stack.server.url}/deployments/${body.deployment.id}`);
    expect((await settled(sha)).final.state).toBe("success");
    expect((await callApi()).body.version).toBe("v4");
  });

  it("lets the later of two quick pushes win", async () => {
    const earlier = stack.emulator.commit(OWNER, REPO, { files: project("v5") });
    const later = stack.emulator.commit(OWNER, REPO, { files: project("v6") });
    await push(earlier);
    await push(later);
    const last = await settled(later);
    expect(last.final.state).toBe("success");
    const first = await settled(earlier);
    expect(first.final.state).toBe("error");
    expect(first.final.description).toContain(`Superseded by ${later.slice(0, 7)}`);
    expect((await callApi()).body.version).toBe("v6");
  });

  it("keeps only the images of the last ESERVELESS_KEEP_RELEASES (5) releases, the live one first", async () => {
    const instance = readFileSync(join(stack.server.dataDir, "instance-id"), "utf8").trim();
    const images = await new Docker().listImages({ filters: { label: [`dev.eserveless.instance=${instance}`, `dev.eserveless.repository=${OWNER}/${REPO}`] } });
    const live = stack.server.store.liveFunction(`${OWNER}/${REPO}`, "API")!.image;
    const releases = stack.server.store.successfulDeployments(`${OWNER}/${REPO}`, "production", 5).map((d) => d.image);
    expect(releases[0]).toBe(live);
    expect(images.flatMap((image) => image.RepoTags ?? []).sort()).toEqual([...new Set(releases)].sort());
  });

  it("answers 404 with what was looked for when a function is unknown", async () => {
    const response = await fetch(`${stack.server.url}/fn/${OWNER}/${REPO}/Nope/x`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { message: string } }).error.message).toContain(`"Nope"`);
  });
});
