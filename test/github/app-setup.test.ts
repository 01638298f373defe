import { RequestError } from "@octokit/request-error";
import { generateKeyPairSync } from "node:crypto";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readConfig } from "../../src/config.js";
import { BadRequestError, UpstreamError } from "../../src/errors.js";
import {
  checkOrganization,
  exchangeManifestCode,
  githubWebUrl,
  newAppUrl,
  PendingStates,
  readStoredApp,
  renderManifest,
  writeStoredApp,
  type AppFileSystem,
  type GitHubRequest,
  type StoredApp,
} from "../../src/github/app-setup.js";

const MANIFEST_YAML = readFileSync(new URL("../../github-app.yml", import.meta.url), "utf8");
const PEM = generateKeyPairSync("rsa", {
  modulusLength: 1024,
  privateKeyEncoding: { type: "pkcs1", format: "pem" },
  publicKeyEncoding: { type: "spki", format: "pem" },
}).privateKey;

const conversion = {
  id: 77,
  slug: "eserveless-fn",
  name: "eserveless fn",
  html_url: "https://github.com/apps/eserveless-fn",
  pem: PEM,
  webhook_secret: "s3cret",
  client_id: "Iv1.abc",
  client_secret: "client-secret",
  owner: { login: "octo" },
};

const fs: AppFileSystem = {
  readFile: (path) => readFileSync(path, "utf8"),
  writeFile: (path, data, options) => writeFileSync(path, data, options),
  chmod: chmodSync,
  rename: renameSync,
  unlink: unlinkSync,
};

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "eserveless-app-setup-"));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** The error a call rejects with. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a rejection");
}

const requestError = (status: number, message: string) =>
  new RequestError(message, status, {
    request: { method: "POST", url: "https://api.github.com/app-manifests/x/conversions", headers: {} },
    response: { status, url: "https://api.github.com/app-manifests/x/conversions", headers: {}, data: { message } },
  });

describe("githubWebUrl", () => {
  it("derives GitHub's web host from the API root", () => {
    expect(githubWebUrl("https://api.github.com")).toBe("https://github.com");
    expect(githubWebUrl("https://ghe.example.com/api/v3")).toBe("https://ghe.example.com");
    expect(githubWebUrl("https://ghe.example.com/api/v3/")).toBe("https://ghe.example.com");
    expect(githubWebUrl("https://api.octo.ghe.com")).toBe("https://octo.ghe.com");
    expect(githubWebUrl("http://127.0.0.1:4000")).toBe("http://127.0.0.1:4000");
  });

  it("is the config's default for GITHUB_URL, which overrides it", () => {
    expect(readConfig({}).githubUrl).toBe("https://github.com");
    expect(readConfig({ GITHUB_API_URL: "https://ghe.example.com/api/v3" }).githubUrl).toBe("https://ghe.example.com");
    expect(readConfig({ GITHUB_API_URL: "https://ghe.example.com/api/v3", GITHUB_URL: "https://web.example.com/" }).githubUrl).toBe("https://web.example.com");
  });
});

describe("newAppUrl and checkOrganization", () => {
  it("posts to the user's new-App page, or an organization's", () => {
    expect(newAppUrl({ webUrl: "https://github.com", state: "abc" })).toBe("https://github.com/settings/apps/new?state=abc");
    expect(newAppUrl({ webUrl: "https://ghe.example.com/", state: "a+b", org: "octo-org" })).toBe(
      "https://ghe.example.com/organizations/octo-org/settings/apps/new?state=a%2Bb",
    );
  });

  it("accepts GitHub logins and refuses anything else with a 400", () => {
    expect(checkOrganization(" octo-org ")).toBe("octo-org");
    for (const bad of ["-octo", "octo-", "oc--to", "octo/org", "a".repeat(40), "../x", ""]) {
      expect(() => checkOrganization(bad)).toThrow(BadRequestError);
    }
  });
});

