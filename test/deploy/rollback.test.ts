import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readFixture } from "../support/fixtures.js";
import { runCli } from "../support/run-cli.js";
import { ADMIN_TOKEN } from "../support/start-eserveless.js";
import { useEserveless } from "../support/use-eserveless.js";
import { signIn } from "../support/sign-in.js";

const OWNER = "octo-org";
const REPO = "rollback";

// Two releases keep their image: the third push prunes the first one's.
const stack = useEserveless({ repositories: [{ owner: OWNER, name: REPO }], env: { ESERVELESS_KEEP_RELEASES: "2" } });
const home = mkdtempSync(join(tmpdir(), "eserveless-cli-home-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));

/** Pushes the fixture with its function answering `version`; resolves once it is live. */
async function release(version: string): Promise<string> {
  const files: Record<string, string | { content: Buffer; mode: number }> = readFixture("node-hello");
  files["functions.js"] = (files["functions.js"] as { content: Buffer }).content.toString().replace('const VERSION = "v1"', `const VERSION = "${version}"`);
  const sha = stack.emulator.commit(OWNER, REPO, { files });
  expect((await stack.server.deliver("push", stack.emulator.pushPayload(OWNER, REPO, { after: sha }))).status).toBe(202);
  const { final } = await stack.settled(OWNER, REPO, sha);
  expect(final.state, final.description ?? "").toBe("success");
  return sha;
}

async function liveVersion(): Promise<unknown> {
  const response = await fetch(`${stack.server.url}/fn/${OWNER}/${REPO}/API`);
  return ((await response.json()) as { version: unknown }).version;
}

function api(path: string, body?: unknown) {
  return fetch(`${stack.server.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

const deploymentOf = (id: string) => stack.server.store.getDeployment(id)!;
const logOf = (id: string) => stack.server.store.deploymentLog(id).map((line) => line.line);

describe("instant rollback", () => {
  const commits: string[] = [];

  it("goes back to the previous release from its kept image, with no build step, as a deployment of its own", async () => {
    for (const version of ["v1", "v2", "v3"]) commits.push(await release(version));
    expect(await liveVersion()).toBe("v3");

    const response = await api(`/api/projects/${OWNER}/${REPO}/rollback`);
    expect(response.status).toBe(202);
    const { deployment } = (await response.json()) as { deployment: { id: string; commit: string; url: string } };
    expect(deployment.commit).toBe(commits[1]);
    await stack.server.deployer.idle();

    expect(await liveVersion()).toBe("v2");
    const rolled = deploymentOf(deployment.id);
    expect(rolled).toMatchObject({ trigger: "rollback", state: "success", commit: commits[1] });
    // Its pending status is posted while the container starts, yet GitHub gets it before the success, never after.
    const statuses = stack.emulator.statuses(OWNER, REPO, commits[1]!).filter((s) => s.context === "eserveless");
    expect(statuses.slice(-2).map((s) => [s.state, s.description])).toEqual([
      ["pending", `Rolling back to ${commits[1]!.slice(0, 7)}…`],
      ["success", expect.stringContaining("Deployed")],
    ]);
    const v2 = stack.server.store.successfulDeployments(`${OWNER}/${REPO}`, "production", 10).find((d) => d.commit === commits[1] && d.trigger === "push")!;
    expect(rolled.image).toBe(v2.image);
    const log = logOf(deployment.id);
    expect(log.join("\n")).toContain("no build");
    expect(log.filter((line) => /Building image|Downloading|step/i.test(line))).toEqual([]);
    expect(stack.server.store.deploymentLog(deployment.id).filter((line) => line.private)).toEqual([]);
  });

  it("the CLI rolls forward to a commit named by its prefix, waits, and prints when it is live", async () => {
    const result = await runCli(["rollback", `${OWNER}/${REPO}`, commits[2]!.slice(0, 8)], { ESERVELESS_URL: stack.server.url, ESERVELESS_ADMIN_TOKEN: ADMIN_TOKEN, HOME: home, XDG_CONFIG_HOME: home });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`${OWNER}/${REPO} is live (${commits[2]!.slice(0, 7)})`);
    expect(result.stderr).toContain("no build");
    expect(await liveVersion()).toBe("v3");
  });

  it("rebuilds a release whose image was pruned, and says so", async () => {
    const response = await api(`/api/projects/${OWNER}/${REPO}/rollback`, { to: commits[0] });
    expect(response.status).toBe(202);
    const { deployment } = (await response.json()) as { deployment: { id: string } };
    await stack.server.deployer.idle();
    expect(deploymentOf(deployment.id)).toMatchObject({ trigger: "rollback", state: "success" });
    const log = logOf(deployment.id).join("\n");
    expect(log).toMatch(/its image is gone .* so commit \w{7} is rebuilt/);
    expect(log).toContain("Building image");
    expect(await liveVersion()).toBe("v1");
  });

  it("answers a clear error for an unknown or malformed target, and changes nothing", async () => {
    const unknown = await api(`/api/projects/${OWNER}/${REPO}/rollback`, { to: "0000000" });
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toContain("no commit starting with 0000000 went live");
    const malformed = await api(`/api/projects/${OWNER}/${REPO}/rollback`, { to: "HEAD~1" });
    expect(malformed.status).toBe(400);
    const unauthenticated = await fetch(`${stack.server.url}/api/projects/${OWNER}/${REPO}/rollback`, { method: "POST" });
    expect(unauthenticated.status).toBe(401);
    expect(await liveVersion()).toBe("v1");
  });

  it("the next push deploys as usual", async () => {
    await release("v4");
    expect(await liveVersion()).toBe("v4");
  });

  it("the dashboard's \"Roll back to this\" button rolls back, from this origin only", async () => {
    const form = (path: string, fields: Record<string, string>, origin: string, cookie?: string) =>
      fetch(`${stack.server.url}${path}`, {
        method: "POST",
        headers: { origin, "content-type": "application/x-www-form-urlencoded", ...(cookie ? { cookie } : {}) },
        body: new URLSearchParams(fields),
        redirect: "manual",
      });
    const { cookie } = await signIn(stack.server);
    const page = await (await fetch(`${stack.server.url}/dashboard/projects/${OWNER}/${REPO}`, { headers: { cookie } })).text();
    const live = stack.server.store.liveFunctions(`${OWNER}/${REPO}`)[0]!.deploymentId;
    const buttons = [...page.matchAll(/name="to" value="([0-9a-f]+)"/g)].map((match) => match[1]);
    expect(buttons.length).toBeGreaterThan(0);
    expect(buttons).not.toContain(live);
    expect(page).toContain("Roll back to this");

    const v3 = stack.server.store.successfulDeployments(`${OWNER}/${REPO}`, "production", 20).find((d) => d.commit === commits[2] && d.trigger === "push")!;
    expect((await form(`/dashboard/projects/${OWNER}/${REPO}/rollback`, { to: v3.id }, "https://evil.example", cookie)).status).toBe(403);
    expect(await liveVersion()).toBe("v4");
    const rolled = await form(`/dashboard/projects/${OWNER}/${REPO}/rollback`, { to: v3.id }, stack.server.url, cookie);
    expect(rolled.status).toBe(303);
    expect(rolled.headers.get("location")).toMatch(/^\/deployments\/[0-9a-f]{12}$/);
    await stack.server.deployer.idle();
    expect(await liveVersion()).toBe("v3");
  });

  it("mirrors every deployment, rollbacks included, as a GitHub deployment to production, and never meets GitHub's 409", async () => {
    const ours = stack.server.store.listDeployments(`${OWNER}/${REPO}`, 50);
    const theirs = stack.emulator.deployments(OWNER, REPO);
    expect(theirs).toHaveLength(ours.length);
    for (const mirrored of theirs) {
      const deployment = ours.find((d) => mirrored.statuses[0]?.log_url === `${stack.server.url}/deployments/${d.id}`)!;
      expect(deployment, JSON.stringify(mirrored)).toBeDefined();
      expect(mirrored).toMatchObject({ sha: deployment.commit, environment: "production", required_contexts: [], auto_merge: false, production_environment: true });
      expect(mirrored.statuses.map((s) => s.state)).toEqual(["in_progress", "success"]);
      // One http function: the environment's URL is the function's.
      expect(mirrored.statuses[1]).toMatchObject({ environment_url: `${stack.server.url}/fn/${OWNER}/${REPO}/API`, log_url: `${stack.server.url}/deployments/${deployment.id}` });
    }
    expect(ours.filter((d) => d.trigger === "rollback").length).toBeGreaterThan(0);
    expect(stack.emulator.answers.filter((a) => a.status === 409)).toEqual([]);
  });
});
