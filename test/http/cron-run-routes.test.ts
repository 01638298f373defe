import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "valibot";
import { StoredSpecSchema } from "../../src/manifest/manifest-schema.js";
import type { CronRun } from "../../src/store/cron-run-store.js";
import { ADMIN_TOKEN, startEserveless, type TestEserveless } from "../support/start-eserveless.js";

// The runs pages of cron functions, over HTTP against a whole eserveless. Live
// functions and past runs are written to its store directly, as a deployment
// and earlier runs would have left them; schedules are yearly, so nothing runs
// unless a test asks.

const REPO = "octo-org/seeded";
const SHA = "e".repeat(40);
const MISSING_IMAGE = "eserveless-test/no-such-image:never-built";

let server: TestEserveless;

function liveFunctions(functions: Array<{ name: string; type: "http" | "cron"; spec?: Record<string, unknown> }>) {
  server.store.setLiveFunctions(
    REPO,
    { id: "dep1", commit: SHA, image: MISSING_IMAGE },
    functions.map((fn) => parse(StoredSpecSchema, { name: fn.name, type: fn.type, runtime: "node", ...fn.spec })),
  );
  server.scheduler.sync(REPO);
}

const url = (fn: string, query = "") => `${server.url}/functions/${REPO}/${fn}/runs${query}`;
const post = (fn: string, token?: string) => fetch(url(fn), { method: "POST", headers: token ? { authorization: `Bearer ${token}` } : {} });
const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}` };
const getJson = (fn: string, query = "") => fetch(url(fn, query), { headers: { accept: "application/json", ...AUTH } });
const errorOf = async (response: Response) => ((await response.json()) as { error: { code: string; message: string } }).error;

beforeAll(async () => {
  server = await startEserveless();
  liveFunctions([
    { name: "Web", type: "http" },
    { name: "Nightly", type: "cron", spec: { schedule: "0 3 1 1 *", timezone: "Europe/Paris", timeout: 45 } },
    { name: "Gone", type: "cron", spec: { schedule: "0 4 1 1 *", timezone: "UTC" } },
  ]);
});

afterAll(async () => {
  await server?.stop();
});

describe("cron runs over HTTP", () => {
  it("refuses POST without the admin token or with a wrong one (401), starting nothing", async () => {
    for (const token of [undefined, "not-the-admin-token-at-all"]) {
      const response = await post("Nightly", token);
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe('Bearer realm="eserveless"');
      expect((await errorOf(response)).code).toBe("unauthorized");
    }
    expect(server.store.listRuns(REPO, "Nightly")).toEqual([]);
  });

  it("answers 404 with what is missing for unknown and http functions", async () => {
    for (const response of [await post("Web", ADMIN_TOKEN), await getJson("Web")]) {
      expect(response.status).toBe(404);
      expect(await errorOf(response)).toEqual({ code: "not_a_cron_function", message: `"Web" of ${REPO} is an http function: only cron functions have runs.` });
    }
    for (const response of [await post("Nope", ADMIN_TOKEN), await getJson("Nope")]) {
      expect(response.status).toBe(404);
      const error = await errorOf(response);
      expect(error.code).toBe("function_not_found");
      expect(error.message).toContain(`${REPO} has no function "Nope"`);
      expect(error.message).toContain("Nightly (cron)");
    }
    const unknownRepo = await fetch(`${server.url}/functions/someone/else/Nightly/runs`, { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(unknownRepo.status).toBe(404);
    expect((await errorOf(unknownRepo)).message).toBe('Nothing is deployed from someone/else, so it has no function "Nightly".');
  });

  it("lists runs newest first as JSON, with the schedule, and honours limit", async () => {
    const base = { repository: REPO, function: "Nightly", deploymentId: "dep1", commit: SHA };
    const first = server.store.createRun({ ...base, trigger: "schedule", state: "running", at: Date.now() - 60_000 });
    server.store.finishRun(first.id, { state: "succeeded", exitCode: 0, durationMs: 812, output: "all good\n" });
    const second = server.store.createRun({ ...base, trigger: "schedule", state: "skipped", error: `Skipped: run ${first.id} was still running`, at: Date.now() - 30_000 });

    const response = await getJson("nightly");
    expect(response.status).toBe(200);
    const body = (await response.json()) as { repository: string; function: string; live: boolean; schedule: Record<string, unknown>; runs: CronRun[] };
    expect(body).toMatchObject({ repository: REPO, function: "Nightly", live: true });
    expect(body.schedule).toMatchObject({ schedule: "0 3 1 1 *", timezone: "Europe/Paris", timeoutSeconds: 45, deploymentId: "dep1", commit: SHA });
    // 03:00 on January 1st in Paris (UTC+1 in winter) is 02:00 UTC.
    const next = new Date(body.schedule.nextRun as string);
    expect([next.getUTCMonth(), next.getUTCDate(), next.getUTCHours(), next.getUTCMinutes()]).toEqual([0, 1, 2, 0]);
    expect(body.runs.map((r) => [r.id, r.state])).toEqual([
      [second.id, "skipped"],
      [first.id, "succeeded"],
    ]);
    expect(body.runs[1]).toMatchObject({ exitCode: 0, durationMs: 812, output: "all good\n", trigger: "schedule" });

    const limited = (await (await getJson("Nightly", "?limit=1")).json()) as { runs: CronRun[] };
    expect(limited.runs.map((r) => r.id)).toEqual([second.id]);
    for (const bad of ["0", "abc", "1000"]) {
      const refused = await getJson("Nightly", `?limit=${bad}`);
      expect(refused.status).toBe(400);
      expect((await errorOf(refused)).message).toContain("limit must be a whole number from 1 to 100");
    }
  });

  it("shows runs (their output may hold secrets) only with the admin token or a dashboard session", async () => {
    const anonymous = await fetch(url("Nightly"), { headers: { accept: "application/json" } });
    expect(anonymous.status).toBe(401);
    const browser = await fetch(url("Nightly"), { headers: { accept: "text/html" }, redirect: "manual" });
    expect(browser.status).toBe(302);
    expect(browser.headers.get("location")).toBe("/login");
    expect((await fetch(url("Nightly"), { headers: { accept: "application/json", authorization: "Bearer wrong-token-wrong-token" } })).status).toBe(401);
    expect((await getJson("Nightly")).status).toBe(200);
  });

  it("renders HTML for browsers, escaping what the function printed", async () => {
    const run = server.store.createRun({ repository: REPO, function: "Nightly", deploymentId: "dep1", commit: SHA, trigger: "manual", state: "running" });
    server.store.finishRun(run.id, { state: "failed", exitCode: 3, durationMs: 15, error: "Exited with code 3", output: "<script>alert(1)</script>\n" });

    const response = await fetch(url("Nightly"), { headers: { accept: "text/html,application/xhtml+xml", ...AUTH } });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/html");
    const page = await response.text();
    expect(page).toContain(`<h1>${REPO} · Nightly</h1>`);
    expect(page).toContain("<code>0 3 1 1 *</code> (Europe/Paris), timeout 45 s");
    expect(page).toContain(run.id);
    expect(page).toContain("Exited with code 3");
    expect(page).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(page).not.toContain("<script>alert(1)</script>");
    // Nothing runs, so the page does not reload itself.
    expect(page).not.toContain('http-equiv="refresh"');
  });

  it("starts a run with the admin token (202) and records why it could not run", async () => {
    const response = await post("Nightly", ADMIN_TOKEN);
    expect(response.status).toBe(202);
    const body = (await response.json()) as { run: { id: string; state: string; function: string }; url: string };
    expect(body.run).toMatchObject({ state: "running", function: "Nightly" });
    expect(body.url).toBe(url("Nightly"));
    expect(response.headers.get("location")).toBe(url("Nightly"));

    await server.scheduler.idle();
    const run = server.store.getRun(body.run.id)!;
    expect(run).toMatchObject({ state: "failed", trigger: "manual", exitCode: null, durationMs: null });
    expect(run.error).toMatch(/^Could not run the container: .*no such image/i);
  });

  it("keeps the past runs of a function a deployment removed readable, and stops its schedule", async () => {
    const run = server.store.createRun({ repository: REPO, function: "Gone", deploymentId: "dep1", commit: SHA, trigger: "schedule", state: "skipped" });
    expect(server.scheduler.schedules(REPO).map((s) => s.function)).toContain("Gone");
    liveFunctions([{ name: "Web", type: "http" }, { name: "Nightly", type: "cron", spec: { schedule: "0 3 1 1 *", timezone: "Europe/Paris", timeout: 45 } }]);
    expect(server.scheduler.schedules(REPO).map((s) => s.function)).toEqual(["Nightly"]);

    const response = await getJson("Gone");
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ function: "Gone", live: false, schedule: null, runs: [{ id: run.id }] });
    const html = await (await fetch(url("Gone"), { headers: AUTH })).text();
    expect(html).toContain("No longer deployed");
    expect((await post("Gone", ADMIN_TOKEN)).status).toBe(404);
  });
});
