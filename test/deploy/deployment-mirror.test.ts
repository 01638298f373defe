import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deploymentMirror } from "../../src/deploy/deployment-mirror.js";
import { createGitHubApp } from "../../src/github/github-app.js";
import { startGitHubEmulator, type GitHubEmulator } from "../support/github-emulator.js";

let emulator: GitHubEmulator;
beforeAll(async () => {
  emulator = await startGitHubEmulator();
});
afterAll(() => emulator.close());

const PUBLIC_URL = "http://127.0.0.1:1";

function mirrorOf(owner: string, repo: string, installationId: number, sha: string) {
  const lines: string[] = [];
  const warnings: unknown[] = [];
  const log = pino({ level: "warn" }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
  const github = createGitHubApp({ credentials: { appId: emulator.appId, privateKey: emulator.privateKey, webhookSecret: emulator.webhookSecret }, baseUrl: emulator.url });
  const mirror = deploymentMirror(
    { repository: `${owner}/${repo}`, commit: sha, source: { kind: "github", installationId }, trigger: "push" },
    { github: () => github, urls: { publicUrl: PUBLIC_URL }, logUrl: `${PUBLIC_URL}/deployments/abc`, say: (line) => lines.push(line), log, environment: "production" },
  );
  return { mirror, lines, warnings };
}

const deployment = (state: "success" | "failure", functions: Array<{ name: string; type: "http" | "cron"; url?: string }>) =>
  ({ state, description: state === "success" ? "Deployed" : "Build failed", functions }) as never;

describe("deploymentMirror", () => {
  it("links the environment to the project's page when it has several functions, and says nothing in the log", async () => {
    const { installationId } = emulator.addRepository({ owner: "octo", name: "many" });
    const sha = emulator.commit("octo", "many", { files: { "README.md": "x" } });
    const { mirror, lines } = mirrorOf("octo", "many", installationId, sha);
    mirror.start();
    await mirror.end(deployment("success", [{ name: "a", type: "http", url: "http://f/a" }, { name: "b", type: "http", url: "http://f/b" }]));
    expect(emulator.deployments("octo", "many")[0]?.statuses.map((s) => [s.state, s.environment_url])).toEqual([
      ["in_progress", ""],
      ["success", `${PUBLIC_URL}/dashboard/projects/octo/many`],
    ]);
    expect(lines).toEqual([]);
  });

  it("keeps working for an installation without deployments: write, saying which permission to accept", async () => {
    const { installationId } = emulator.addRepository({ owner: "legacy", name: "app", permissions: { contents: "read", metadata: "read", statuses: "write" } });
    const sha = emulator.commit("legacy", "app", { files: { "README.md": "x" } });
    const { mirror, lines, warnings } = mirrorOf("legacy", "app", installationId, sha);
    mirror.start();
    await mirror.end(deployment("failure", []));
    expect(emulator.deployments("legacy", "app")).toEqual([]);
    expect(lines.join("\n")).toContain('"deployments: write"');
    expect(JSON.stringify(warnings)).toContain("deployments: write");
  });
});
