import { describe, expect, it } from "vitest";
import { readFixture } from "../support/fixtures.js";
import { useEserveless } from "../support/use-eserveless.js";

const OWNER = "octo-org";
const REPO = "interrupted";

const stack = useEserveless({ repositories: [{ owner: OWNER, name: REPO }] });

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

    await stack.restart(() => {
      const final = mainStatuses(sha).at(-1)!;
      expect(final.state).toBe("error");
      expect(final.description).toContain("Interrupted");
    });
    expect(stack.server.store.listDeployments(`${OWNER}/${REPO}`, 1)[0]).toMatchObject({ commit: sha, state: "error" });
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
});