describe("renderManifest", () => {
  it("fills PUBLIC_URL into github-app.yml's hook and redirect URLs", async () => {
    const manifest = await renderManifest(MANIFEST_YAML, "https://fn.example.com/");
    expect(manifest).toMatchObject({
      name: "eserveless",
      hook_attributes: { url: "https://fn.example.com/webhooks/github", active: true },
      redirect_url: "https://fn.example.com/setup/callback",
      public: false,
      default_permissions: { contents: "read", statuses: "write", deployments: "write", checks: "read", metadata: "read", pull_requests: "write" },
      default_events: ["push", "pull_request", "issue_comment"],
    });
    expect(JSON.stringify(manifest)).not.toContain("${PUBLIC_URL}");
  });

  it("replaces after parsing, so a URL cannot change the YAML's structure", async () => {
    const manifest = await renderManifest("redirect_url: ${PUBLIC_URL}/setup/callback\n", "https://x.example/a\npublic: true");
    expect(manifest).toEqual({ redirect_url: "https://x.example/a\npublic: true/setup/callback" });
  });

  it("refuses a manifest that is not a mapping", async () => {
    await expect(renderManifest("- a\n- b\n", "https://x")).rejects.toThrow(/not a YAML mapping/);
  });
});

describe("PendingStates", () => {
  it("takes a state once", () => {
    const states = new PendingStates();
    const state = states.create("octo-org");
    expect(state).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(states.take(state).org).toBe("octo-org");
    expect(() => states.take(state)).toThrow(/unknown or has expired/);
  });

  it("refuses unknown, missing and expired states with a 400", () => {
    let now = 1_000;
    const states = new PendingStates({ ttlMs: 100, now: () => now });
    const state = states.create();
    for (const bad of [undefined, "", "nope"]) {
      const error = (() => {
        try {
          states.take(bad);
        } catch (e) {
          return e as BadRequestError;
        }
      })();
      expect(error).toBeInstanceOf(BadRequestError);
      expect(error?.code).toBe("setup_state_invalid");
    }
    now += 100;
    expect(() => states.take(state)).toThrow(BadRequestError);
    expect(states.size).toBe(0);
  });

  it("puts a state back on restore, and keeps at most `max`", () => {
    const states = new PendingStates({ max: 2 });
    const first = states.create();
    const taken = states.take(first);
    taken.restore();
    expect(states.take(first).org).toBeUndefined();

    const a = states.create();
    const b = states.create();
    const c = states.create();
    expect(states.size).toBe(2);
    expect(() => states.take(a)).toThrow(BadRequestError);
    expect(() => states.take(b)).not.toThrow();
    expect(() => states.take(c)).not.toThrow();
  });
});

