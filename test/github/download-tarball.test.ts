import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SourceError, UpstreamError } from "../../src/errors.js";
import { DEFAULT_MAX_TARBALL_BYTES, downloadTarball } from "../../src/github/download-tarball.js";
import { createGitHubApp } from "../../src/github/github-app.js";
import { extractTarball } from "../../src/source/extract-tarball.js";
import { startEserveslessProcess } from "../support/eserveless-process.js";
import { oversizedTarball, startGitHubEmulator, type GitHubEmulator } from "../support/github-emulator.js";
import { webhookDelivery } from "../support/webhook-delivery.js";

const OWNER = "octo-org";
const REPO = "huge";
const MIB = 1024 * 1024;

let emulator: GitHubEmulator;
let installationId: number;

beforeAll(async () => {
  emulator = await startGitHubEmulator();
  installationId = emulator.addRepository({ owner: OWNER, name: REPO }).installationId;
});

afterAll(async () => {
  await emulator?.close();
});

/** The real Octokit of eserveless, as the App's installation, against the emulator. */
function octokit() {
  const { appId, privateKey, webhookSecret } = emulator;
  return createGitHubApp({ credentials: { appId, privateKey, webhookSecret }, baseUrl: emulator.url }).installation(installationId);
}

/** What `promise` rejects with; fails when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error as Error,
  );
}

/** The emulator's bytes counter of the last download, once it stopped moving. */
async function settledDownload(): Promise<number> {
  let last = -1;
  while (emulator.downloads.at(-1)!.bytes !== last) {
    last = emulator.downloads.at(-1)!.bytes;
    await sleep(300);
  }
  return last;
}

describe("downloadTarball", () => {
  it("streams a commit's tarball, through codeload's redirect, into the extractor", async () => {
    const sha = emulator.commit(OWNER, REPO, { files: { ".eserveless.yaml": "runtime: node\n", "functions.js": "exports.API = () => 'hi';\n" } });
    const download = await downloadTarball(await octokit(), { owner: OWNER, repo: REPO, ref: sha });
    expect(download).toBeInstanceOf(Readable);
    const tree = await extractTarball(download);
    expect(tree.text("functions.js")).toBe("exports.API = () => 'hi';\n");
  });

  it("stops past maxBytes compressed, naming the limit and its setting, and hangs up on GitHub", async () => {
    const maxBytes = 4 * MIB;
    const tarballBytes = 256 * MIB;
    const sha = emulator.commitTarballStream(OWNER, REPO, () => oversizedTarball(tarballBytes));
    const error = await rejection(extractTarball(await downloadTarball(await octokit(), { owner: OWNER, repo: REPO, ref: sha, maxBytes })));
    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).code).toBe("tarball_too_large");
    expect(error.message).toContain(`Tarball over 4 MiB compressed (ESERVELESS_MAX_TARBALL_BYTES=${maxBytes})`);
    expect(error.message).toMatch(/raise ESERVELESS_MAX_TARBALL_BYTES$/);
    // What the sockets between the two hold comes on top of the limit; the rest is never sent.
    expect(await settledDownload()).toBeLessThan(maxBytes + 32 * MIB);
  });

  it("refuses a declared length over maxBytes before reading the body", async () => {
    const files = { ".eserveless.yaml": "runtime: node\n", "data.bin": randomBytes(64 * 1024) }; // incompressible
    const sha = emulator.commit(OWNER, REPO, { files });
    const error = await rejection(downloadTarball(await octokit(), { owner: OWNER, repo: REPO, ref: sha, maxBytes: 1024 }));
    expect((error as SourceError).code).toBe("tarball_too_large");
    expect(error.message).toContain("ESERVELESS_MAX_TARBALL_BYTES=1024");
  });

  it(`caps at ${DEFAULT_MAX_TARBALL_BYTES / MIB} MiB when no limit is given`, async () => {
    const sha = emulator.commitTarballStream(OWNER, REPO, () => oversizedTarball(DEFAULT_MAX_TARBALL_BYTES + 16 * MIB));
    const error = await rejection(extractTarball(await downloadTarball(await octokit(), { owner: OWNER, repo: REPO, ref: sha }), { maxBytes: 1024 * MIB }));
    expect(error.message).toContain(`ESERVELESS_MAX_TARBALL_BYTES=${DEFAULT_MAX_TARBALL_BYTES}`);
  });

  it("blames GitHub, not the commit, when the download breaks off", async () => {
    const start = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      const tarball = oversizedTarball(2 * MIB);
      tarball.on("data", (chunk: Buffer) => chunks.push(chunk)).on("end", () => resolve(Buffer.concat(chunks)));
    });
    const sha = emulator.commitTarballStream(OWNER, REPO, () =>
      Readable.from(
        (async function* () {
          yield start.subarray(0, MIB);
          throw new Error("codeload fell over");
        })(),
      ),
    );
    const error = await rejection(extractTarball(await downloadTarball(await octokit(), { owner: OWNER, repo: REPO, ref: sha })));
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error.message).toMatch(/^The download of the tarball of octo-org\/huge@[0-9a-f]{7} from GitHub broke off/);
  });
});

describe("a push whose tarball is 600 MiB", () => {
  it("fails its deployment with the limit and its setting, while the server's memory stays far below the tarball's size", { timeout: 180_000 }, async () => {
    const maxBytes = 32 * MIB;
    const tarballBytes = 600 * MIB;
    // eserveless in its own process, so that its memory is measured alone; the emulator stays here.
    const eserveless = await startEserveslessProcess({
      APP_ID: String(emulator.appId),
      PRIVATE_KEY: emulator.privateKey,
      WEBHOOK_SECRET: emulator.webhookSecret,
      GITHUB_API_URL: emulator.url,
      ESERVELESS_MAX_TARBALL_BYTES: String(maxBytes),
    });
    try {
      const sha = emulator.commitTarballStream(OWNER, REPO, () => oversizedTarball(tarballBytes));
      const before = eserveless.rss();
      eserveless.resetPeak();
      const delivery = webhookDelivery({ event: "push", payload: emulator.pushPayload(OWNER, REPO, { after: sha }), secret: emulator.webhookSecret });
      const response = await fetch(`${eserveless.url}/webhooks/github`, { method: "POST", headers: delivery.headers, body: delivery.body });
      expect(response.status).toBe(202);

      const deadline = Date.now() + 150_000;
      let final: ReturnType<GitHubEmulator["statuses"]>[number] | undefined;
      while (!final) {
        if (Date.now() > deadline) throw new Error(`no final status: ${JSON.stringify(emulator.statuses(OWNER, REPO, sha))}`);
        await sleep(200);
        final = emulator.statuses(OWNER, REPO, sha).find((status) => status.context === "eserveless" && status.state !== "pending");
      }
      const growth = eserveless.peakRss() - before;
      expect(final.state).toBe("failure");
      expect(final.description).toContain(`Tarball over 32 MiB compressed (ESERVELESS_MAX_TARBALL_BYTES=${maxBytes})`);
      // The download stopped near the limit...
      expect(await settledDownload()).toBeLessThan(maxBytes + 32 * MIB);
      // ...and the server held what it read, unpacked (as much again at gzip level 0), not the tarball.
      expect(growth).toBeLessThan(4 * maxBytes);
      expect(growth).toBeLessThan(tarballBytes / 4);
    } finally {
      await eserveless.stop();
    }
  });
});
