import Docker from "dockerode";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { readFixture } from "../support/fixtures.js";
import { runCli } from "../support/run-cli.js";
import { ADMIN_TOKEN } from "../support/start-eserveless.js";
import { useEserveless } from "../support/use-eserveless.js";
import { signIn } from "../support/sign-in.js";

// Previews per pull request, end to end: the GitHub emulator's pull_request
// and issue_comment events over signed HTTP, real builds and containers.

const OWNER = "octo-org";
const REPO = "previews";
const SECRETS_REPO = "preview-secrets";
const CRON_REPO = "preview-cron";
/** An installation that has not accepted the pull_requests permission. */
const OLD_OWNER = "old-install";
const PROD_KEY = `sk_live_${"production".repeat(2)}_4e1f`;
const PREVIEW_KEY = `sk_test_${"preview".repeat(3)}_9a0b`;

let serverLog = "";
const logTo = new PassThrough();
logTo.on("data", (chunk: Buffer) => (serverLog += chunk.toString()));
const stack = useEserveless({
  repositories: [
    { owner: OWNER, name: REPO },
    { owner: OWNER, name: SECRETS_REPO },
    { owner: OWNER, name: CRON_REPO },
    { owner: OLD_OWNER, name: REPO },
  ],
  env: { LOG_LEVEL: "info" },
  logTo,
});
const docker = new Docker();

/** The node-hello fixture answering `version`. */
function project(version: string) {
  const files: Record<string, string | Buffer | { content: Buffer; mode: number }> = readFixture("node-hello");
  const source = (files["functions.js"] as { content: Buffer }).content.toString();
  files["functions.js"] = source.replace('const VERSION = "v1"', `const VERSION = "${version}"`);
  return files;
}

/** node-hello whose Ticker declares the secret CRON_KEY and prints its version and which kind of key it got (the value itself is masked in runs). */
function cronProject(version: string) {
  const files = project(version);
  const manifest = files[".eserveless.yaml"] as { content: Buffer; mode: number };
  files[".eserveless.yaml"] = { ...manifest, content: Buffer.from(`${manifest.content.toString()}    secrets: [CRON_KEY]\n`) };
  files["functions.js"] = (files["functions.js"] as string).replace("console.log(`tick ${envs.ESERVELESS_TARGET}`);", "console.log(`tick ${VERSION} key ${process.env.CRON_KEY.slice(0, 8)}`);");
  return files;
}

const pullRequest = (owner: string, repo: string, input: Parameters<typeof stack.emulator.pullRequestPayload>[2]) =>
  stack.server.deliver("pull_request", stack.emulator.pullRequestPayload(owner, repo, input));

