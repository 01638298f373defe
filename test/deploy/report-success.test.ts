import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportSuccess } from "../../src/deploy/report-success.js";
import { createGitHubApp, type GitHubApp } from "../../src/github/github-app.js";
import { readManifest } from "../../src/manifest/read-manifest.js";
import { startGitHubEmulator, type GitHubEmulator } from "../support/github-emulator.js";
import { TEST_PUBLIC_URL, deploymentTestbed } from "../support/deployment-testbed.js";

const testbed = deploymentTestbed();

const OWNER = "octo-org";
const REPO = "report";
const NODE = { has: (path: string) => ["package.json", "functions.js"].includes(path) };
const { manifest } = await readManifest(
  "runtime: node\nfunctions:\n  - { name: API, type: http }\n  - { name: Ticker, type: cron, schedule: '0 * * * *', timezone: Europe/Paris }\n",
  NODE,
);

let emulator: GitHubEmulator;
let installationId: number;
let app: GitHubApp;

beforeAll(async () => {
  emulator = await startGitHubEmulator();
  installationId = emulator.addRepository({ owner: OWNER, name: REPO }).installationId;
  app = createGitHubApp({
    credentials: { appId: emulator.appId, privateKey: emulator.privateKey, webhookSecret: emulator.webhookSecret },
    baseUrl: emulator.url,
  });
});

afterAll(() => emulator?.close());

function pushed() {
  const sha = emulator.commit(OWNER, REPO, { files: { "README.md": "hi" } });
  return { sha, test: testbed.deployment({ github: app, request: { repository: `${OWNER}/${REPO}`, commit: sha, source: { kind: "github", installationId } } }) };
}

describe("reportSuccess", () => {
  it("records the success, says the function URLs and posts a status for the deployment and one per function", async () => {
    const { sha, test } = pushed();
    const { deploymentId } = test.deployment.job;
    await reportSuccess(test.deployment, { publicUrl: TEST_PUBLIC_URL }, manifest, 42);

    const recorded = test.recorded();
    expect(recorded.state).toBe("success");
    expect(recorded.description).toMatch(/^Deployed 2 functions in \d+\.\d s, cold start 42 ms$/);
    expect(recorded.coldStartMs).toBe(42);
    const apiUrl = `${TEST_PUBLIC_URL}/fn/${OWNER}/${REPO}/API`;
    expect(recorded.functions).toEqual([
      { name: "API", type: "http", url: apiUrl },
      { name: "Ticker", type: "cron", schedule: "0 * * * *", timezone: "Europe/Paris" },
    ]);
    expect(test.lines()).toEqual([recorded.description, `API: ${apiUrl}`]);

    const pageUrl = `${TEST_PUBLIC_URL}/deployments/${deploymentId}`;
    const statuses = emulator.statuses(OWNER, REPO, sha).map(({ state, context, description, target_url }) => ({ state, context, description, target_url }));
    expect(statuses[0]).toEqual({ state: "success", context: "eserveless", description: recorded.description, target_url: pageUrl });
    expect(statuses.slice(1).sort((a, b) => a.context.localeCompare(b.context))).toEqual([
      { state: "success", context: "eserveless/API", description: "Live: API answers at its URL (Details)", target_url: apiUrl },
      { state: "success", context: "eserveless/Ticker", description: 'Cron: runs on "0 * * * *" (Europe/Paris)', target_url: pageUrl },
    ]);
  });

  it("leaves the cold start out when no container was started", async () => {
    const { test } = pushed();
    await reportSuccess(test.deployment, { publicUrl: TEST_PUBLIC_URL }, manifest, 0);
    expect(test.recorded().description).toMatch(/^Deployed 2 functions in \d+\.\d s$/);
    expect(test.recorded().coldStartMs).toBeNull();
  });
});

describe("reportSuccess with warnings", () => {
  it("counts them in the description, which fits a commit status", async () => {
    const { sha, test } = pushed();
    await reportSuccess(test.deployment, { publicUrl: TEST_PUBLIC_URL }, manifest, 230, 1);
    expect(test.recorded().description).toMatch(/^Deployed 2 functions in \d+\.\d s, cold start 230 ms, 1 warning$/);
    const status = emulator.statuses(OWNER, REPO, sha).find((s) => s.context === "eserveless")!;
    expect(status.description).toBe(test.recorded().description);
    const three = pushed().test;
    await reportSuccess(three.deployment, { publicUrl: TEST_PUBLIC_URL }, manifest, 0, 3);
    expect(three.recorded().description).toMatch(/^Deployed 2 functions in \d+\.\d s, 3 warnings$/);
  });
});
