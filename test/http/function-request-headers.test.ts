import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withoutSessionCookies } from "../../src/http/function-request-headers.js";
import { deployFixture } from "../support/deploy-fixture.js";
import { startGitHubEmulator, type GitHubEmulator } from "../support/github-emulator.js";
import { httpRequest, rawExchange, responseBody, statusCodes } from "../support/raw-http.js";
import { signIn } from "../support/sign-in.js";
import { ADMIN_TOKEN, startEserveless, type TestEserveless } from "../support/start-eserveless.js";

// What a function receives from its callers, through the router, in a real
// container that echoes its request: none of eserveless' own credentials, and
// forwarded headers this server derived itself. 127.0.0.2 plays a trusted
// reverse proxy; callers on 127.0.0.1 are strangers.

const OWNER = "octo-org";
const REPO = "boundary";
const PROXY = "127.0.0.2";

let emulator: GitHubEmulator;
let server: TestEserveless;
let host: string;

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string | undefined>;
}

/** Calls the Headers function, which answers with the request it got. */
async function echo(path: string, init: { headers?: Record<string, string>; from?: string } = {}): Promise<Echo> {
  const answer = await httpRequest(`${server.url}/fn/${OWNER}/${REPO}/Headers${path}`, { headers: init.headers, localAddress: init.from });
  expect(answer.status, answer.text).toBe(200);
  return JSON.parse(answer.text) as Echo;
}

beforeAll(async () => {
  emulator = await startGitHubEmulator();
  emulator.addRepository({ owner: OWNER, name: REPO });
  server = await startEserveless({ emulator, env: { ESERVELESS_TRUSTED_PROXIES: PROXY } });
  host = new URL(server.url).host;
  await deployFixture({ server, emulator, owner: OWNER, repo: REPO, fixture: "node-boundary" });
});

afterAll(async () => {
  await server?.stop();
  await emulator?.close();
});

describe("eserveless' credentials never reach a function", () => {
  it("filters the signed-in operator's session cookie out, under every name, and keeps the caller's other cookies", async () => {
    const { cookie: session } = await signIn(server);
    // The cookie is a live credential: it opens the dashboard.
    expect((await fetch(`${server.url}/dashboard`, { headers: { cookie: session }, redirect: "manual" })).status).toBe(200);
    const value = session.slice(session.indexOf("=") + 1);

    const seen = await echo("/", { headers: { cookie: `theme=dark; ${session}; __Host-eserveless_session=${value}; lang=en` } });
    expect(seen.headers.cookie).toBe("theme=dark; lang=en");
    expect(JSON.stringify(seen)).not.toContain(value);

    const alone = await echo("/", { headers: { cookie: session } });
    expect(alone.headers).not.toHaveProperty("cookie");
  });

  it("drops Authorization when it is eserveless' admin token, and passes any other on", async () => {
    for (const authorization of [`Bearer ${ADMIN_TOKEN}`, `bearer   ${ADMIN_TOKEN} `]) {
      const seen = await echo("/", { headers: { authorization } });
      expect(seen.headers).not.toHaveProperty("authorization");
      expect(JSON.stringify(seen)).not.toContain(ADMIN_TOKEN);
    }
    // A function authenticates its own callers with its own tokens.
    for (const authorization of ["Bearer the-functions-own-token", `Basic ${Buffer.from("user:pass").toString("base64")}`]) {
      expect((await echo("/", { headers: { authorization } })).headers.authorization).toBe(authorization);
    }
  });

  it("strips the readiness probe header", async () => {
    expect((await echo("/", { headers: { "x-eserveless-probe": "1" } })).headers).not.toHaveProperty("x-eserveless-probe");
  });
});

describe("forwarded headers", () => {
  const forged = {
    "x-forwarded-for": "198.51.100.7",
    "x-forwarded-host": "attacker.example",
    "x-forwarded-proto": "https",
    "x-forwarded-port": "443",
    forwarded: "for=198.51.100.7;host=attacker.example;proto=https",
    "x-real-ip": "198.51.100.7",
  };

  it("replaces what a caller that is not a trusted proxy claims with what this server saw", async () => {
    const seen = await echo("/", { headers: { host, ...forged } });
    expect(seen.headers).toMatchObject({ "x-forwarded-for": "127.0.0.1", "x-forwarded-host": host, "x-forwarded-proto": "http" });
    expect(seen.headers).not.toHaveProperty("x-forwarded-port");
    expect(seen.headers).not.toHaveProperty("forwarded");
    expect(seen.headers).not.toHaveProperty("x-real-ip");
  });

  it("appends a trusted proxy's address to its X-Forwarded-For and keeps what it says", async () => {
    const seen = await echo("/", { from: PROXY, headers: { host, ...forged } });
    expect(seen.headers).toMatchObject({
      "x-forwarded-for": `198.51.100.7, ${PROXY}`,
      "x-forwarded-host": "attacker.example",
      "x-forwarded-proto": "https",
      "x-forwarded-port": "443",
      forwarded: forged.forwarded,
      "x-real-ip": "198.51.100.7",
    });
    // Without forwarded headers, the trusted proxy is the client as far as this server can tell.
    expect((await echo("/", { from: PROXY, headers: { host } })).headers).toMatchObject({ "x-forwarded-for": PROXY, "x-forwarded-host": host, "x-forwarded-proto": "http" });
  });

  it("takes the host from the Host header, not from an absolute-form request line", async () => {
    for (const target of [`http://attacker.example/fn/${OWNER}/${REPO}/Headers/absolute?q=1`, `https://attacker.example:8443/fn/${OWNER}/${REPO}/Headers/absolute?q=1`]) {
      const raw = await rawExchange(server.url, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      expect(statusCodes(raw)).toEqual([200]);
      const seen = JSON.parse(responseBody(raw)) as Echo;
      expect(seen.url).toBe("/absolute?q=1");
      expect(seen.headers).toMatchObject({ "x-forwarded-host": host, "x-forwarded-proto": "http", host });
    }
  });
});

describe("the invocation log", () => {
  it("keeps the path of each invocation but not its query string", async () => {
    const seen = await echo("/private/path?token=s3cr3t-query-value&email=someone%40example.com");
    // The function gets its query; only the log leaves it out.
    expect(seen.url).toBe("/private/path?token=s3cr3t-query-value&email=someone%40example.com");
    const response = await fetch(`${server.url}/api/functions/${OWNER}/${REPO}/Headers/invocations`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(response.status).toBe(200);
    const text = await response.text();
    const { invocations } = JSON.parse(text) as { invocations: Array<{ path: string }> };
    expect(invocations[0]).toMatchObject({ method: "GET", path: "/private/path", status: 200 });
    expect(text).not.toContain("s3cr3t-query-value");
    expect(invocations.filter((i) => i.path.includes("?"))).toEqual([]);
  });
});

describe("withoutSessionCookies", () => {
  it("keeps every other cookie, and nothing when only the session was sent", () => {
    expect(withoutSessionCookies("a=1;eserveless_session=x;  b=2")).toBe("a=1; b=2");
    expect(withoutSessionCookies("__host-ESERVELESS_SESSION=x; eserveless_session_other=y")).toBe("eserveless_session_other=y");
    expect(withoutSessionCookies(" eserveless_session = x ")).toBeUndefined();
    expect(withoutSessionCookies("flag; a=1")).toBe("flag; a=1");
  });
});
