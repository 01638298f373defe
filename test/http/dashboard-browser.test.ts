import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFixture } from "../support/fixtures.js";
import { startGitHubEmulator, type GitHubEmulator } from "../support/github-emulator.js";
import { ADMIN_TOKEN, startEserveless, type TestEserveless } from "../support/start-eserveless.js";

// The dashboard and the deployment page in a real headless Chromium (Debian's,
// installed by scripts/install-chromium.sh), against a whole eserveless that
// deploys real pushes from the GitHub emulator. The browser only ever talks to
// 127.0.0.1.

const CHROMIUM = "/usr/bin/chromium";
const OWNER = "octo-org";
const REPO = "browser";
const SCREENSHOTS = {
  login: "/tmp/eserveless-login.png",
  running: "/tmp/eserveless-deployment-running.png",
  deployment: "/tmp/eserveless-deployment.png",
  dashboard: "/tmp/eserveless-dashboard.png",
  project: "/tmp/eserveless-project.png",
  output: "/tmp/eserveless-function-output.png",
};

let emulator: GitHubEmulator;
let server: TestEserveless;
let userDataDir: string | undefined;
let context: BrowserContext | undefined;

beforeAll(async () => {
  emulator = await startGitHubEmulator();
  emulator.addRepository({ owner: OWNER, name: REPO });
  server = await startEserveless({ emulator });
});

/** Debian's Chromium on a fresh profile; a missing one fails the test with what to run. */
async function launchChromium(): Promise<Page> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is missing (${CHROMIUM}): run \`bash scripts/install-chromium.sh\` as root to install Debian's chromium, then run the tests again.`);
  }
  userDataDir = mkdtempSync(join(tmpdir(), "eserveless-chromium-"));
  // Playwright takes the profile folder here, not as --user-data-dir.
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1200, height: 900 },
    args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
  // Nothing but the server under test and the functions it serves, all on loopback.
  await context.route("**/*", (route) => (new URL(route.request().url()).hostname === "127.0.0.1" ? route.continue() : route.abort()));
  return context.pages()[0] ?? (await context.newPage());
}

afterAll(async () => {
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  await server?.stop();
  await emulator?.close();
});

/** node-hello, whose module takes `loadSeconds` to load: its container answers HTTP only after that. */
function slowProject(version: string, loadSeconds: number) {
  const files: Record<string, { content: Buffer; mode: number } | string> = readFixture("node-hello");
  const source = (files["functions.js"] as { content: Buffer }).content.toString().replace('const VERSION = "v1"', `const VERSION = "${version}"`);
  // API prints each request's path: its output is what the function page follows.
  const printing = source.replace("function API(req, res) {", "function API(req, res) {\n  console.log(`asked for ${req.url}`);");
  files["functions.js"] = `Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${loadSeconds * 1000});\n${printing}`;
  return files;
}

