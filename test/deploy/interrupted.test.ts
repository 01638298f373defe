import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFixture } from "../support/fixtures.js";
import { startGitHubEmulator, type GitHubEmulator } from "../support/github-emulator.js";
import { startEserveless, type TestEserveless } from "../support/start-eserveless.js";

const OWNER = "octo-org";
const REPO = "interrupted";

let emulator: GitHubEmulator;
let server: TestEserveless;

beforeAll(async () => {
  emulator = await startGitHubEmulator();
  emulator.addRepository({ owner: OWNER, name: REPO });
  server = await startEserveless({ emulator });
});

afterAll(async () => {
  await server?.stop();
  await emulator?.close();
});

const mainStatuses = (sha: string) => emulator.statuses(OWNER, REPO, sha).filter((s) => s.context === "eserveless");

describe("deployments cut short by a stop", () => {
  it("end as errors on their commit when eserveless shuts down mid-deployment", async () => {
    // Loading takes 5 s, so the stop lands while the deployment waits for readiness.
    const files: Record<string, unknown> = readFixture("node-hello");
    files["functions.js"] = "const end = Date.now() + 5000; while (Date.now() < end);\nmodule.exports = { API: (req, res) => res.end('ok'), Ticker() {} };\n";
    const sha = emulator.commit(OWNER, REPO, { files: files as never });
    expect((await server.deliver("push", emulator.pushPayload(OWNER, REPO, { after: sha }))).status).toBe(202);
    for (let i = 0; i < 200 && mainStatuses(sha).length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(mainStatuses(sha)[0]?.state).toBe("pending");

    const dataDir = server.dataDir;
    await server.stop({ restart: true });
    const final = mainStatuses(sha).at(-1)!;
    expect(final.state).toBe("error");
    expect(final.description).toContain("Interrupted");
    server = await startEserveless({ emulator, env: { DATA_DIR: dataDir } });
    expect(server.store.listDeployments(`${OWNER}/${REPO}`, 1)[0]).toMatchObject({ commit: sha, state: "error" });
  });

  it("end as errors at the next start when the process died without a word", async () => {
    const sha = emulator.commit(OWNER, REPO, { files: readFixture("node-hello") });
    const repository = `${OWNER}/${REPO}`;
    // What a killed process leaves behind: a deployment still marked building.
    const left = server.store.createDeployment({ repository, commit: sha, ref: "refs/heads/main", trigger: "push" });
    server.store.updateDeployment(left.id, { state: "building" });
    const dataDir = server.dataDir;
    await server.stop({ restart: true });

    server = await startEserveless({ emulator, env: { DATA_DIR: dataDir } });
    for (let i = 0; i < 100 && mainStatuses(sha).length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(mainStatuses(sha).at(-1)).toMatchObject({ state: "error", target_url: `${server.url}/deployments/${left.id}` });
    expect(server.store.getDeployment(left.id)).toMatchObject({ state: "error" });
    expect(server.store.getDeployment(left.id)!.description).toContain("Interrupted");
  });
});
