import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { writeStoredApp, type StoredApp } from "../../src/github/app-setup.js";
import { GitHubAppHolder, type LoadGitHubAppOptions } from "../../src/github/github-app-holder.js";
import { nodeFileSystem } from "../../src/node-file-system.js";

const PEM = generateKeyPairSync("rsa", {
  modulusLength: 1024,
  privateKeyEncoding: { type: "pkcs1", format: "pem" },
  publicKeyEncoding: { type: "spki", format: "pem" },
}).privateKey;

const ENVIRONMENT = { appId: 11, privateKey: PEM, webhookSecret: "secret-from-the-environment" };

function storedApp(overrides: Partial<StoredApp> = {}): StoredApp {
  return {
    appId: 22,
    slug: "eserveless-stored",
    name: "eserveless stored",
    htmlUrl: "https://github.com/apps/eserveless-stored",
    privateKey: PEM,
    webhookSecret: "secret-from-the-file",
    createdAt: "2025-01-02T03:04:05.000Z",
    ...overrides,
  };
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Loads the holder over a fresh DATA_DIR holding `file` (a stored App, or raw text) as github-app.json. */
function load(input: { environment?: LoadGitHubAppOptions["environment"]; missing?: string[]; file?: StoredApp | string }) {
  const dir = mkdtempSync(join(tmpdir(), "eserveless-holder-"));
  dirs.push(dir);
  const appFile = join(dir, "github-app.json");
  if (typeof input.file === "string") writeFileSync(appFile, input.file);
  else if (input.file) writeStoredApp(appFile, input.file, nodeFileSystem);
  const logged: Array<{ level: number; msg: string }> = [];
  const log = pino({ level: "info" }, { write: (line: string) => void logged.push(JSON.parse(line) as { level: number; msg: string }) });
  const holder = GitHubAppHolder.load({
    environment: input.environment,
    missing: input.missing ?? (input.environment ? [] : ["APP_ID", "PRIVATE_KEY", "WEBHOOK_SECRET"]),
    appFile,
    fs: nodeFileSystem,
    baseUrl: "http://127.0.0.1:9",
    publicUrl: "https://fn.example.com",
    log,
  });
  return { holder, appFile, logged, warnings: () => logged.filter((l) => l.level === 40).map((l) => l.msg), errors: () => logged.filter((l) => l.level === 50).map((l) => l.msg) };
}

describe("GitHubAppHolder", () => {
  it("uses the environment's App, and says a stored one is ignored", () => {
    const { holder, logged } = load({ environment: ENVIRONMENT, file: storedApp() });
    expect(holder.configured()).toEqual({ source: "environment", credentials: ENVIRONMENT });
    expect(holder.client()?.credentials).toEqual(ENVIRONMENT);
    expect(holder.problem()).toBeUndefined();
    expect(logged.map((l) => l.msg)).toEqual(["GitHub App from the environment; the one /setup stored is ignored"]);
  });

  it("uses the App /setup stored when the environment has none", () => {
    const { holder, warnings } = load({ file: storedApp() });
    expect(holder.configured()).toEqual({
      source: "file",
      credentials: { appId: 22, privateKey: PEM, webhookSecret: "secret-from-the-file" },
      slug: "eserveless-stored",
      name: "eserveless stored",
      htmlUrl: "https://github.com/apps/eserveless-stored",
      createdAt: "2025-01-02T03:04:05.000Z",
    });
    expect(holder.client()?.credentials.webhookSecret).toBe("secret-from-the-file");
    expect(warnings()).toEqual([]);
    // An incomplete environment is named and ignored.
    const partial = load({ missing: ["PRIVATE_KEY"], file: storedApp() });
    expect(partial.holder.configured()?.source).toBe("file");
    expect(partial.warnings()).toEqual([`GitHub App settings in the environment are incomplete (missing PRIVATE_KEY) and ignored; using ${partial.appFile}`]);
  });

  it("has no App and no problem on a fresh install, and says where to create one", () => {
    const { holder, warnings, errors } = load({});
    expect(holder.configured()).toBeUndefined();
    expect(holder.client()).toBeUndefined();
    expect(holder.problem()).toBeUndefined();
    expect(errors()).toEqual([]);
    expect(warnings()).toEqual([
      "GitHub App not configured (missing APP_ID, PRIVATE_KEY, WEBHOOK_SECRET); pushes cannot deploy until it is: open https://fn.example.com/setup to create it",
    ]);
  });

  it("has no App when the stored one is corrupt, and keeps why, without its contents", () => {
    const { holder, errors } = load({ file: '{"appId": 1, "privateKey": "hunter2"' });
    expect(holder.client()).toBeUndefined();
    expect(holder.problem()).toMatch(/github-app\.json is not JSON/);
    expect(holder.problem()).not.toContain("hunter2");
    expect(errors()).toHaveLength(1);
    expect(errors()[0]).toContain("fix or delete the file, or open /setup");
  });

  it("swaps in an App /setup created, forgetting the problem", () => {
    const { holder } = load({ file: "{}" });
    expect(holder.problem()).toMatch(/is not a GitHub App eserveless stored/);
    holder.useStored(storedApp({ webhookSecret: "brand-new" }));
    expect(holder.configured()).toMatchObject({ source: "file", slug: "eserveless-stored" });
    expect(holder.client()?.credentials.webhookSecret).toBe("brand-new");
    expect(holder.problem()).toBeUndefined();
    // Another App replaces it, with a client of its own.
    const before = holder.client();
    holder.useStored(storedApp({ appId: 33, webhookSecret: "newer" }));
    expect(holder.client()).not.toBe(before);
    expect(holder.client()?.credentials).toMatchObject({ appId: 33, webhookSecret: "newer" });
  });
});
