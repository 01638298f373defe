import { gzipSync } from "node:zlib";
import { pack } from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchSource } from "../../src/deploy/fetch-source.js";
import { EserveslessError, SourceError } from "../../src/errors.js";
import { createGitHubApp, type GitHubApp } from "../../src/github/github-app.js";
import { startGitHubEmulator, type GitHubEmulator } from "../support/github-emulator.js";
import { deploymentTestbed } from "../support/deployment-testbed.js";

const testbed = deploymentTestbed();

const OWNER = "octo-org";
const REPO = "fetch";

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

/** A .tar.gz shaped like GitHub's: everything under one top directory. */
function tarGz(files: Record<string, string>): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  tar.on("data", (chunk) => chunks.push(chunk as Buffer));
  tar.entry({ name: "octo-org-fetch-0123456/", type: "directory" });
  for (const [name, content] of Object.entries(files)) tar.entry({ name: `octo-org-fetch-0123456/${name}` }, content);
  tar.finalize();
  return new Promise((resolve) => tar.on("end", () => resolve(gzipSync(Buffer.concat(chunks)))));
}

// 1500 + 600 bytes: 2.05 KiB, said rounded up.
const FILES = { "functions.js": "x".repeat(1500), "README.md": "y".repeat(600) };

describe("fetchSource", () => {
  it("unpacks an upload and says how much it holds", async () => {
    const test = testbed.deployment({ request: { source: { kind: "upload", tarball: await tarGz(FILES) } } });
    const source = await fetchSource(test.deployment, () => app, undefined);
    expect(source.text("functions.js")).toBe(FILES["functions.js"]);
    expect(source.text("README.md")).toBe(FILES["README.md"]);
    expect(test.lines()).toEqual(["Unpacked 2 files (3 KiB)"]);
  });

  it("downloads a pushed commit through the GitHub App", async () => {
    const sha = emulator.commit(OWNER, REPO, { files: FILES });
    const test = testbed.deployment({ request: { repository: `${OWNER}/${REPO}`, commit: sha, source: { kind: "github", installationId } } });
    const source = await fetchSource(test.deployment, () => app, undefined);
    expect(source.text("functions.js")).toBe(FILES["functions.js"]);
    expect(test.lines()).toEqual([`Downloading ${OWNER}/${REPO}@${sha.slice(0, 7)}`, "Unpacked 2 files (3 KiB)"]);
  });

  it("refuses a pushed commit while no GitHub App is configured, and says how to set one up", async () => {
    const sha = emulator.commit(OWNER, REPO, { files: FILES });
    const test = testbed.deployment({ request: { repository: `${OWNER}/${REPO}`, commit: sha, source: { kind: "github", installationId } } });
    const requests = emulator.requests.length;
    const error: unknown = await fetchSource(test.deployment, () => undefined, undefined).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EserveslessError);
    expect(error).toMatchObject({ status: 503, code: "github_not_configured", message: "The GitHub App is not configured; open /setup" });
    expect(emulator.requests.length).toBe(requests);
    expect(test.lines()).toEqual([]);
  });

  it("holds the source to the limits it is given", async () => {
    const test = testbed.deployment({ request: { source: { kind: "upload", tarball: await tarGz(FILES) } } });
    const error: unknown = await fetchSource(test.deployment, () => app, { maxFiles: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect(test.lines()).toEqual([]);
  });
});
