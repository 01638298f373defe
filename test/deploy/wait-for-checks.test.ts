import { describe, expect, it } from "vitest";
import { readFixture } from "../support/fixtures.js";
import { useEserveless } from "../support/use-eserveless.js";

const OWNER = "octo-org";
const REPO = "gated";

const stack = useEserveless({ repositories: [{ owner: OWNER, name: REPO }], env: { ESERVELESS_CHECKS_GRACE: "2" } });

/** A commit of the fixture whose manifest starts with `waitForChecks`, answering `version`. */
function commit(version: string, waitForChecks: string): string {
  const files: Record<string, string | { content: Buffer; mode: number }> = readFixture("node-hello");
  files["functions.js"] = (files["functions.js"] as { content: Buffer }).content.toString().replace('const VERSION = "v1"', `const VERSION = "${version}"`);
  files[".eserveless.yaml"] = `waitForChecks: ${waitForChecks}\n${(files[".eserveless.yaml"] as { content: Buffer }).content.toString()}`;
  return stack.emulator.commit(OWNER, REPO, { files });
}

async function push(sha: string) {
  const response = await stack.server.deliver("push", stack.emulator.pushPayload(OWNER, REPO, { after: sha }));
  expect(response.status).toBe(202);
  return ((await response.json()) as { deployment: { id: string } }).deployment.id;
}

/** Waits until the commit's latest `eserveless` status says `description`. */
async function statusSays(sha: string, description: string) {
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 100))) {
    const last = stack.emulator.statuses(OWNER, REPO, sha).filter((s) => s.context === "eserveless").at(-1);
    if (last?.description === description) return last;
  }
  throw new Error(`no "${description}" status on ${sha}: ${JSON.stringify(stack.emulator.statuses(OWNER, REPO, sha))}`);
}

const version = async () => {
  const response = await fetch(`${stack.server.url}/fn/${OWNER}/${REPO}/API`);
  return response.status === 200 ? ((await response.json()) as { version: string }).version : response.status;
};
const built = (id: string) => stack.server.store.deploymentLog(id).some((line) => /Building image/.test(line.line));

describe("waitForChecks", () => {
  it("holds the deployment while ci/test is pending, without building, and deploys once it turns green", async () => {
    const sha = commit("v1", "[ci/test]");
    stack.emulator.addStatus(OWNER, REPO, sha, { state: "pending", context: "ci/test", description: "running" });
    const id = await push(sha);
    const waiting = await statusSays(sha, "Waiting for checks: ci/test");
    expect(waiting.state).toBe("pending");
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(built(id)).toBe(false);
    expect(await version()).toBe(404);

    stack.emulator.addStatus(OWNER, REPO, sha, { state: "success", context: "ci/test" });
    const { final } = await stack.settled(OWNER, REPO, sha);
    expect(final.state, final.description ?? "").toBe("success");
    expect(built(id)).toBe(true);
    expect(await version()).toBe("v1");
    expect(stack.server.store.deploymentLog(id).map((l) => l.line)).toContain("Checks passed: ci/test");
  });

  it("with true, waits for every other status and check run (neutral passes), and fails naming a red one, without building", async () => {
    const sha = commit("v2", "true");
    stack.emulator.addStatus(OWNER, REPO, sha, { state: "pending", context: "ci/test" });
    stack.emulator.setCheckRun(OWNER, REPO, sha, { name: "lint", status: "in_progress" });
    const id = await push(sha);
    await statusSays(sha, "Waiting for checks: ci/test, lint");
    stack.emulator.setCheckRun(OWNER, REPO, sha, { name: "lint", status: "completed", conclusion: "neutral" });
    await statusSays(sha, "Waiting for checks: ci/test");
    stack.emulator.addStatus(OWNER, REPO, sha, { state: "failure", context: "ci/test" });
    const { final } = await stack.settled(OWNER, REPO, sha);
    expect(final.state).toBe("failure");
    expect(final.description).toContain("ci/test");
    expect(stack.server.store.getDeployment(id)).toMatchObject({ state: "failure" });
    expect(built(id)).toBe(false);
    expect(await version()).toBe("v1");
    // Mirrored on GitHub as a failed deployment, and never a 409.
    expect(stack.emulator.deployments(OWNER, REPO).find((d) => d.sha === sha)?.statuses.map((s) => s.state)).toEqual(["in_progress", "failure"]);
    expect(stack.emulator.answers.filter((a) => a.status === 409)).toEqual([]);
  });

  it("with true and no check at all, deploys after the grace window", async () => {
    const sha = commit("v3", "true");
    const id = await push(sha);
    const { final } = await stack.settled(OWNER, REPO, sha);
    expect(final.state, final.description ?? "").toBe("success");
    expect(stack.server.store.deploymentLog(id).map((l) => l.line)).toContain("No check appeared on this commit within 2 s (ESERVELESS_CHECKS_GRACE): deploying");
    expect(await version()).toBe("v3");
  });
});
