import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientAddress, SIGN_IN_LIMITS, SignInLimiter } from "../../../src/http/dashboard/sign-in-limiter.js";
import { manualClock } from "../../support/temp-store.js";
import { ADMIN_TOKEN, startEserveless, type TestEserveless } from "../../support/start-eserveless.js";
import { unreachableDocker } from "../../support/wire-app.js";

describe("the sign-in form under a guessing attack", () => {
  let server: TestEserveless;
  beforeAll(async () => {
    server = await startEserveless({ docker: unreachableDocker() });
  });
  afterAll(async () => {
    await server?.stop();
  });

  const signIn = (token: string) =>
    fetch(`${server.url}/login`, {
      method: "POST",
      headers: { origin: server.url, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token, next: "/dashboard" }),
      redirect: "manual",
    });

  it("answers 429 with Retry-After once an address sent its share of wrong tokens, even to the right one", async () => {
    const { burst, refillMs } = SIGN_IN_LIMITS.perAddress;
    for (let i = 0; i < burst; i++) expect((await signIn(`wrong-token-number-${i}`)).status).toBe(401);

    const limited = await signIn("one-guess-too-many");
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBe(refillMs / 1000);
    expect(limited.headers.get("content-type")).toContain("text/html");
    const page = await limited.text();
    expect(page).toContain(`Too many wrong tokens were sent from your address: sign-in is paused for ${refillMs / 1000} s.`);
    // No cookie, and no hint that this one was right.
    const right = await signIn(ADMIN_TOKEN);
    expect(right.status).toBe(429);
    expect(right.headers.get("set-cookie")).toBeNull();
  });
});

describe("the sign-in form behind a trusted reverse proxy", () => {
  // The test's own requests stand for the proxy (127.0.0.1, trusted), which
  // appends the client's address to X-Forwarded-For as nginx does.
  let server: TestEserveless;
  beforeAll(async () => {
    server = await startEserveless({ docker: unreachableDocker(), env: { ESERVELESS_TRUSTED_PROXIES: "127.0.0.1" } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  const signInVia = (forwardedFor: string, token: string) =>
    fetch(`${server.url}/login`, {
      method: "POST",
      headers: { origin: server.url, "content-type": "application/x-www-form-urlencoded", "x-forwarded-for": forwardedFor },
      body: new URLSearchParams({ token, next: "/dashboard" }),
      redirect: "manual",
    });

  it("limits the guessing client, not everyone behind the proxy, and a forged entry does not reset the count", async () => {
    const { burst } = SIGN_IN_LIMITS.perAddress;
    // The guesser puts a new made-up address first each time; the proxy appends the real one.
    for (let i = 0; i < burst; i++) expect((await signInVia(`10.9.9.${i}, 198.51.100.7`, `wrong-token-${i}`)).status).toBe(401);
    expect((await signInVia("10.9.9.200, 198.51.100.7", "another-guess")).status).toBe(429);
    expect((await signInVia("198.51.100.7", ADMIN_TOKEN)).status).toBe(429);
    // Another client of the same proxy signs in.
    const operator = await signInVia("203.0.113.9", ADMIN_TOKEN);
    expect(operator.status).toBe(303);
    expect(operator.headers.get("set-cookie")).toMatch(/^eserveless_session=/);
  });
});

describe("SignInLimiter", () => {
  const limits = { perAddress: { burst: 3, refillMs: 60_000 }, global: { burst: 5, refillMs: 10_000 }, maxAddresses: 4 };

  it("limits each address, and lets it try again one token per refill", () => {
    const clock = manualClock();
    const limiter = new SignInLimiter({ now: clock.now, limits });
    for (let i = 0; i < 3; i++) {
      expect(limiter.check("198.51.100.1")).toBeUndefined();
      limiter.failed("198.51.100.1");
    }
    expect(limiter.check("198.51.100.1")).toEqual({ scope: "address", retryAfterMs: 60_000 });
    expect(limiter.check("198.51.100.2")).toBeUndefined();
    clock.at += 45_000;
    expect(limiter.check("198.51.100.1")).toEqual({ scope: "address", retryAfterMs: 15_000 });
    clock.at += 15_000;
    expect(limiter.check("198.51.100.1")).toBeUndefined();
  });

  it("limits all addresses together, however many there are", () => {
    const clock = manualClock();
    const limiter = new SignInLimiter({ now: clock.now, limits });
    for (let i = 0; i < 5; i++) limiter.failed(`203.0.113.${i}`);
    expect(limiter.check("203.0.113.200")).toEqual({ scope: "global", retryAfterMs: 10_000 });
    clock.at += 10_000;
    expect(limiter.check("203.0.113.200")).toBeUndefined();
  });

  it("remembers a bounded number of addresses, forgetting the oldest", () => {
    const clock = manualClock();
    const limiter = new SignInLimiter({ now: clock.now, limits: { ...limits, global: { burst: 1_000_000, refillMs: 1 } } });
    for (let i = 0; i < 1000; i++) {
      limiter.failed(`192.0.2.${i % 250}-${i}`);
      clock.at += 1;
    }
    expect(limiter.size).toBe(limits.maxAddresses);
  });

  it("counts an address by its IPv4 form, and an IPv6 address by its /64", async () => {
    const app = new Hono().get("/", (c) => c.text(clientAddress(c)));
    const addressOf = async (remoteAddress?: string) => (await app.request("/", {}, remoteAddress ? { incoming: { socket: { remoteAddress } } } : {})).text();
    expect(await addressOf("::ffff:198.51.100.7")).toBe("198.51.100.7");
    expect(await addressOf("198.51.100.7")).toBe("198.51.100.7");
    expect(await addressOf("2001:db8:0:1::5")).toBe("2001:db8:0:1::/64");
    expect(await addressOf("2001:db8:0:1:ffff:2:3:4")).toBe("2001:db8:0:1::/64");
    expect(await addressOf("::1")).toBe("0:0:0:0::/64");
    expect(await addressOf()).toBe("unknown");
  });

  it("believes X-Forwarded-For from a trusted proxy only, and then only its nearest untrusted entry", async () => {
    const trusted = (address: string | undefined) => address === "127.0.0.1" || address === "10.0.0.2";
    const app = new Hono().get("/", (c) => c.text(clientAddress(c, trusted)));
    const addressOf = async (remoteAddress: string, forwardedFor: string) =>
      (await app.request("/", {}, { incoming: { socket: { remoteAddress }, headers: { "x-forwarded-for": forwardedFor } } })).text();
    expect(await addressOf("198.51.100.1", "203.0.113.5")).toBe("198.51.100.1");
    expect(await addressOf("127.0.0.1", "203.0.113.5")).toBe("203.0.113.5");
    expect(await addressOf("127.0.0.1", "1.2.3.4, 203.0.113.5, 10.0.0.2")).toBe("203.0.113.5");
    expect(await addressOf("127.0.0.1", "2001:db8:0:1::5")).toBe("2001:db8:0:1::/64");
    expect(await addressOf("127.0.0.1", "not an address")).toBe("127.0.0.1");
  });
});