describe("exchangeManifestCode", () => {
  it("posts the code to the conversions endpoint and keeps what eserveless needs", async () => {
    const calls: Array<[string, Record<string, unknown>]> = [];
    const request: GitHubRequest = async (route, parameters) => {
      calls.push([route, parameters]);
      return { data: conversion };
    };
    const app = await exchangeManifestCode(request, "code-1", () => new Date("2025-01-02T03:04:05Z"));
    expect(calls).toEqual([["POST /app-manifests/{code}/conversions", { code: "code-1" }]]);
    expect(app).toEqual({
      appId: 77,
      slug: "eserveless-fn",
      name: "eserveless fn",
      htmlUrl: "https://github.com/apps/eserveless-fn",
      privateKey: PEM,
      webhookSecret: "s3cret",
      createdAt: "2025-01-02T03:04:05.000Z",
    });
    // The OAuth client secret is not needed, so it is not kept.
    expect(JSON.stringify(app)).not.toContain("client-secret");
  });

  it("refuses a missing or malformed code without asking GitHub", async () => {
    let asked = false;
    const request: GitHubRequest = async () => {
      asked = true;
      return { data: conversion };
    };
    for (const code of ["", "a/b", "x".repeat(201)]) {
      const error = await rejection(exchangeManifestCode(request, code));
      expect(error).toBeInstanceOf(BadRequestError);
    }
    expect(asked).toBe(false);
  });

  it("says a code GitHub does not know (used, expired) is a 400", async () => {
    const error = await rejection(exchangeManifestCode(async () => Promise.reject(requestError(404, "Not Found")), "used"));
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error).toMatchObject({ status: 400, code: "setup_code_invalid" });
    expect(error.message).toMatch(/works once and for an hour/);
  });

  it("says GitHub failing or unreachable is a 502", async () => {
    const failing = await rejection(exchangeManifestCode(async () => Promise.reject(requestError(500, "Server Error")), "c"));
    expect(failing).toBeInstanceOf(UpstreamError);
    expect(failing).toMatchObject({ status: 502, code: "github_error" });

    const network = new RequestError("connect ECONNREFUSED 127.0.0.1:1", 500, {
      request: { method: "POST", url: "http://127.0.0.1:1/app-manifests/c/conversions", headers: {} },
    });
    const unreachable = await rejection(exchangeManifestCode(async () => Promise.reject(network), "c"));
    expect(unreachable).toMatchObject({ status: 502, code: "github_unreachable" });
    expect(unreachable.message).toContain("GitHub cannot be reached (connect ECONNREFUSED 127.0.0.1:1)");
  });

  it("refuses an answer without the key or the webhook secret", async () => {
    const error = await rejection(exchangeManifestCode(async () => ({ data: { ...conversion, webhook_secret: null } }), "c"));
    expect(error).toMatchObject({ status: 502 });
    expect(error.message).toContain("webhook_secret");
  });
});

describe("stored App file", () => {
  const app: StoredApp = {
    appId: 77,
    slug: "eserveless-fn",
    name: "eserveless fn",
    htmlUrl: "https://github.com/apps/eserveless-fn",
    privateKey: PEM,
    webhookSecret: "s3cret",
    createdAt: "2025-01-02T03:04:05.000Z",
  };

  it("is written readable by its owner only, with nothing left beside it, and read back", () => {
    const dir = tempDir();
    const file = join(dir, "github-app.json");
    writeStoredApp(file, app, fs);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(["github-app.json"]);
    expect(readStoredApp(file, fs)).toEqual({ kind: "ok", app });

    // Written again (a new App replacing a broken file): still 0600, the new content.
    writeFileSync(file, "{", { mode: 0o644 });
    writeStoredApp(file, { ...app, appId: 78 }, fs);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readStoredApp(file, fs)).toMatchObject({ kind: "ok", app: { appId: 78 } });
  });

  it("removes the temporary file when the write fails", () => {
    const dir = tempDir();
    const failing: AppFileSystem = { ...fs, rename: () => { throw new Error("disk full"); } };
    expect(() => writeStoredApp(join(dir, "github-app.json"), app, failing)).toThrow("disk full");
    expect(readdirSync(dir)).toEqual([]);
  });

  it("reads as missing, or invalid with the reason", () => {
    const dir = tempDir();
    const file = join(dir, "github-app.json");
    expect(readStoredApp(file, fs)).toEqual({ kind: "missing" });

    writeFileSync(file, "not json");
    const notJson = readStoredApp(file, fs);
    expect(notJson.kind).toBe("invalid");
    expect((notJson as { message: string }).message).toMatch(/github-app\.json is not JSON/);

    writeFileSync(file, JSON.stringify({ ...app, privateKey: "nope", appId: "77" }));
    const wrong = readStoredApp(file, fs);
    expect(wrong.kind).toBe("invalid");
    expect((wrong as { message: string }).message).toMatch(/appId: .*privateKey: is not a PEM private key/);
    // The message names the problem but never repeats the file's content.
    expect((wrong as { message: string }).message).not.toContain("s3cret");
  });
});
