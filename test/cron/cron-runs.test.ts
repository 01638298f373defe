import Docker from "dockerode";
import { describe, expect, it } from "vitest";
import { CRON_RUN_LABEL } from "../../src/cron/cron-scheduler.js";
import type { CronRun } from "../../src/store/cron-run-store.js";
import { readFixture } from "../support/fixtures.js";
import { eventually } from "../support/eventually.js";
import { ADMIN_TOKEN } from "../support/start-eserveless.js";
import { useEserveless } from "../support/use-eserveless.js";

// Cron functions end to end: pushed through the GitHub emulator, built, and
// run in real containers on their schedule or by POST …/runs.

const OWNER = "octo-org";
const JOBS = "cron-jobs"; // test/fixtures/cron-node, functions run by hand
const HELLO = "cron-hello"; // test/fixtures/node-hello, under a name of its own
const PULSE = "cron-pulse"; // test/fixtures/cron-every-second

const docker = new Docker();
const stack = useEserveless({ repositories: [JOBS, HELLO, PULSE].map((name) => ({ owner: OWNER, name })) });

/** Pushes a fixture (files overridden as given) and waits until it is live. */
async function deploy(repo: string, fixture: string, overrides: Record<string, string> = {}): Promise<string> {
  const sha = stack.emulator.commit(OWNER, repo, { files: { ...readFixture(fixture), ...overrides } });
  const response = await stack.server.deliver("push", stack.emulator.pushPayload(OWNER, repo, { after: sha }));
  expect(response.status).toBe(202);
  const { final } = await stack.settled(OWNER, repo, sha, 180_000);
  expect(final, final.description ?? "").toMatchObject({ state: "success" });
  return sha;
}

const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}` };
const runsUrl = (repo: string, fn: string) => `${stack.server.url}/functions/${OWNER}/${repo}/${fn}/runs`;

function trigger(repo: string, fn: string, token: string | null = ADMIN_TOKEN): Promise<Response> {
  return fetch(runsUrl(repo, fn), { method: "POST", headers: token ? { authorization: `Bearer ${token}` } : {} });
}

/** Runs now; returns the run id. */
async function runNow(repo: string, fn: string): Promise<string> {
  const response = await trigger(repo, fn);
  const body = (await response.json()) as { run: { id: string; state: string }; url: string };
  expect(response.status, JSON.stringify(body)).toBe(202);
  expect(body.run.state).toBe("running");
  expect(body.url).toBe(runsUrl(repo, fn));
  return body.run.id;
}

async function listRuns(repo: string, fn: string): Promise<CronRun[]> {
  const response = await fetch(`${runsUrl(repo, fn)}?limit=100`, { headers: { accept: "application/json", ...AUTH } });
  expect(response.status).toBe(200);
  return ((await response.json()) as { runs: CronRun[] }).runs;
}

/** Polls the runs page until run `id` is finished. */
async function finished(repo: string, fn: string, id: string, timeoutMs = 90_000): Promise<CronRun> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = (await listRuns(repo, fn)).find((r) => r.id === id);
    if (run && run.state !== "running") return run;
    if (Date.now() > deadline) throw new Error(`run ${id} of ${fn} still ${run?.state ?? "missing"} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Containers of one run, whatever their state. */
async function runContainers(id: string) {
  return docker.listContainers({ all: true, filters: { label: [`${CRON_RUN_LABEL}=${id}`] } });
}

