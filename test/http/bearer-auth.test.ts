import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { safeEqual } from "../../src/http/bearer-auth.js";
import { SIGN_IN_LIMITS } from "../../src/http/dashboard/sign-in-limiter.js";
import { ADMIN_TOKEN, startEserveless } from "../support/start-eserveless.js";
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

describe("guessing the admin token over the API", () => {
  it("gets a client 429 with Retry-After after its share of wrong tokens, on every door, while others behind the same proxy go on", async () => {
    // The test's requests stand for a trusted proxy on 127.0.0.1 that appends each client's address.
    const server = await startEserveless({ docker: unreachableDocker(), env: { ESERVELESS_TRUSTED_PROXIES: "127.0.0.1" } });
    try {
      const api = (client: string, token: string) =>
        fetch(`${server.url}/api/projects`, { headers: { authorization: `Bearer ${token}`, "x-forwarded-for": client } });
      const { burst, refillMs } = SIGN_IN_LIMITS.perAddress;
      for (let i = 0; i < burst; i++) expect((await api("198.51.100.7", `guess-number-${i}-abcdefgh`)).status).toBe(401);

      const limited = await api("198.51.100.7", "one-guess-too-many-abcdef");
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get("retry-after"))).toBe(refillMs / 1000);
      expect(await limited.json()).toMatchObject({ error: { code: "too_many_wrong_tokens" } });
      // The right token is refused too while the limit holds, or the guesser would learn it.
      expect((await api("198.51.100.7", ADMIN_TOKEN)).status).toBe(429);
      // The other doors share the count: the sign-in form, /redeploy, a deployment's log.
      const form = await fetch(`${server.url}/login`, {
        method: "POST",
        headers: { origin: server.url, "content-type": "application/x-www-form-urlencoded", "x-forwarded-for": "198.51.100.7" },
        body: new URLSearchParams({ token: ADMIN_TOKEN, next: "/dashboard" }),
        redirect: "manual",
      });
      expect(form.status).toBe(429);
      const redeploy = await fetch(`${server.url}/redeploy`, { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "x-forwarded-for": "198.51.100.7" } });
      expect(redeploy.status).toBe(429);

      // The operator, another client of the proxy, is not locked out.
      const operator = await api("203.0.113.9", ADMIN_TOKEN);
      expect(operator.status).toBe(200);
    } finally {
      await server.stop();
    }
  });

  it("does not count requests without a token: anonymous visitors sharing the operator's address cannot lock the operator out", async () => {
    // No trusted proxy: every client arrives from the proxy's one address, 127.0.0.1 here.
    const server = await startEserveless({ docker: unreachableDocker() });
    try {
      const { burst } = SIGN_IN_LIMITS.perAddress;
      for (let i = 0; i < burst * 3; i++) {
        const anonymous = await fetch(`${server.url}/redeploy`, { method: "POST" });
        expect(anonymous.status).toBe(401);
      }
      const operator = await fetch(`${server.url}/api/projects`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(operator.status).toBe(200);
      // Wrong tokens from that address still count, so the limit is still there.
      for (let i = 0; i < burst; i++) {
        await fetch(`${server.url}/api/projects`, { headers: { authorization: `Bearer wrong-guess-${i}-abcdefgh` } });
      }
      expect((await fetch(`${server.url}/api/projects`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(429);
    } finally {
      await server.stop();
    }
  });
});
