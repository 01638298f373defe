import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FUNCTION_SANDBOX, setsSessionCookie } from "../../src/http/function-response-headers.js";
import { deployFixture } from "../support/deploy-fixture.js";
import { startGitHubEmulator, type GitHubEmulator } from "../support/github-emulator.js";
import { httpRequest } from "../support/raw-http.js";
import { ADMIN_TOKEN, startEserveless, type TestEserveless } from "../support/start-eserveless.js";

// What a caller gets back from a function that shares the dashboard's origin
// (no ESERVELESS_FUNCTIONS_URL, the default): the function can neither set
// eserveless' cookie nor, in a browser, act as the signed-in operator.

const OWNER = "octo-org";
const REPO = "boundary";
const CHROMIUM = "/usr/bin/chromium";

let emulator: GitHubEmulator;
let server: TestEserveless;
let userDataDir: string | undefined;
let context: BrowserContext | undefined;

const fnUrl = (name: string) => `${server.url}/fn/${OWNER}/${REPO}/${name}`;

/** The values of one header, as sent (repeated headers apart). */
const values = (rawHeaders: string[], name: string) => rawHeaders.flatMap((value, i) => (i % 2 === 1 && rawHeaders[i - 1]!.toLowerCase() === name ? [value] : []));

beforeAll(async () => {
  emulator = await startGitHubEmulator();
  emulator.addRepository({ owner: OWNER, name: REPO });
  server = await startEserveless({ emulator });
  await deployFixture({ server, emulator, owner: OWNER, repo: REPO, fixture: "node-boundary" });
});

afterAll(async () => {
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  await server?.stop();
  await emulator?.close();
});

describe("function responses on the dashboard's origin", () => {
  it("lose Set-Cookie for eserveless' session cookie, under every name, and keep the function's own cookies", async () => {
    const answer = await httpRequest(fnUrl("Cookies"));
    expect(answer.status).toBe(200);
    expect(values(answer.rawHeaders, "set-cookie")).toEqual(["theirs=kept; Path=/"]);
  });

  it("lose Service-Worker-Allowed and Clear-Site-Data, and carry the sandbox policy beside the function's own", async () => {
    const answer = await httpRequest(fnUrl("Cookies"));
    expect(answer.headers).not.toHaveProperty("service-worker-allowed");
    // Clear-Site-Data acts on the whole origin: it would sign the operator out of the dashboard.
    expect(answer.headers).not.toHaveProperty("clear-site-data");
    expect(values(answer.rawHeaders, "content-security-policy")).toEqual(["default-src 'self'", FUNCTION_SANDBOX]);
    // Every response, whatever the function sends.
    const plain = await httpRequest(fnUrl("Headers"));
    expect(values(plain.rawHeaders, "content-security-policy")).toEqual([FUNCTION_SANDBOX]);
  });

  it("cannot read the dashboard nor set cookies from a browser signed in to the dashboard", async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium is missing (${CHROMIUM}): run \`bash scripts/install-chromium.sh\` as root to install Debian's chromium, then run the tests again.`);
    }
    userDataDir = mkdtempSync(join(tmpdir(), "eserveless-chromium-"));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
    });
    // Nothing but the server under test, on loopback.
    await context.route("**/*", (route) => (new URL(route.request().url()).hostname === "127.0.0.1" ? route.continue() : route.abort()));
    const page = context.pages()[0] ?? (await context.newPage());

    // The operator signs in, then opens a function's page in the same browser.
    await page.goto(`${server.url}/login`);
    await page.getByLabel("Admin token").fill(ADMIN_TOKEN);
    await Promise.all([page.waitForURL(`${server.url}/dashboard`), page.getByRole("button", { name: "Sign in" }).click()]);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Dashboard");

    await page.goto(fnUrl("Page"));
    await page.waitForFunction("document.title === 'done'");
    const result = JSON.parse((await page.locator("body").textContent()) ?? "{}") as { cookie: string; dashboard: string };
    // Its script runs (allow-scripts), in an opaque origin: no cookies, and the dashboard is another origin.
    expect(result.dashboard).toBe("refused: TypeError");
    expect(result.cookie).toBe("refused: SecurityError");
    expect((await context.cookies(server.url)).map((c) => c.name)).toEqual(["eserveless_session"]);
  });
});

describe("setsSessionCookie", () => {
  it("recognises eserveless' cookie under any spelling, nameless cookies included", () => {
    for (const cookie of ["eserveless_session=x", " __Host-eserveless_session=x; Secure", "ESERVELESS_SESSION=x", "=eserveless_session=x", "eserveless_session"]) {
      expect(setsSessionCookie(cookie), cookie).toBe(true);
    }
    for (const cookie of ["theirs=eserveless_session", "eserveless_session_v2=x", "session=x; Path=/eserveless_session"]) {
      expect(setsSessionCookie(cookie), cookie).toBe(false);
    }
  });
});
