import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/cli.js";
import { FUNCTION_SANDBOX } from "../../src/http/function-response-headers.js";
import { deployFixture } from "../support/deploy-fixture.js";
import { startGitHubEmulator, type GitHubEmulator } from "../support/github-emulator.js";
import { httpRequest, rawExchange, statusCodes } from "../support/raw-http.js";
import { ADMIN_TOKEN, startEserveless, type TestEserveless } from "../support/start-eserveless.js";
import { signIn } from "../support/sign-in.js";

// ESERVELESS_FUNCTIONS_URL: function URLs on a hostname of their own, the
// dashboard, API and webhooks on PUBLIC_URL's, one server behind both. Every
// request goes to 127.0.0.1; the Host header names the host, as DNS and a
// reverse proxy would make it. 127.0.0.2 plays a trusted reverse proxy.

const OWNER = "octo-org";
const REPO = "boundary";
const FUNCTIONS_HOSTNAME = "fn.localhost";
const PROXY = "127.0.0.2";

let emulator: GitHubEmulator;
let server: TestEserveless;
let sha: string;
let dashboardHost: string;
let functionsHost: string;
let functionsUrl: string;

const fnPath = (name: string) => `/fn/${OWNER}/${REPO}/${name}`;
const on = (host: string, path: string, init: { method?: string; headers?: Record<string, string>; body?: string; from?: string } = {}) =>
  httpRequest(`${server.url}${path}`, { method: init.method, headers: { host, ...init.headers }, body: init.body, localAddress: init.from });

beforeAll(async () => {
  emulator = await startGitHubEmulator();
  emulator.addRepository({ owner: OWNER, name: REPO });
  server = await startEserveless({
    emulator,
    env: (url) => ({ ESERVELESS_FUNCTIONS_URL: `http://${FUNCTIONS_HOSTNAME}:${new URL(url).port}`, ESERVELESS_TRUSTED_PROXIES: PROXY }),
  });
  dashboardHost = new URL(server.url).host;
  functionsUrl = `http://${FUNCTIONS_HOSTNAME}:${new URL(server.url).port}`;
  functionsHost = new URL(functionsUrl).host;
  sha = await deployFixture({ server, emulator, owner: OWNER, repo: REPO, fixture: "node-boundary" });
});

afterAll(async () => {
  await server?.stop();
  await emulator?.close();
});

