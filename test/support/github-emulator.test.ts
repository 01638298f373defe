import { generateKeyPairSync, sign } from "node:crypto";
import { buffer } from "node:stream/consumers";
import { gunzipSync } from "node:zlib";
import { createAppAuth } from "@octokit/auth-app";
import { Octokit } from "@octokit/rest";
import { Webhooks } from "@octokit/webhooks";
import { extract, type Header } from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { oversizedTarball, startGitHubEmulator, type GitHubEmulator } from "./github-emulator.js";
import { webhookDelivery } from "./webhook-delivery.js";

let emulator: GitHubEmulator;
let acme: ReturnType<GitHubEmulator["addRepository"]>;
let globex: ReturnType<GitHubEmulator["addRepository"]>;
let mainSha: string;
let featureSha: string;

const FUNCTIONS = { owner: "acme", repo: "functions" };
// Octokit logs every 4xx; these tests provoke many on purpose.
const log = { debug() {}, info() {}, warn() {}, error() {} };
const octokitWith = (auth: string) => new Octokit({ auth, baseUrl: emulator.url, log });
const appOctokit = (privateKey = emulator.privateKey) =>
  new Octokit({ authStrategy: createAppAuth, auth: { appId: emulator.appId, privateKey }, baseUrl: emulator.url, log });
const installationOctokit = (installationId: number) =>
  new Octokit({
    authStrategy: createAppAuth,
    auth: { appId: emulator.appId, privateKey: emulator.privateKey, installationId },
    baseUrl: emulator.url,
    log,
  });

/** A hand-made App JWT, to probe claims Octokit would never send. */
function signJwt(claims: Record<string, unknown>, privateKey = emulator.privateKey): string {
  const encode = (part: unknown) => Buffer.from(JSON.stringify(part)).toString("base64url");
  const unsigned = `${encode({ alg: "RS256", typ: "JWT" })}.${encode(claims)}`;
  return `${unsigned}.${sign("RSA-SHA256", Buffer.from(unsigned), privateKey).toString("base64url")}`;
}

async function untar(tar: Buffer) {
  const entries: Array<Pick<Header, "name" | "type" | "mode" | "linkname"> & { content: string }> = [];
  const extractor = extract();
  extractor.end(tar);
  for await (const entry of extractor) {
    const { name, type, mode, linkname } = entry.header;
    entries.push({ name, type, mode, linkname, content: (await buffer(entry)).toString("utf8") });
  }
  return entries;
}

beforeAll(async () => {
  emulator = await startGitHubEmulator({ appId: 777, webhookSecret: "s3cret" });
  acme = emulator.addRepository({ owner: "acme", name: "functions" });
  emulator.addRepository({ owner: "acme", name: "sibling" });
  globex = emulator.addRepository({ owner: "globex", name: "api", defaultBranch: "trunk" });
  emulator.commit("acme", "functions", { files: { "README.md": "first" }, message: "first" });
  mainSha = emulator.commit("acme", "functions", {
    message: "second",
    tag: "v1.0.0",
    files: {
      "eserveless.yaml": "functions: {}\n",
      "src/handler.js": "export default () => 'hi';\n",
      "bin/run.sh": { content: "#!/bin/sh\n", mode: 0o755 },
      "latest.js": { symlink: "src/handler.js" },
      "copy.js": { hardlink: "src/handler.js" },
    },
  });
  featureSha = emulator.commit("acme", "functions", { branch: "feature/x", files: { "a.txt": "feature" } });
  emulator.commit("globex", "api", { files: { "index.js": "globex" } });
});

afterAll(async () => {
  await emulator.close();
});

