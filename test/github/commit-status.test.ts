import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_STATUS_DESCRIPTION, postCommitStatus, statusDescription } from "../../src/github/commit-status.js";
import { createGitHubApp } from "../../src/github/github-app.js";
import { startGitHubEmulator, type GitHubEmulator } from "../support/github-emulator.js";

/** Characters as GitHub counts them: code points, not UTF-16 units. */
const codePoints = (text: string) => [...text].length;
/** False when the text holds half of a surrogate pair, which UTF-8 cannot encode. */
const isWellFormed = (text: string) => Buffer.from(text, "utf8").toString("utf8") === text;

describe("statusDescription", () => {
  it("keeps a short description as it is", () => {
    expect(statusDescription("Deployed 2 functions in 3.1 s")).toBe("Deployed 2 functions in 3.1 s");
  });

  it("folds runs of whitespace, newlines included, into one space and trims the ends", () => {
    expect(statusDescription("  Build failed:\n\n  npm ERR!\tcode ENOENT \r\n")).toBe("Build failed: npm ERR! code ENOENT");
  });

  it("keeps a description of exactly the limit whole", () => {
    const text = "x".repeat(MAX_STATUS_DESCRIPTION);
    expect(MAX_STATUS_DESCRIPTION).toBe(140);
    expect(statusDescription(text)).toBe(text);
  });

  it("cuts a longer description to the limit and marks the cut with an ellipsis", () => {
    const text = Array.from({ length: 40 }, (_, i) => `step${i}`).join(" ");
    const cut = statusDescription(text);
    expect(codePoints(cut)).toBe(MAX_STATUS_DESCRIPTION);
    expect(cut.endsWith("…")).toBe(true);
    expect(text.startsWith(cut.slice(0, -1))).toBe(true);
  });

  it("measures the limit after folding whitespace", () => {
    // 200 characters of which 80 are extra spaces: 120 once folded, so nothing is cut.
    const text = Array.from({ length: 40 }, () => "ab ").join("  ");
    expect(text.length).toBeGreaterThan(MAX_STATUS_DESCRIPTION);
    const folded = statusDescription(text);
    expect(folded).toBe(text.replace(/\s+/g, " ").trim());
    expect(folded.endsWith("…")).toBe(false);
  });

  it("cuts multi-byte text by characters", () => {
    const cut = statusDescription("構築に失敗しました。".repeat(30));
    expect(codePoints(cut)).toBe(MAX_STATUS_DESCRIPTION);
    expect(cut.endsWith("…")).toBe(true);
    expect(isWellFormed(cut)).toBe(true);
  });

  it.each(["Build failed ", "Build failed: "])("never cuts an emoji (a surrogate pair) in half, after %j", (prefix) => {
    // The two prefixes differ in parity, so one of them puts a UTF-16 cut at 139 units inside a pair.
    const cut = statusDescription(`${prefix}${"🔥".repeat(200)}`);
    expect(isWellFormed(cut)).toBe(true);
    expect(codePoints(cut)).toBeLessThanOrEqual(MAX_STATUS_DESCRIPTION);
    expect(cut.startsWith(`${prefix}🔥`)).toBe(true);
    expect(cut.endsWith("🔥…")).toBe(true);
  });

  it("keeps whole a description that fits in 140 characters even when it is longer in UTF-16 units", () => {
    const text = `Deployed ${"🚀".repeat(100)}`; // 109 characters, 209 UTF-16 units
    expect(codePoints(text)).toBeLessThanOrEqual(MAX_STATUS_DESCRIPTION);
    expect(statusDescription(text)).toBe(text);
  });
});

describe("postCommitStatus against the GitHub emulator", () => {
  let emulator: GitHubEmulator;
  let repo: ReturnType<GitHubEmulator["addRepository"]>;
  let sha: string;

  beforeAll(async () => {
    emulator = await startGitHubEmulator();
    repo = emulator.addRepository({ owner: "acme", name: "functions" });
    sha = emulator.commit("acme", "functions", { files: { "README.md": "hi" } });
  });
  afterAll(() => emulator.close());

  const installation = () =>
    createGitHubApp({
      credentials: { appId: emulator.appId, privateKey: emulator.privateKey, webhookSecret: emulator.webhookSecret },
      baseUrl: emulator.url,
    }).installation(repo.installationId);

  it("posts the status with a description cut to GitHub's limit", async () => {
    const long = `Build failed:\n${"npm ERR! something went wrong\n".repeat(20)}`;
    await postCommitStatus(await installation(), {
      owner: "acme",
      repo: "functions",
      sha,
      state: "failure",
      context: "eserveless",
      description: long,
      targetUrl: "http://localhost:3000/deployments/abc",
    });
    const [status] = emulator.statuses("acme", "functions", sha).slice(-1);
    expect(status).toMatchObject({
      state: "failure",
      context: "eserveless",
      description: statusDescription(long),
      target_url: "http://localhost:3000/deployments/abc",
    });
    expect(codePoints(status!.description!)).toBe(MAX_STATUS_DESCRIPTION);
  });

  it("sends no target_url when none is given", async () => {
    await postCommitStatus(await installation(), { owner: "acme", repo: "functions", sha, state: "pending", context: "eserveless/build", description: "Building" });
    const [status] = emulator.statuses("acme", "functions", sha).slice(-1);
    expect(status).toMatchObject({ state: "pending", context: "eserveless/build", description: "Building", target_url: null });
  });
});