async function answer(url: string) {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** This server's containers of one environment of a repository (all states). */
async function containersOf(repository: string, environment: string) {
  const all = await docker.listContainers({ all: true, filters: { label: [`dev.eserveless.repository=${repository}`] } });
  return all.filter((c) => (c.Labels["dev.eserveless.environment"] ?? "production") === environment);
}

async function imagesOf(repository: string, environment: string) {
  const all = await docker.listImages({ filters: { label: [`dev.eserveless.repository=${repository}`] } });
  return all.filter((image) => (image.Labels?.["dev.eserveless.environment"] ?? "production") === environment);
}

/** The head of pull request #5 at the end of the first test. */
let lastHead = "";

const previewUrl = (repo: string, number: number, name = "API") => `${stack.server.url}/pr/${OWNER}/${repo}/${number}/${name}`;

describe("previews per pull request", () => {
  it("a same-repository pull request's preview serves its head while production serves the default branch; a second push edits the one comment and keeps the URL", async () => {
    const main = stack.emulator.commit(OWNER, REPO, { files: project("main-1") });
    await stack.server.deliver("push", stack.emulator.pushPayload(OWNER, REPO, { after: main }));
    expect((await stack.settled(OWNER, REPO, main)).final.state).toBe("success");

    const head = stack.emulator.commit(OWNER, REPO, { files: project("pr-1"), branch: "feature" });
    const opened = await pullRequest(OWNER, REPO, { number: 5, action: "opened", head });
    expect(opened.status).toBe(202);
    const { final, statuses } = await stack.settled(OWNER, REPO, head);
    expect(final.state).toBe("success");
    expect(statuses.filter((s) => s.context === "eserveless")[0]?.state).toBe("pending");
    expect(statuses.find((s) => s.context === "eserveless/API")).toMatchObject({ state: "success", target_url: previewUrl(REPO, 5) });

    expect(await answer(`${previewUrl(REPO, 5)}/x`)).toMatchObject({ status: 200, body: { version: "pr-1", path: "/x" } });
    expect(await answer(`${stack.server.url}/fn/${OWNER}/${REPO}/API`)).toMatchObject({ status: 200, body: { version: "main-1" } });
    // The preview's containers are its own, named and labelled apart from production's.
    const previewContainers = await containersOf(`${OWNER}/${REPO}`, "pr-5");
    expect(previewContainers.length).toBeGreaterThan(0);
    expect(previewContainers.every((c) => c.Names[0]!.includes("-pr-5-"))).toBe(true);
    // Its cron function is not scheduled: production's schedule is the only one.
    expect(stack.server.scheduler.schedules(`${OWNER}/${REPO}`).map((s) => s.function)).toEqual(["Ticker"]);

    await stack.server.previews!.idle();
    const [first, ...others] = stack.emulator.comments(OWNER, REPO, 5);
    expect(others).toEqual([]);
    expect(first!.body).toContain(`\`${head.slice(0, 7)}\``);
    expect(first!.body).toContain("**State** success");
    expect(first!.body).toContain(`| API | http | ${previewUrl(REPO, 5)} |`);
    expect(first!.body).toContain("| Ticker | cron | not scheduled in previews");

    const next = stack.emulator.commit(OWNER, REPO, { files: project("pr-2"), branch: "feature" });
    expect((await pullRequest(OWNER, REPO, { number: 5, action: "synchronize", head: next })).status).toBe(202);
    expect((await stack.settled(OWNER, REPO, next)).final.state).toBe("success");
    expect(await answer(previewUrl(REPO, 5))).toMatchObject({ status: 200, body: { version: "pr-2" } });
    expect(await answer(`${stack.server.url}/fn/${OWNER}/${REPO}/API`)).toMatchObject({ status: 200, body: { version: "main-1" } });
    await stack.server.previews!.idle();
    const comments = stack.emulator.comments(OWNER, REPO, 5);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.id).toBe(first!.id);
    expect(comments[0]!.body).toContain(`\`${next.slice(0, 7)}\``);
    expect(comments[0]!.body).not.toContain(head.slice(0, 7));
    lastHead = next;

    // eserveless ls lists the project's environments: production and the open preview, with URLs, commit and state.
    const ls = await runCli(["ls", `${OWNER}/${REPO}`], { ESERVELESS_URL: stack.server.url, ESERVELESS_ADMIN_TOKEN: ADMIN_TOKEN, XDG_CONFIG_HOME: "/nonexistent" });
    expect(ls.code).toBe(0);
    const previewRow = ls.stdout.split("\n").find((line) => line.includes("pr-5 (#5)"));
    expect(previewRow).toContain(next.slice(0, 7));
    expect(previewRow).toContain("success");
    expect(previewRow).toContain(previewUrl(REPO, 5));
    const productionRow = ls.stdout.split("\n").find((line) => line.includes(" production "));
    expect(productionRow).toContain(main.slice(0, 7));
    expect(productionRow).toContain(`${stack.server.url}/fn/${OWNER}/${REPO}/API`);
  });

  it("closing the pull request removes the preview's containers, images and routes within 30 s; its URLs answer 410 and the comment says so", async () => {
    const closedAt = Date.now();
    const response = await pullRequest(OWNER, REPO, { number: 5, action: "closed", head: lastHead, merged: true });
    expect(response.status).toBe(200);
    // The URL goes at once; containers and images within 30 s.
    const gone = await fetch(previewUrl(REPO, 5));
    expect(gone.status).toBe(410);
    expect(((await gone.json()) as { error: { message: string } }).error.message).toContain("was removed with the pull request");
    await eventually("the preview's containers and images to go", async () =>
      (await containersOf(`${OWNER}/${REPO}`, "pr-5")).length === 0 && (await imagesOf(`${OWNER}/${REPO}`, "pr-5")).length === 0 ? true : undefined,
      { timeoutMs: 30_000 },
    );
    expect(Date.now() - closedAt).toBeLessThan(30_000);
    await stack.server.previews!.idle();
    const comments = stack.emulator.comments(OWNER, REPO, 5);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain("**Removed**");
    expect(comments[0]!.body).toContain("merged");
    // GitHub's environments: the preview's, transient, ends inactive; production's stays.
    const deployments = stack.emulator.deployments(OWNER, REPO);
    const preview = deployments.filter((d) => d.environment === "pr-5");
    expect(preview.length).toBeGreaterThan(0);
    expect(preview.every((d) => d.transient_environment && !d.production_environment)).toBe(true);
    expect(preview.at(-1)!.statuses.map((s) => s.state)).toEqual(["in_progress", "success", "inactive"]);
    expect(deployments.filter((d) => d.environment === "production").at(-1)!.statuses.at(-1)!.state).toBe("success");
    // Production is untouched.
    expect(await answer(`${stack.server.url}/fn/${OWNER}/${REPO}/API`)).toMatchObject({ status: 200, body: { version: "main-1" } });
    expect((await containersOf(`${OWNER}/${REPO}`, "production")).length).toBeGreaterThan(0);
    expect((await imagesOf(`${OWNER}/${REPO}`, "production")).length).toBeGreaterThan(0);
  });

  it("a fork's pull request is not deployed and is told why; a /preview from someone without write access does nothing, one from a maintainer deploys that commit", async () => {
    const head = stack.emulator.commit(OWNER, REPO, { files: project("fork-1"), branch: "refs-pull-7" });
    const opened = await pullRequest(OWNER, REPO, { number: 7, action: "opened", head, fork: "mallory/previews" });
    expect(opened.status).toBe(200);
    expect(((await opened.json()) as { action: string; reason: string }).reason).toContain("fork");
    await stack.server.previews!.idle();
    const [told] = stack.emulator.comments(OWNER, REPO, 7);
    expect(told!.body).toContain("comes from a fork (`mallory/previews`)");
    expect(told!.body).toContain("comment `/preview`");
    expect(stack.emulator.statuses(OWNER, REPO, head)).toEqual([]);
    expect((await fetch(previewUrl(REPO, 7))).status).toBe(404);

    // The fork's author cannot allow their own code.
    await stack.server.deliver("issue_comment", stack.emulator.issueCommentPayload(OWNER, REPO, { number: 7, body: "/preview", user: "mallory" }));
    await stack.server.previews!.idle();
    expect(stack.emulator.comments(OWNER, REPO, 7)[0]!.body).toContain("@mallory asked for a preview, but only someone with write access");
    expect(stack.emulator.statuses(OWNER, REPO, head)).toEqual([]);

    stack.emulator.setCollaborator(OWNER, REPO, "maintainer", "write");
    await stack.server.deliver("issue_comment", stack.emulator.issueCommentPayload(OWNER, REPO, { number: 7, body: "/preview", user: "maintainer" }));
    await stack.server.previews!.idle();
    expect((await stack.settled(OWNER, REPO, head)).final.state).toBe("success");
    expect(await answer(previewUrl(REPO, 7))).toMatchObject({ status: 200, body: { version: "fork-1" } });

    // A later push from the fork needs another /preview: it is not deployed.
    const later = stack.emulator.commit(OWNER, REPO, { files: project("fork-2"), branch: "refs-pull-7" });
    expect((await pullRequest(OWNER, REPO, { number: 7, action: "synchronize", head: later, fork: "mallory/previews" })).status).toBe(200);
    await stack.server.deployer.idle();
    expect(stack.emulator.statuses(OWNER, REPO, later)).toEqual([]);
    expect(await answer(previewUrl(REPO, 7))).toMatchObject({ status: 200, body: { version: "fork-1" } });
    await pullRequest(OWNER, REPO, { number: 7, action: "closed", head: later, fork: "mallory/previews" });
    await stack.server.previews!.idle();
  });

  it("a preview gets preview secrets only, never production's", async () => {
    const repository = `${OWNER}/${SECRETS_REPO}`;
    const setSecret = (value: string, environment: string) =>
      fetch(`${stack.server.url}/api/projects/${repository}/secrets/STRIPE_KEY?wait=false`, {
        method: "PUT",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ value, environment }),
      });
    expect((await setSecret(PROD_KEY, "production")).status).toBe(200);
    const main = stack.emulator.commit(OWNER, SECRETS_REPO, { files: readFixture("node-secrets") });
    await stack.server.deliver("push", stack.emulator.pushPayload(OWNER, SECRETS_REPO, { after: main }));
    expect((await stack.settled(OWNER, SECRETS_REPO, main)).final.state).toBe("success");

    // Only production's is set: the preview fails, naming the preview secret, and does not fall back to production's.
    const head = stack.emulator.commit(OWNER, SECRETS_REPO, { files: { ...readFixture("node-secrets"), "README.md": "pr" }, branch: "feature" });
    await pullRequest(OWNER, SECRETS_REPO, { number: 3, action: "opened", head });
    const failed = await stack.settled(OWNER, SECRETS_REPO, head);
    expect(failed.final).toMatchObject({ state: "failure", description: `Secret STRIPE_KEY is not set for preview; set it with: eserveless secrets set ${repository} STRIPE_KEY --env preview` });
    await stack.server.previews!.idle();
    const failure = stack.emulator.comments(OWNER, SECRETS_REPO, 3)[0]!.body;
    expect(failure).toContain("The preview was not deployed: Secret STRIPE_KEY is not set for preview");
    expect(failure).toContain(`[Deployment log](${stack.server.url}/deployments/`);

    expect((await setSecret(PREVIEW_KEY, "preview")).status).toBe(200);
    const next = stack.emulator.commit(OWNER, SECRETS_REPO, { files: { ...readFixture("node-secrets"), "README.md": "pr 2" }, branch: "feature" });
    await pullRequest(OWNER, SECRETS_REPO, { number: 3, action: "synchronize", head: next });
    expect((await stack.settled(OWNER, SECRETS_REPO, next)).final.state).toBe("success");
    expect(await answer(previewUrl(SECRETS_REPO, 3))).toMatchObject({ status: 200, body: { key: PREVIEW_KEY } });
    expect(await answer(`${stack.server.url}/fn/${repository}/API`)).toMatchObject({ status: 200, body: { key: PROD_KEY } });
    await stack.server.previews!.idle();
    expect(stack.emulator.comments(OWNER, SECRETS_REPO, 3)).toHaveLength(1);
  });

  it("changing or deleting a preview secret rolls every open preview's containers, never production's; rm without --force refuses while a preview declares it", async () => {
    const repository = `${OWNER}/${SECRETS_REPO}`;
    const cli = (args: string[], input?: string) =>
      runCli(["secrets", ...args], { ESERVELESS_URL: stack.server.url, ESERVELESS_ADMIN_TOKEN: ADMIN_TOKEN, XDG_CONFIG_HOME: "/nonexistent" }, process.cwd(), input);
    // A second open preview, next to #3 of the test before.
    const head = stack.emulator.commit(OWNER, SECRETS_REPO, { files: { ...readFixture("node-secrets"), "README.md": "pr 4" }, branch: "other" });
    await pullRequest(OWNER, SECRETS_REPO, { number: 4, action: "opened", head });
    expect((await stack.settled(OWNER, SECRETS_REPO, head)).final.state).toBe("success");
    expect(await answer(previewUrl(SECRETS_REPO, 4))).toMatchObject({ status: 200, body: { key: PREVIEW_KEY } });
    const productionContainers = (await containersOf(repository, "production")).map((c) => c.Id).sort();
    const deployments = stack.server.store.listDeployments(repository, 100).length;

    const newKey = `sk_test_${"rolled".repeat(3)}_5c6d`;
    const set = await cli(["set", repository, "STRIPE_KEY", "--env", "preview"], newKey);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain("Live: API (pr-3), API (pr-4) now run with the new value");
    // Once set returns, both previews answer with the new value; production keeps its own, in the same containers.
    expect(await answer(previewUrl(SECRETS_REPO, 3))).toMatchObject({ status: 200, body: { key: newKey } });
    expect(await answer(previewUrl(SECRETS_REPO, 4))).toMatchObject({ status: 200, body: { key: newKey } });
    expect(await answer(`${stack.server.url}/fn/${repository}/API`)).toMatchObject({ status: 200, body: { key: PROD_KEY } });
    expect((await containersOf(repository, "production")).map((c) => c.Id).sort()).toEqual(productionContainers);
    expect(stack.server.store.listDeployments(repository, 100).length).toBe(deployments);

    const listed = await cli(["ls", repository, "--json"]);
    const secrets = (JSON.parse(listed.stdout) as { secrets: Array<{ name: string; environment: string; functions: string[] }> }).secrets;
    expect(secrets.find((s) => s.environment === "preview")).toMatchObject({ name: "STRIPE_KEY", functions: ["API (pr-3)", "API (pr-4)"] });

    const refused = await cli(["rm", repository, "STRIPE_KEY", "--env", "preview"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/STRIPE_KEY \(preview\) is declared by live functions API \(pr-3\), API \(pr-4\).*--force/);
    expect(await answer(previewUrl(SECRETS_REPO, 3))).toMatchObject({ status: 200, body: { key: newKey } });

    const removed = await cli(["rm", repository, "STRIPE_KEY", "--env", "preview", "--force"]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain("Live: API (pr-3), API (pr-4) now run without it");
    expect(await answer(previewUrl(SECRETS_REPO, 3))).toMatchObject({ status: 200, body: { key: null } });
    expect(await answer(previewUrl(SECRETS_REPO, 4))).toMatchObject({ status: 200, body: { key: null } });
    expect(await answer(`${stack.server.url}/fn/${repository}/API`)).toMatchObject({ status: 200, body: { key: PROD_KEY } });
    await pullRequest(OWNER, SECRETS_REPO, { number: 4, action: "closed", head });
    await stack.server.previews!.idle();
  });

  it("a preview's cron function never runs on schedule but runs by hand (eserveless run --env, the API, the dashboard) with the preview's image and preview secrets, its runs apart from production's", async () => {
    const repository = `${OWNER}/${CRON_REPO}`;
    const env = { ESERVELESS_URL: stack.server.url, ESERVELESS_ADMIN_TOKEN: ADMIN_TOKEN, XDG_CONFIG_HOME: "/nonexistent" };
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${stack.server.url}${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, accept: "application/json", "content-type": "application/json", ...init.headers } });
    for (const [environment, value] of [["production", PROD_KEY], ["preview", PREVIEW_KEY]]) {
      expect((await api(`/api/projects/${repository}/secrets/CRON_KEY`, { method: "PUT", body: JSON.stringify({ value, environment }) })).status).toBe(200);
    }
    const main = stack.emulator.commit(OWNER, CRON_REPO, { files: cronProject("main-1") });
    await stack.server.deliver("push", stack.emulator.pushPayload(OWNER, CRON_REPO, { after: main }));
    expect((await stack.settled(OWNER, CRON_REPO, main)).final.state).toBe("success");
    const head = stack.emulator.commit(OWNER, CRON_REPO, { files: cronProject("pr-9"), branch: "feature" });
    await pullRequest(OWNER, CRON_REPO, { number: 9, action: "opened", head });
    expect((await stack.settled(OWNER, CRON_REPO, head)).final.state).toBe("success");

    // Not scheduled: production's Ticker is the repository's only schedule.
    expect(stack.server.scheduler.schedules(repository).map((s) => [s.function, s.commit])).toEqual([["Ticker", main]]);
    await stack.server.previews!.idle();
    const comment = stack.emulator.comments(OWNER, CRON_REPO, 9)[0]!.body;
    expect(comment).toContain(`| Ticker | cron | not scheduled in previews; run it by hand: \`eserveless run ${repository}/Ticker --env pr-9\``);
    expect(comment).toContain(`(${stack.server.url}/functions/${repository}/Ticker/runs?environment=pr-9)`);

    // By hand, as the comment says: the preview's code, the preview's secret.
    const preview = await runCli(["run", `${repository}/Ticker`, "--env", "pr-9"], env);
    expect(preview.stderr).toContain(`of ${repository}/Ticker (pr-9) succeeded`);
    expect(preview.code, preview.stderr).toBe(0);
    expect(preview.stdout.split("\n")[0]).toBe(`tick pr-9 key ${PREVIEW_KEY.slice(0, 8)}`);
    const production = await runCli(["run", `${repository}/Ticker`], env);
    expect(production.code, production.stderr).toBe(0);
    expect(production.stdout.split("\n")[0]).toBe(`tick main-1 key ${PROD_KEY.slice(0, 8)}`);

    // The API: a run of the preview answers with its page; each environment lists its own runs only.
    const started = await api(`/functions/${repository}/Ticker/runs?environment=pr-9`, { method: "POST" });
    expect(started.status).toBe(202);
    const startedBody = (await started.json()) as { run: { id: string; environment: string }; url: string };
    expect(startedBody).toMatchObject({ run: { environment: "pr-9" }, url: `${stack.server.url}/functions/${repository}/Ticker/runs?environment=pr-9` });
    await stack.server.scheduler.idle();
    const runsOf = async (query: string) => {
      const response = await api(`/functions/${repository}/Ticker/runs${query}`);
      const body = (await response.json()) as { environment: string; schedule: unknown; runs: Array<{ id: string; environment: string; commit: string; state: string; trigger: string }> };
      // Production's Ticker runs on its schedule too (every 5 minutes): only the runs by hand are this test's.
      return { status: response.status, body: { ...body, runs: body.runs?.filter((r) => r.trigger === "manual") } };
    };
    const previewRuns = await runsOf("?environment=pr-9");
    expect(previewRuns.body.environment).toBe("pr-9");
    expect(previewRuns.body.schedule).toBeNull();
    expect(previewRuns.body.runs.map((r) => [r.environment, r.commit, r.state])).toEqual([["pr-9", head, "succeeded"], ["pr-9", head, "succeeded"]]);
    expect(previewRuns.body.runs[0]!.id).toBe(startedBody.run.id);
    const productionRuns = await runsOf("");
    expect(productionRuns.body.runs.map((r) => [r.environment, r.commit])).toEqual([["production", main]]);
    expect((await runsOf("?environment=staging")).status).toBe(400);
    const badFlag = await runCli(["run", `${repository}/Ticker`, "--env", "staging"], env);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain('"staging" is not an environment');

    // The dashboard's environments list runs the preview's Ticker by hand too.
    const { cookie } = await signIn(stack.server);
    const page = await (await fetch(`${stack.server.url}/dashboard/projects/${repository}`, { headers: { cookie } })).text();
    const action = `/dashboard/projects/${repository}/functions/Ticker/run?environment=pr-9`;
    expect(page).toContain(`action="${action}"`);
    const clicked = await fetch(`${stack.server.url}${action}`, { method: "POST", headers: { cookie, origin: stack.server.url }, redirect: "manual" });
    expect(clicked.status).toBe(303);
    expect(clicked.headers.get("location")).toBe(`/functions/${repository}/Ticker/runs?environment=pr-9`);
    await stack.server.scheduler.idle();
    expect((await runsOf("?environment=pr-9")).body.runs).toHaveLength(3);
    expect((await runsOf("")).body.runs).toHaveLength(1);

    // Closed: the preview's runs go with it; production's stay.
    await pullRequest(OWNER, CRON_REPO, { number: 9, action: "closed", head });
    await stack.server.previews!.idle();
    expect((await runsOf("?environment=pr-9")).status).toBe(404);
    expect((await runsOf("")).body.runs).toHaveLength(1);
  });

  it("an installation that has not accepted pull_requests: write still gets previews, and the log names the permission to accept", async () => {
    const head = stack.emulator.commit(OLD_OWNER, REPO, { files: project("old-1"), branch: "feature" });
    const payload = stack.emulator.pullRequestPayload(OLD_OWNER, REPO, { number: 2, action: "opened", head });
    stack.emulator.setInstallationPermissions(payload.installation.id, { contents: "read", metadata: "read", statuses: "write" });
    await stack.server.deliver("pull_request", payload);
    expect((await stack.settled(OLD_OWNER, REPO, head)).final.state).toBe("success");
    await stack.server.previews!.idle();
    expect(stack.emulator.comments(OLD_OWNER, REPO, 2)).toEqual([]);
    expect(serverLog).toContain("lacks the pull_requests: write permission");
    expect(await answer(`${stack.server.url}/pr/${OLD_OWNER}/${REPO}/2/API`)).toMatchObject({ status: 200, body: { version: "old-1" } });
  });
});