describe("App authentication", () => {
  it("gives the App JWT the installation of a repository", async () => {
    const { data } = await appOctokit().rest.apps.getRepoInstallation(FUNCTIONS);
    expect(data).toMatchObject({ id: acme.installationId, account: { login: "acme" }, app_id: 777 });
    expect(data.id).not.toBe(globex.installationId);
    expect(emulator.requests.at(-1)).toEqual({ method: "GET", path: "/repos/acme/functions/installation", auth: "jwt" });
  });

  it("serves the app and its installations to the JWT only", async () => {
    expect((await appOctokit().rest.apps.getAuthenticated()).data).toMatchObject({ id: 777 });
    const installation = await appOctokit().rest.apps.getInstallation({ installation_id: globex.installationId });
    expect(installation.data.account).toMatchObject({ login: "globex" });
    const { data } = await appOctokit().rest.apps.createInstallationAccessToken({ installation_id: acme.installationId });
    expect(data.token).toMatch(/^ghs_/);
    expect(Date.parse(data.expires_at) - Date.now()).toBeGreaterThan(59 * 60 * 1000);
    // An installation token is no App credential.
    await expect(octokitWith(data.token).rest.apps.getAuthenticated()).rejects.toMatchObject({ status: 401 });
  });

  it("rejects a JWT signed with another key", async () => {
    const { privateKey: other } = generateKeyPairSync("rsa", {
      modulusLength: 2048,
      privateKeyEncoding: { type: "pkcs1", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    await expect(appOctokit(other).rest.apps.getAuthenticated()).rejects.toMatchObject({
      status: 401,
      message: expect.stringContaining("A JSON web token could not be decoded"),
    });
    expect(emulator.requests.at(-1)?.auth).toBe("invalid");
  });

  it("checks the JWT claims: iss as a string passes, an expired or too long-lived one fails", async () => {
    const now = Math.floor(Date.now() / 1000);
    const withJwt = (claims: Record<string, unknown>) => octokitWith(signJwt(claims)).rest.apps.getAuthenticated();
    await expect(withJwt({ iss: "777", iat: now - 30, exp: now + 570 })).resolves.toMatchObject({ status: 200 });
    await expect(withJwt({ iss: 777, iat: now - 700, exp: now - 100 })).rejects.toMatchObject({ status: 401 });
    await expect(withJwt({ iss: 777, iat: now, exp: now + 3600 })).rejects.toMatchObject({ status: 401 });
    await expect(withJwt({ iss: 778, iat: now - 30, exp: now + 570 })).rejects.toMatchObject({ status: 401 });
  });

  it("refuses a JWT on an installation route", async () => {
    const now = Math.floor(Date.now() / 1000);
    const jwt = signJwt({ iss: 777, iat: now - 30, exp: now + 500 });
    await expect(octokitWith(jwt).rest.repos.get(FUNCTIONS)).rejects.toMatchObject({ status: 403 });
  });

  it("rejects a made-up installation token", async () => {
    await expect(octokitWith("ghs_madeUpToken000000000000000000000000").rest.repos.get(FUNCTIONS)).rejects.toMatchObject({
      status: 401,
      message: expect.stringContaining("Bad credentials"),
    });
    expect(emulator.requests.at(-1)?.auth).toBe("invalid");
  });
});

describe("installation access", () => {
  it("reads the repository", async () => {
    const { data } = await installationOctokit(acme.installationId).rest.repos.get(FUNCTIONS);
    expect(data).toMatchObject({ id: acme.id, full_name: "acme/functions", owner: { login: "acme" }, default_branch: "main" });
    expect(emulator.requests.at(-1)).toEqual({ method: "GET", path: "/repos/acme/functions", auth: "installation" });
  });

  it("does not let installation A read a repository of installation B", async () => {
    const globexRepo = { owner: "globex", repo: "api" };
    await expect(installationOctokit(acme.installationId).rest.repos.get(globexRepo)).rejects.toMatchObject({ status: 404 });
    const { data } = await installationOctokit(globex.installationId).rest.repos.get(globexRepo);
    expect(data.default_branch).toBe("trunk");
  });

  it("honours a token narrowed to some repositories", async () => {
    const { token } = (await appOctokit().auth({
      type: "installation",
      installationId: acme.installationId,
      repositoryNames: ["sibling"],
    })) as { token: string };
    expect((await octokitWith(token).rest.repos.get({ owner: "acme", repo: "sibling" })).data.name).toBe("sibling");
    await expect(octokitWith(token).rest.repos.get(FUNCTIONS)).rejects.toMatchObject({ status: 404 });
  });

  it("resolves a branch, a branch with a slash, a tag and a short sha to the commit", async () => {
    const octokit = installationOctokit(acme.installationId);
    const shaOf = async (ref: string) => (await octokit.rest.repos.getCommit({ ...FUNCTIONS, ref })).data.sha;
    expect(await shaOf("main")).toBe(mainSha);
    expect(await shaOf("v1.0.0")).toBe(mainSha);
    expect(await shaOf(mainSha.slice(0, 7))).toBe(mainSha);
    expect(await shaOf("feature/x")).toBe(featureSha);
    const { data } = await octokit.rest.repos.getCommit({ ...FUNCTIONS, ref: mainSha });
    expect(data.commit.message).toBe("second");
    await expect(shaOf("nope")).rejects.toMatchObject({
      status: 422,
      message: expect.stringContaining("No commit found for SHA: nope"),
    });
  });
});

describe("tarball download", () => {
  it("follows the codeload redirect to a GitHub-shaped archive", async () => {
    const octokit = installationOctokit(acme.installationId);
    const { data } = await octokit.rest.repos.downloadTarballArchive({ ...FUNCTIONS, ref: "main" });
    const gz = Buffer.from(data as ArrayBuffer);
    expect([gz[0], gz[1]]).toEqual([0x1f, 0x8b]);
    const tar = gunzipSync(gz);
    // tar-stream's extract swallows the global header, so check its bytes: typeflag 'g' and the sha as comment.
    expect(tar.subarray(0, 18).toString("latin1")).toBe("pax_global_header\0");
    expect(String.fromCharCode(tar[156] ?? 0)).toBe("g");
    expect(tar.subarray(512, 564).toString("latin1")).toBe(`52 comment=${mainSha}\n`);

    const top = `acme-functions-${mainSha.slice(0, 7)}`;
    const entries = await untar(tar);
    expect(entries[0]).toMatchObject({ name: `${top}/`, type: "directory", mode: 0o755 });
    expect(entries.map((e) => e.name)).toEqual([
      `${top}/`,
      `${top}/bin/`,
      `${top}/bin/run.sh`,
      `${top}/copy.js`,
      `${top}/eserveless.yaml`,
      `${top}/latest.js`,
      `${top}/src/`,
      `${top}/src/handler.js`,
    ]);
    const byName = new Map(entries.map((e) => [e.name.slice(top.length + 1), e]));
    expect(byName.get("bin/run.sh")).toMatchObject({ type: "file", mode: 0o755, content: "#!/bin/sh\n" });
    expect(byName.get("src/handler.js")).toMatchObject({ type: "file", mode: 0o644, content: "export default () => 'hi';\n" });
    expect(byName.get("latest.js")).toMatchObject({ type: "symlink", linkname: "src/handler.js" });
    expect(byName.get("copy.js")).toMatchObject({ type: "link", linkname: "src/handler.js" });
  });

  it("defaults to the default branch and hands out one-time codeload links", async () => {
    const octokit = installationOctokit(globex.installationId);
    const { status, headers } = await octokit.request("GET /repos/{owner}/{repo}/tarball", {
      owner: "globex",
      repo: "api",
      request: { redirect: "manual" },
    });
    expect(status).toBe(302);
    const location = String(headers.location);
    expect(location).toMatch(new RegExp(`^${emulator.url}/_codeload/globex/api/legacy.tar.gz/[0-9a-f]{40}\\?token=`));
    const first = await fetch(location);
    expect(first.headers.get("content-type")).toBe("application/x-gzip");
    const names = (await untar(gunzipSync(Buffer.from(await first.arrayBuffer())))).map((e) => e.name);
    expect(names.at(-1)).toMatch(/^globex-api-[0-9a-f]{7}\/index\.js$/);
    expect((await fetch(location)).status).toBe(404);
  });

  it("serves a raw tarball commit byte for byte", async () => {
    const raw = Buffer.from("not even gzip");
    const sha = emulator.commitTarball("acme", "sibling", raw);
    const octokit = installationOctokit(acme.installationId);
    const { data } = await octokit.rest.repos.downloadTarballArchive({ owner: "acme", repo: "sibling", ref: sha });
    expect(Buffer.from(data as ArrayBuffer).equals(raw)).toBe(true);
  });
  it("streams a commit's tarball made at each download, chunked, behind the same one-time link, and counts what it sent", async () => {
    let opened = 0;
    const sha = emulator.commitTarballStream("acme", "sibling", () => {
      opened++;
      return oversizedTarball(3 * 1024 * 1024);
    });
    const octokit = installationOctokit(acme.installationId);
    const { headers } = await octokit.request("GET /repos/{owner}/{repo}/tarball/{ref}", { owner: "acme", repo: "sibling", ref: sha, request: { redirect: "manual" } });
    const location = String(headers.location);
    const response = await fetch(location);
    expect(response.headers.get("transfer-encoding")).toBe("chunked");
    expect(response.headers.get("content-length")).toBeNull();
    const gz = Buffer.from(await response.arrayBuffer());
    expect(emulator.downloads.at(-1)).toEqual({ sha, bytes: gz.length });
    const entries = await untar(gunzipSync(gz));
    expect(entries.map((e) => e.name)).toEqual([
      "octo-huge-0000000/",
      "octo-huge-0000000/.eserveless.yaml",
      "octo-huge-0000000/blob-0.bin",
      "octo-huge-0000000/blob-1.bin",
      "octo-huge-0000000/blob-2.bin",
    ]);
    expect(gz.length).toBeGreaterThan(3 * 1024 * 1024); // stored, not compressed
    expect((await fetch(location)).status).toBe(404);
    expect(opened).toBe(1);
  });
});

describe("commit statuses", () => {
  type StatusParams = {
    state: "error" | "failure" | "pending" | "success";
    description?: string;
    target_url?: string;
    context?: string;
    sha?: string;
  };
  const post = (params: StatusParams) =>
    installationOctokit(acme.installationId).rest.repos.createCommitStatus({ ...FUNCTIONS, sha: mainSha, ...params });

  it("records statuses, listing them newest first", async () => {
    const created = await post({ state: "pending", context: "eserveless", description: "x".repeat(140) });
    expect(created.status).toBe(201);
    expect(created.data).toMatchObject({ state: "pending", context: "eserveless", target_url: null });
    await post({ state: "success", target_url: "https://fn.example.com/" });
    expect(emulator.statuses("acme", "functions", mainSha).map((s) => [s.state, s.context, s.target_url])).toEqual([
      ["pending", "eserveless", null],
      ["success", "default", "https://fn.example.com/"],
    ]);
    const octokit = installationOctokit(acme.installationId);
    const { data } = await octokit.rest.repos.listCommitStatusesForRef({ ...FUNCTIONS, ref: "v1.0.0" });
    expect(data.map((s) => s.state)).toEqual(["success", "pending"]);
  });

  it("validates like GitHub", async () => {
    await expect(post({ state: "failure", description: "x".repeat(141) })).rejects.toMatchObject({
      name: "HttpError", // Octokit's RequestError
      status: 422,
      response: { data: { message: "Validation Failed", errors: [expect.objectContaining({ field: "description" })] } },
    });
    await expect(post({ state: "done" as "success" })).rejects.toMatchObject({ status: 422 });
    await expect(post({ state: "success", target_url: "ftp://example.com" })).rejects.toMatchObject({ status: 422 });
    await expect(post({ state: "success", sha: "f".repeat(40) })).rejects.toMatchObject({
      status: 422,
      message: expect.stringContaining("No commit found"),
    });
    expect(emulator.statuses("acme", "functions", mainSha)).toHaveLength(2);
  });
});

describe("App manifest flow", () => {
  it("converts a code once, into credentials that authenticate", async () => {
    emulator.addManifestCode("code-1", { slug: "my-eserveless" });
    const octokit = new Octokit({ baseUrl: emulator.url, log });
    const { status, data } = await octokit.rest.apps.createFromManifest({ code: "code-1" });
    expect(status).toBe(201);
    expect(data).toMatchObject({ id: 777, slug: "my-eserveless", webhook_secret: "s3cret" });
    expect(data.pem).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
    const app = new Octokit({ authStrategy: createAppAuth, auth: { appId: data.id, privateKey: data.pem }, baseUrl: emulator.url, log });
    expect((await app.rest.apps.getAuthenticated()).data).toMatchObject({ id: 777 });
    await expect(octokit.rest.apps.createFromManifest({ code: "code-1" })).rejects.toMatchObject({ status: 404 });
  });
});

describe("push webhooks", () => {
  it("builds a GitHub-shaped push payload", () => {
    const payload = emulator.pushPayload("acme", "functions", { after: mainSha });
    expect(payload).toMatchObject({
      ref: "refs/heads/main",
      after: mainSha,
      created: false,
      deleted: false,
      installation: { id: acme.installationId },
      repository: { id: acme.id, full_name: "acme/functions", name: "functions", owner: { login: "acme" }, default_branch: "main" },
      head_commit: {
        id: mainSha,
        message: "second",
        added: expect.arrayContaining(["eserveless.yaml", "src/handler.js"]),
        removed: ["README.md"],
      },
    });
    expect(payload.before).toMatch(/^[0-9a-f]{40}$/);
    expect(payload.before).not.toBe("0".repeat(40));
    const deletion = emulator.pushPayload("acme", "functions", { after: mainSha, deleted: true, ref: "refs/tags/v1.0.0" });
    expect(deletion).toMatchObject({
      before: mainSha,
      after: "0".repeat(40),
      deleted: true,
      head_commit: null,
      commits: [],
    });
  });

  it("signs deliveries that @octokit/webhooks accepts", async () => {
    const payload = emulator.pushPayload("acme", "functions", { after: featureSha, ref: "feature/x" });
    const delivery = webhookDelivery({ event: "push", payload, secret: emulator.webhookSecret, id: "delivery-1" });
    expect(delivery.headers).toMatchObject({
      "x-github-event": "push",
      "x-github-delivery": "delivery-1",
      "content-type": "application/json",
    });
    const signature = delivery.headers["x-hub-signature-256"] ?? "";
    const received: string[] = [];
    const webhooks = new Webhooks({ secret: "s3cret" });
    webhooks.on("push", ({ payload: push }) => void received.push(push.ref));
    await webhooks.verifyAndReceive({
      id: delivery.headers["x-github-delivery"] ?? "",
      name: "push",
      signature,
      payload: delivery.body,
    });
    expect(received).toEqual(["refs/heads/feature/x"]);
    expect(await new Webhooks({ secret: "wrong" }).verify(delivery.body, signature)).toBe(false);
  });
});

describe("deployments", () => {
  it("answers 409, as GitHub does, to a deployment without required_contexts while a status is pending; [] creates it", async () => {
    const octokit = installationOctokit(acme.installationId);
    const sha = emulator.commit("acme", "functions", { files: { "README.md": "deploy me" } });
    await octokit.rest.repos.createCommitStatus({ ...FUNCTIONS, sha, state: "pending", context: "eserveless" });
    await expect(octokit.rest.repos.createDeployment({ ...FUNCTIONS, ref: sha, environment: "production" })).rejects.toMatchObject({
      status: 409,
      message: expect.stringContaining("Commit status checks failed") as unknown,
    });
    const { data, status } = await octokit.rest.repos.createDeployment({ ...FUNCTIONS, ref: sha, environment: "production", required_contexts: [], auto_merge: false });
    expect(status).toBe(201);
    const id = (data as { id: number }).id;
    await octokit.rest.repos.createDeploymentStatus({ ...FUNCTIONS, deployment_id: id, state: "in_progress", log_url: "http://127.0.0.1/log" });
    await octokit.rest.repos.createDeploymentStatus({ ...FUNCTIONS, deployment_id: id, state: "success", environment_url: "http://127.0.0.1/fn", log_url: "http://127.0.0.1/log" });
    const recorded = emulator.deployments("acme", "functions").find((d) => d.id === id);
    expect(recorded).toMatchObject({ sha, environment: "production", required_contexts: [], auto_merge: false, production_environment: true });
    expect(recorded?.statuses.map((s) => [s.state, s.environment_url])).toEqual([
      ["in_progress", ""],
      ["success", "http://127.0.0.1/fn"],
    ]);
    const listed = await octokit.rest.repos.listDeployments({ ...FUNCTIONS, sha });
    expect(listed.data.map((d) => d.id)).toEqual([id]);
    // Once every status is green, leaving the key out works too.
    await octokit.rest.repos.createCommitStatus({ ...FUNCTIONS, sha, state: "success", context: "eserveless" });
    expect((await octokit.rest.repos.createDeployment({ ...FUNCTIONS, ref: sha, environment: "production" })).status).toBe(201);
  });

  it("refuses an installation that has not accepted deployments: write (403), and check runs without checks: read", async () => {
    const limited = emulator.addRepository({ owner: "initech", name: "old", permissions: { contents: "read", metadata: "read", statuses: "write" } });
    const sha = emulator.commit("initech", "old", { files: { "README.md": "x" } });
    const octokit = installationOctokit(limited.installationId);
    await expect(octokit.rest.repos.createDeployment({ owner: "initech", repo: "old", ref: sha, required_contexts: [] })).rejects.toMatchObject({ status: 403 });
    await expect(octokit.rest.checks.listForRef({ owner: "initech", repo: "old", ref: sha })).rejects.toMatchObject({ status: 403 });
  });

  it("serves other apps' check runs and statuses on a commit", async () => {
    const sha = emulator.commit("acme", "functions", { files: { "README.md": "checked" } });
    emulator.setCheckRun("acme", "functions", sha, { name: "lint", status: "in_progress" });
    emulator.setCheckRun("acme", "functions", sha, { name: "lint", status: "completed", conclusion: "neutral" });
    emulator.addStatus("acme", "functions", sha, { state: "pending", context: "ci/test" });
    const octokit = installationOctokit(acme.installationId);
    const runs = await octokit.rest.checks.listForRef({ ...FUNCTIONS, ref: sha });
    expect(runs.data.check_runs.map((r) => [r.name, r.status, r.conclusion])).toEqual([["lint", "completed", "neutral"]]);
    const statuses = await octokit.rest.repos.listCommitStatusesForRef({ ...FUNCTIONS, ref: sha });
    expect(statuses.data.map((s) => [s.context, s.state, s.creator?.login])).toEqual([["ci/test", "pending", "ci-app[bot]"]]);
  });
});