describe("a functions host of its own", () => {
  it("serves function URLs on the functions host only", async () => {
    const served = await on(functionsHost, `${fnPath("Headers")}/x`);
    expect(served.status).toBe(200);
    expect((JSON.parse(served.text) as { url: string }).url).toBe("/x");

    const refused = await on(dashboardHost, `${fnPath("Headers")}/x`);
    expect(refused.status).toBe(404);
    expect(JSON.parse(refused.text)).toMatchObject({ error: { code: "not_found" } });
    expect(refused.text).toContain(functionsUrl);
    // The split sees the path the router routes by, percent-encoded or not.
    const encoded = `/%66n/${OWNER}/${REPO}/Headers/x`;
    expect((await on(functionsHost, encoded)).status).toBe(200);
    expect((await on(dashboardHost, encoded)).status).toBe(404);
  });

  it("serves the dashboard, the API, webhooks and the rest on the other hosts only", async () => {
    const token = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const paths: Array<{ path: string; method?: string; headers?: Record<string, string>; status: number }> = [
      { path: "/login", status: 200 },
      { path: "/dashboard", status: 302 },
      { path: "/api/status", headers: token, status: 200 },
      { path: "/healthz", status: 200 },
      { path: `/deployments/${server.store.listDeployments(`${OWNER}/${REPO}`, 1)[0]!.id}`, headers: { accept: "application/json" }, status: 200 },
      { path: "/webhooks/github", method: "POST", headers: { "content-type": "application/json" }, status: 401 },
    ];
    for (const { path, method, headers, status } of paths) {
      expect((await on(dashboardHost, path, { method, headers, body: method === "POST" ? "{}" : undefined })).status, path).toBe(status);
      const refused = await on(functionsHost, path, { method, headers, body: method === "POST" ? "{}" : undefined });
      expect(refused.status, path).toBe(404);
      expect(refused.headers["set-cookie"], path).toBeUndefined();
    }
    // Host names are case-insensitive, and so is the split.
    expect((await on(functionsHost.toUpperCase(), "/login")).status).toBe(404);
  });

  it("goes by the Host header, or a trusted proxy's X-Forwarded-Host, never by an absolute-form request line", async () => {
    const absolute = `GET ${functionsUrl}${fnPath("Headers")} HTTP/1.1\r\nHost: ${dashboardHost}\r\nConnection: close\r\n\r\n`;
    expect(statusCodes(await rawExchange(server.url, absolute))).toEqual([404]);
    const reverse = `GET ${server.url}/login HTTP/1.1\r\nHost: ${functionsHost}\r\nConnection: close\r\n\r\n`;
    expect(statusCodes(await rawExchange(server.url, reverse))).toEqual([404]);

    // A proxy that connects with the dashboard's Host but says which host the client asked for.
    const forwarded = { "x-forwarded-host": functionsHost };
    expect((await on(dashboardHost, fnPath("Headers"), { from: PROXY, headers: forwarded })).status).toBe(200);
    expect((await on(dashboardHost, "/login", { from: PROXY, headers: forwarded })).status).toBe(404);
    // The same claim from anyone else changes nothing.
    expect((await on(dashboardHost, fnPath("Headers"), { headers: forwarded })).status).toBe(404);
    expect((await on(dashboardHost, "/login", { headers: forwarded })).status).toBe(200);
  });

  it("names function URLs on the functions host in statuses, the API, the dashboard and the CLI", async () => {
    const url = `${functionsUrl}${fnPath("Headers")}`;
    const status = emulator.statuses(OWNER, REPO, sha).find((s) => s.context === "eserveless/Headers");
    expect(status?.target_url).toBe(url);

    const projects = await on(dashboardHost, "/api/projects", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const project = (JSON.parse(projects.text) as { projects: Array<{ repository: string; functions: Array<{ name: string; url?: string }> }> }).projects.find(
      (p) => p.repository === `${OWNER}/${REPO}`,
    );
    expect(project?.functions.find((f) => f.name === "Headers")?.url).toBe(url);
    const serverStatus = await on(dashboardHost, "/api/status", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(JSON.parse(serverStatus.text)).toMatchObject({ publicUrl: server.url, functionsUrl });

    const { cookie } = await signIn(server);
    const page = await fetch(`${server.url}/dashboard/projects/${OWNER}/${REPO}`, { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain(`href="${url}"`);

    // The CLI prints what the server tells it.
    const cli = async (argv: string[]) => {
      let stdout = "";
      const code = await runCli({ argv, env: { url: server.url, token: ADMIN_TOKEN }, stdout: { write: (text: string) => (stdout += text) }, stderr: { write: () => true }, tty: false, cwd: process.cwd() });
      expect(code, stdout).toBe(0);
      return stdout;
    };
    expect(await cli(["ls"])).toContain(url);
    expect(await cli(["status"])).toMatch(new RegExp(`^Functions +${functionsUrl.replace(/[.]/g, "\\.")}$`, "m"));
  });

  it("still filters eserveless' cookies, but leaves function pages unsandboxed on their own origin", async () => {
    const answer = await on(functionsHost, fnPath("Cookies"));
    expect(answer.status).toBe(200);
    expect(answer.headers["set-cookie"]).toEqual(["theirs=kept; Path=/"]);
    expect(answer.headers).not.toHaveProperty("service-worker-allowed");
    expect(answer.headers["content-security-policy"]).toBe("default-src 'self'");
    expect(answer.text).not.toContain(FUNCTION_SANDBOX);
  });
});