describe("cron runs", () => {
  it("runs a cron function on demand and records its output and ESERVELESS_* values", async () => {
    const sha = await deploy(JOBS, "cron-node");
    const report = stack.server.scheduler.schedules(`${OWNER}/${JOBS}`).find((s) => s.function === "Report");
    expect(report).toMatchObject({ schedule: "0 9 * * *", timezone: "Asia/Tokyo", timeoutSeconds: 60, commit: sha });
    // 09:00 in Tokyo is midnight UTC.
    expect([report!.nextRun!.getUTCHours(), report!.nextRun!.getUTCMinutes()]).toEqual([0, 0]);

    const id = await runNow(JOBS, "Report");
    const run = await finished(JOBS, "Report", id);
    expect(run).toMatchObject({ state: "succeeded", exitCode: 0, trigger: "manual", commit: sha, error: null, outputTruncated: false });
    expect(run.durationMs).toBeGreaterThan(0);
    expect(run.finishedAt).toBeGreaterThanOrEqual(run.startedAt);
    expect(run.output).toContain("report for world");
    expect(run.output).toContain("STYLE=plain");
    expect(run.output).toContain("report stderr line");
    const envs = JSON.parse(/^envs (.*)$/m.exec(run.output)![1]!) as Record<string, string>;
    expect(envs).toMatchObject({
      ESERVELESS_FUNCTION: "Report",
      ESERVELESS_FUNCTION_TYPE: "cron",
      ESERVELESS_TARGET: "world",
      ESERVELESS_ENTRY: "functions.js",
    });
    // env entries are not ESERVELESS_* values: the function reads them from process.env only.
    expect(envs.STYLE).toBeUndefined();
    expect(await runContainers(id)).toEqual([]);
  });

  it("runs the node-hello fixture's Ticker, and has no runs for its http function", async () => {
    await deploy(HELLO, "node-hello");
    const ticker = stack.server.scheduler.schedules(`${OWNER}/${HELLO}`);
    expect(ticker.map((s) => [s.function, s.schedule, s.timezone])).toEqual([["Ticker", "*/5 * * * *", "UTC"]]);
    expect(ticker[0]!.nextRun!.getUTCMinutes() % 5).toBe(0);
    expect(ticker[0]!.nextRun!.getUTCSeconds()).toBe(0);

    // Ticker may come due on its own during the test (every 5 minutes): a 409 then means it is already running.
    let response = await trigger(HELLO, "Ticker");
    while (response.status === 409) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      response = await trigger(HELLO, "Ticker");
    }
    expect(response.status).toBe(202);
    const { run } = (await response.json()) as { run: { id: string } };
    expect(await finished(HELLO, "Ticker", run.id)).toMatchObject({ state: "succeeded", exitCode: 0, output: expect.stringContaining("tick world") });

    const http = await trigger(HELLO, "API");
    expect(http.status).toBe(404);
    expect(((await http.json()) as { error: { message: string } }).error.message).toContain('"API" of octo-org/cron-hello is an http function');
    expect((await fetch(runsUrl(HELLO, "API"), { headers: AUTH })).status).toBe(404);
  });

  it("refuses a second run while one is going (409), and runs again once it ended", async () => {
    const id = await runNow(JOBS, "Sleeper");
    const again = await trigger(JOBS, "Sleeper");
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string; message: string } }).error).toMatchObject({
      code: "run_in_progress",
      message: expect.stringContaining(`run ${id}`),
    });
    const run = await finished(JOBS, "Sleeper", id);
    expect(run).toMatchObject({ state: "succeeded", exitCode: 0 });
    expect(run.output).toMatch(/sleeping\n[^]*woke up/);
    expect(run.durationMs).toBeGreaterThanOrEqual(3000);

    const next = await runNow(JOBS, "Sleeper");
    expect(next).not.toBe(id);
    expect((await finished(JOBS, "Sleeper", next)).state).toBe("succeeded");
  });

  it("kills a run past its timeout and records it as timed out", async () => {
    const id = await runNow(JOBS, "Forever");
    const run = await finished(JOBS, "Forever", id);
    expect(run).toMatchObject({ state: "timed_out", error: "Killed after its 2 s timeout" });
    expect(run.durationMs).toBeGreaterThanOrEqual(2000);
    expect(run.durationMs).toBeLessThan(15_000);
    expect(run.output).toContain("forever started");
    expect(await runContainers(id)).toEqual([]);
  });

  it("records a function that throws as failed, with its exit code and error", async () => {
    const id = await runNow(JOBS, "Broken");
    const run = await finished(JOBS, "Broken", id);
    expect(run).toMatchObject({ state: "failed", exitCode: 1, error: "Exited with code 1" });
    expect(run.output).toContain("cron exploded");
  });

  it("runs an every-second schedule one run at a time, skipping overlapping ticks, until a redeploy changes the schedule", async () => {
    await deploy(PULSE, "cron-every-second");
    expect(stack.server.scheduler.schedules(`${OWNER}/${PULSE}`).map((s) => s.schedule)).toEqual(["*/1 * * * * *"]);

    // Each run sleeps 1.5 s, longer than a tick: runs succeed and ticks in between are skipped.
    const runs = await eventually("two finished runs and a skipped tick", async () => {
      const all = await listRuns(PULSE, "Pulse");
      const done = all.filter((r) => r.state === "succeeded");
      return done.length >= 2 && all.some((r) => r.state === "skipped") ? all : undefined;
    });
    expect(runs.every((r) => r.trigger === "schedule")).toBe(true);
    expect(runs.filter((r) => r.state === "failed" || r.state === "timed_out")).toEqual([]);
    const skipped = runs.find((r) => r.state === "skipped")!;
    expect(skipped.error).toMatch(/^Skipped: run [0-9a-f]+ was still running$/);
    // Never two at once: each run ended before the next one started.
    const ran = runs.filter((r) => r.state !== "skipped" && r.state !== "running").sort((a, b) => a.startedAt - b.startedAt);
    for (let i = 1; i < ran.length; i++) expect(ran[i]!.startedAt).toBeGreaterThanOrEqual(ran[i - 1]!.finishedAt!);
    expect(ran[0]!.output).toMatch(/pulse at /);

    // A redeploy with another schedule replaces it: no run starts after the switch.
    const yearly = readFixture("cron-every-second")[".eserveless.yaml"]!.content.toString().replace('"*/1 * * * * *"', '"0 0 1 1 *"');
    await deploy(PULSE, "cron-every-second", { ".eserveless.yaml": yearly });
    const switchedAt = Date.now();
    const schedule = stack.server.scheduler.schedules(`${OWNER}/${PULSE}`);
    expect(schedule.map((s) => [s.function, s.schedule])).toEqual([["Pulse", "0 0 1 1 *"]]);
    expect([schedule[0]!.nextRun!.getUTCMonth(), schedule[0]!.nextRun!.getUTCDate()]).toEqual([0, 1]);
    await stack.server.scheduler.idle();
    // Three seconds would have been three ticks of the old schedule.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect((await listRuns(PULSE, "Pulse")).filter((r) => r.startedAt >= switchedAt)).toEqual([]);

    // A redeploy without the function removes its schedule; its past runs stay readable.
    const renamed = yearly.replace("name: Pulse", "name: Calm");
    await deploy(PULSE, "cron-every-second", { ".eserveless.yaml": renamed, "functions.js": "module.exports = { Calm() {} };\n" });
    expect(stack.server.scheduler.schedules(`${OWNER}/${PULSE}`).map((s) => s.function)).toEqual(["Calm"]);
    const past = await fetch(runsUrl(PULSE, "Pulse"), { headers: { accept: "application/json", ...AUTH } });
    expect(past.status).toBe(200);
    expect(await past.json()).toMatchObject({ live: false, schedule: null });
    expect((await trigger(PULSE, "Pulse")).status).toBe(404);
  });

  it("refuses POST without the admin token (401) and starts nothing", async () => {
    const before = (await listRuns(JOBS, "Report")).length;
    for (const token of [null, "wrong-token-wrong-token"]) {
      const response = await trigger(JOBS, "Report", token);
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toContain("Bearer");
    }
    expect(stack.server.scheduler.activeRun(`${OWNER}/${JOBS}`, "Report")).toBeUndefined();
    expect(await listRuns(JOBS, "Report")).toHaveLength(before);
  });

  it("kills the runs in progress when it stops, recording them as failed", async () => {
    const id = await runNow(JOBS, "Sleeper");
    await eventually("the Sleeper container to run", async () => ((await runContainers(id)).some((c) => c.State === "running") ? true : undefined));
    await stack.server.scheduler.stop();
    const run = stack.server.store.getRun(id)!;
    expect(run).toMatchObject({ state: "failed", error: "Killed: eserveless shut down during the run" });
    expect(await runContainers(id)).toEqual([]);
    expect(stack.server.scheduler.schedules()).toEqual([]);
    const refused = await trigger(JOBS, "Report");
    expect(refused.status).toBe(503);
  });
});
