import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createGitHubApp, type GitHubApp } from "../../src/github/github-app.js";
import { statusPoster } from "../../src/deploy/status-poster.js";
import { startGitHubEmulator, type GitHubEmulator } from "../support/github-emulator.js";

const OWNER = "octo-org";
const REPO = "statuses";

let emulator: GitHubEmulator;
let installationId: number;
let app: GitHubApp;
let sha: string;
const logged: string[] = [];

beforeAll(async () => {
  emulator = await startGitHubEmulator();
  installationId = emulator.addRepository({ owner: OWNER, name: REPO }).installationId;
  sha = emulator.commit(OWNER, REPO, { files: { "README.md": "hi" } });
  app = createGitHubApp({
    credentials: { appId: emulator.appId, privateKey: emulator.privateKey, webhookSecret: emulator.webhookSecret },
    baseUrl: emulator.url,
  });
});

afterEach(() => {
  logged.length = 0;
});

afterAll(() => emulator?.close());

const githubJob = (commit = sha) => ({ repository: `${OWNER}/${REPO}`, commit, source: { kind: "github" as const, installationId } });
const appendLog = (line: string) => void logged.push(line);
const statusRequests = () => emulator.requests.filter((r) => r.method === "POST" && r.path.includes("/statuses/")).length;

describe("statusPoster", () => {
  it("posts the status on the deployment's commit", async () => {
    await statusPoster(githubJob(), () => app, appendLog)("pending", "eserveless", "Building 1 function…", "http://localhost:3000/deployments/d1");
    expect(emulator.statuses(OWNER, REPO, sha).at(-1)).toMatchObject({
      state: "pending",
      context: "eserveless",
      description: "Building 1 function…",
      target_url: "http://localhost:3000/deployments/d1",
    });
    expect(logged).toEqual([]);
  });

  it("posts nothing for an upload, nor while no GitHub App is configured", async () => {
    const before = statusRequests();
    const upload = { ...githubJob(), source: { kind: "upload" as const, tarball: Buffer.alloc(0) } };
    await statusPoster(upload, () => app, appendLog)("success", "eserveless", "Deployed", "http://localhost:3000/deployments/d2");
    await statusPoster(githubJob(), () => undefined, appendLog)("success", "eserveless", "Deployed", "http://localhost:3000/deployments/d2");
    expect(statusRequests()).toBe(before);
    expect(logged).toEqual([]);
  });

  it("reads the App at each post, so an App set up mid-deployment gets the next status", async () => {
    let configured: GitHubApp | undefined = undefined;
    const post = statusPoster(githubJob(), () => configured, appendLog);
    await post("pending", "eserveless/late", "before setup", "http://localhost:3000/deployments/d3");
    configured = app;
    await post("success", "eserveless/late", "after setup", "http://localhost:3000/deployments/d3");
    expect(emulator.statuses(OWNER, REPO, sha).filter((s) => s.context === "eserveless/late").map((s) => s.description)).toEqual(["after setup"]);
  });

  it("does not fail the deployment when GitHub refuses a status: the refusal goes to its log", async () => {
    const unknown = "f".repeat(40);
    const post = statusPoster(githubJob(unknown), () => app, appendLog);
    await expect(post("success", "eserveless/API", "Live", "http://localhost:3000/fn/octo-org/statuses/API")).resolves.toBeUndefined();
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/^warning: GitHub refused the eserveless\/API status \(.*No commit found for SHA: f{40}.*\)$/);
  });
});
