import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { safeEqual } from "../../src/http/bearer-auth.js";
import { unreachableDocker, wireApp, type WiredApp } from "../support/wire-app.js";

const TOKEN = "admin-token-0123456789abcdef";
/** eserveless, once with the admin token configured and once without; no Docker engine needed. */
let withToken: WiredApp;
let withoutToken: WiredApp;

beforeAll(async () => {
  withToken = await wireApp({ docker: unreachableDocker(), env: { ESERVELESS_ADMIN_TOKEN: TOKEN } });
  withoutToken = await wireApp({ docker: unreachableDocker() });
});

afterAll(async () => {
  await withToken?.close();
  await withoutToken?.close();
});

/** POST /redeploy, the admin route, with a body that fails validation once past the auth check. */
function redeploy(wired: WiredApp, authorization?: string) {
  return wired.app.request("/redeploy", {
    method: "POST",
    headers: { "content-type": "application/json", ...(authorization === undefined ? {} : { authorization }) },
    body: JSON.stringify({ repository: "not a repository" }),
  });
}

describe("bearerAuth on POST /redeploy", () => {
  it("answers 401 with a WWW-Authenticate challenge when no token is sent", async () => {
    const response = await redeploy(withToken);
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="eserveless"');
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("unauthorized");
    expect(body.error.message).toContain("ESERVELESS_ADMIN_TOKEN");
  });

  it.each([
    ["a wrong token", "Bearer not-the-admin-token-at-all"],
    ["a prefix of the token", `Bearer ${TOKEN.slice(0, -1)}`],
    ["the token with a suffix", `Bearer ${TOKEN}x`],
    ["the token without the scheme", TOKEN],
    ["basic credentials", `Basic ${Buffer.from(`admin:${TOKEN}`).toString("base64")}`],
    ["an empty bearer", "Bearer "],
  ])("answers 401 for %s", async (_label, authorization) => {
    const response = await redeploy(withToken, authorization);
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="eserveless"');
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
  });

  it("lets the right token through to the route", async () => {
    const response = await redeploy(withToken, `Bearer ${TOKEN}`);
    // Past the auth check, the route itself rejects the body.
    expect(response.status).toBe(400);
    expect(response.headers.get("www-authenticate")).toBeNull();
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("bad_request");
    expect(body.error.message).toContain("owner/repo");
  });

  it("accepts the scheme in any case and extra spaces around the token", async () => {
    expect((await redeploy(withToken, `bearer ${TOKEN}`)).status).toBe(400);
    expect((await redeploy(withToken, `BEARER    ${TOKEN}  `)).status).toBe(400);
  });

  it("answers 503 naming ESERVELESS_ADMIN_TOKEN when no token is configured, even for a request with one", async () => {
    for (const authorization of [undefined, `Bearer ${TOKEN}`, "Bearer "]) {
      const response = await redeploy(withoutToken, authorization);
      expect(response.status).toBe(503);
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("admin_token_unset");
      expect(body.error.message).toContain("ESERVELESS_ADMIN_TOKEN");
    }
  });
});

describe("safeEqual", () => {
  it("is true for equal secrets", () => {
    expect(safeEqual(TOKEN, TOKEN)).toBe(true);
    expect(safeEqual("", "")).toBe(true);
    expect(safeEqual("ünïcödé-🔑", "ünïcödé-🔑")).toBe(true);
  });

  it("is false for different secrets of the same length", () => {
    expect(safeEqual("abcdef", "abcdeg")).toBe(false);
    expect(safeEqual("Secret", "secret")).toBe(false);
  });

  it("is false, without throwing, for secrets of different lengths", () => {
    expect(safeEqual("short", TOKEN)).toBe(false);
    expect(safeEqual(TOKEN, TOKEN.slice(0, -1))).toBe(false);
    expect(safeEqual("", TOKEN)).toBe(false);
    expect(safeEqual("é", "e")).toBe(false);
  });
});