describe("the dashboard in a browser", () => {
  it("signs in through the form, follows a running deployment's log live, then lists the project", async () => {
    const page = await launchChromium();

    // Signing in: the dashboard sends to the form, the form back to the dashboard.
    await page.goto(`${server.url}/dashboard`);
    expect(new URL(page.url()).pathname).toBe("/login");
    await page.getByLabel("Admin token").fill("not-the-admin-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("not the admin token");
    await page.screenshot({ path: SCREENSHOTS.login, fullPage: true });
    await page.getByLabel("Admin token").fill(ADMIN_TOKEN);
    await Promise.all([page.waitForURL(`${server.url}/dashboard`), page.getByRole("button", { name: "Sign in" }).click()]);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Dashboard");
    const [cookie] = await context!.cookies(server.url);
    expect(cookie).toMatchObject({ name: "eserveless_session", httpOnly: true, sameSite: "Strict" });
    expect(cookie!.value).not.toContain(ADMIN_TOKEN);
    // HttpOnly: page scripts cannot read it.
    expect(await page.evaluate("document.cookie")).toBe("");

    // A push whose function takes 3 s to start: its page opens while it runs.
    const sha = emulator.commit(OWNER, REPO, { files: slowProject("slow", 3) });
    const delivered = await server.deliver("push", emulator.pushPayload(OWNER, REPO, { after: sha }));
    expect(delivered.status).toBe(202);
    const { id } = ((await delivered.json()) as { deployment: { id: string } }).deployment;
    const response = await page.goto(`${server.url}/deployments/${id}`);
    const firstHtml = await response!.text();
    expect(firstHtml, "the deployment ended before its page opened: nothing was left to follow").not.toContain("answered HTTP");
    expect(firstHtml).toMatch(/badge-(queued|building|starting)/);
    // Page scripts run without the DOM types here: strings, evaluated in the page.
    await page.evaluate("window.__marker = 'the same page'");

    // The log grows in place (no reload: the marker survives), up to the final state.
    await page.locator("#follow-status").filter({ hasText: "following live" }).waitFor();
    await page.screenshot({ path: SCREENSHOTS.running, fullPage: true });
    await page.locator("#log").filter({ hasText: "answered HTTP" }).waitFor({ timeout: 120_000 });
    await page.locator("#state").filter({ hasText: /^success$/ }).waitFor({ timeout: 30_000 });
    expect(await page.evaluate("window.__marker")).toBe("the same page");
    expect(await page.locator("#state").getAttribute("class")).toBe("badge badge-success");
    expect(await page.locator("#description").textContent()).toMatch(/^Deployed 2 functions in/);
    const functionUrl = `${server.url}/fn/${OWNER}/${REPO}/API`;
    await expect.poll(() => page.locator("#functions").isVisible()).toBe(true);
    expect(await page.getByRole("link", { name: functionUrl }).getAttribute("href")).toBe(functionUrl);
    await expect.poll(() => page.locator("#follow-status").textContent(), { timeout: 10_000 }).toBe("");
    await page.screenshot({ path: SCREENSHOTS.deployment, fullPage: true });

    // The dashboard lists the project, its live commit and its function URL.
    await page.goto(`${server.url}/dashboard`);
    const card = page.getByRole("article").filter({ hasText: `${OWNER}/${REPO}` });
    expect(await card.getByRole("link", { name: functionUrl }).getAttribute("href")).toBe(functionUrl);
    expect(await card.textContent()).toContain(sha.slice(0, 7));
    await page.screenshot({ path: SCREENSHOTS.dashboard, fullPage: true });

    await card.getByRole("link", { name: `${OWNER}/${REPO}`, exact: true }).click();
    await page.waitForURL(`${server.url}/dashboard/projects/${OWNER}/${REPO}`);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe(`${OWNER}/${REPO}`);
    expect(await page.locator('section[aria-labelledby="cron-heading"]').getByRole("row", { name: /Ticker/ }).textContent()).toContain("*/5 * * * *");
    await page.screenshot({ path: SCREENSHOTS.project, fullPage: true });

    // The function's page shows its output and follows it: a request's line appears without a reload.
    await page.getByRole("link", { name: "API", exact: true }).click();
    await page.waitForURL(`${server.url}/dashboard/projects/${OWNER}/${REPO}/functions/API`);
    await page.locator("#follow-status").filter({ hasText: "following live" }).waitFor();
    await page.evaluate("window.__marker = 'the function page'");
    expect((await fetch(`${functionUrl}/seen-live`)).status).toBe(200);
    await page.locator("#output").filter({ hasText: /Z {2}es-[\w-]+ {2}asked for \/seen-live\n/ }).waitFor({ timeout: 5_000 });
    expect(await page.evaluate("window.__marker")).toBe("the function page");
    await page.screenshot({ path: SCREENSHOTS.output, fullPage: true });

    // Signing out ends the session: the dashboard asks to sign in again.
    await Promise.all([page.waitForURL(`${server.url}/login`), page.getByRole("button", { name: "Sign out" }).click()]);
    await page.goto(`${server.url}/dashboard`);
    expect(new URL(page.url()).pathname).toBe("/login");
  });
});
