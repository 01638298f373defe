import Docker from "dockerode";
import { TEST_SECRET_KEYS } from "../support/temp-store.js";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CronScheduler, cronSettings } from "../../src/cron/cron-scheduler.js";
import { parse } from "valibot";
import { StoredSpecSchema } from "../../src/manifest/manifest-schema.js";
import { createStore, type Store } from "../../src/store/store.js";
import { testNetworks } from "../support/test-networks.js";

// The scheduler's timing, read from a real store: which functions are
// scheduled, when next, and how a deployment switch changes that. Nothing
// here is due during the test, so no container starts.

const REPO = "octo-org/cron";
const SHA = "d".repeat(40);

let store: Store;
let scheduler: CronScheduler;

function deploy(id: string, functions: Array<{ name: string; type?: "http" | "cron"; spec?: Record<string, unknown> }>, repository = REPO) {
  store.setLiveFunctions(
    repository,
    { id, commit: SHA, image: `eserveless/none:${id}` },
    // As a deployment stores them: the manifest's entries, defaults applied.
    functions.map((fn) => parse(StoredSpecSchema, { name: fn.name, type: fn.type ?? "cron", runtime: "node", ...fn.spec })),
  );
}

beforeEach(() => {
  store = createStore(":memory:", { secrets: TEST_SECRET_KEYS });
  const docker = new Docker();
  // Nothing runs, so no network is made.
  scheduler = new CronScheduler({ instance: "cron-schedules-test", store, docker, networks: testNetworks(docker, "cron-schedules-test"), log: pino({ level: "silent" }) });
});

afterEach(async () => {
  await scheduler.stop();
  store.close();
});

describe("cron schedules", () => {
  it("schedules the live cron functions at start: 5 fields, 6 fields and time zones", () => {
    deploy("d1", [
      { name: "Api", type: "http", spec: { timeout: 30 } },
      { name: "Daily", spec: { schedule: "30 4 * * *" } },
      { name: "Tokyo", spec: { schedule: "0 9 * * *", timezone: "Asia/Tokyo", timeout: 5 } },
      { name: "Seconds", spec: { schedule: "15 0 0 1 1 *" } },
    ]);
    scheduler.start();
    const byName = Object.fromEntries(scheduler.schedules().map((s) => [s.function, s]));
    expect(Object.keys(byName).sort()).toEqual(["Daily", "Seconds", "Tokyo"]);

    const daily = byName.Daily!;
    expect(daily).toMatchObject({ repository: REPO, schedule: "30 4 * * *", timezone: "UTC", timeoutSeconds: 60, deploymentId: "d1" });
    expect([daily.nextRun!.getUTCHours(), daily.nextRun!.getUTCMinutes(), daily.nextRun!.getUTCSeconds()]).toEqual([4, 30, 0]);
    expect(daily.nextRun!.getTime()).toBeGreaterThan(Date.now());

    // 09:00 in Tokyo (UTC+9, no DST) is midnight UTC.
    expect(byName.Tokyo).toMatchObject({ timezone: "Asia/Tokyo", timeoutSeconds: 5 });
    expect([byName.Tokyo!.nextRun!.getUTCHours(), byName.Tokyo!.nextRun!.getUTCMinutes()]).toEqual([0, 0]);

    // Seconds first: 00:00:15 on January 1st.
    const seconds = byName.Seconds!.nextRun!;
    expect([seconds.getUTCMonth(), seconds.getUTCDate(), seconds.getUTCHours(), seconds.getUTCMinutes(), seconds.getUTCSeconds()]).toEqual([0, 1, 0, 0, 15]);
  });

  it("follows a deployment switch: changed schedules replaced, removed functions stopped, other repositories untouched", () => {
    deploy("d1", [{ name: "Keep", spec: { schedule: "0 1 * * *" } }, { name: "Change", spec: { schedule: "0 2 * * *" } }, { name: "Drop", spec: { schedule: "0 3 * * *" } }]);
    deploy("o1", [{ name: "Elsewhere", spec: { schedule: "0 4 * * *" } }], "octo-org/other");
    scheduler.start();
    expect(scheduler.schedules(REPO).map((s) => s.function)).toEqual(["Change", "Drop", "Keep"]);

    deploy("d2", [{ name: "Keep", spec: { schedule: "0 1 * * *" } }, { name: "Change", spec: { schedule: "0 5 * * *", timezone: "Europe/Paris" } }, { name: "New", spec: { schedule: "0 6 * * *" } }]);
    scheduler.sync(REPO.toUpperCase());
    const after = scheduler.schedules(REPO);
    expect(after.map((s) => [s.function, s.schedule, s.timezone, s.deploymentId])).toEqual([
      ["Change", "0 5 * * *", "Europe/Paris", "d2"],
      ["Keep", "0 1 * * *", "UTC", "d2"],
      ["New", "0 6 * * *", "UTC", "d2"],
    ]);
    expect(scheduler.schedules("octo-org/other").map((s) => s.function)).toEqual(["Elsewhere"]);

    // A deployment of http functions only leaves no schedule.
    deploy("d3", [{ name: "Api", type: "http" }]);
    scheduler.sync(REPO);
    expect(scheduler.schedules(REPO)).toEqual([]);
    expect(scheduler.schedules().map((s) => s.function)).toEqual(["Elsewhere"]);
  });

  it("stops every schedule on stop, and syncs nothing after", async () => {
    deploy("d1", [{ name: "Daily", spec: { schedule: "0 1 * * *" } }]);
    scheduler.start();
    expect(scheduler.schedules()).toHaveLength(1);
    await scheduler.stop();
    expect(scheduler.schedules()).toEqual([]);
    scheduler.sync(REPO);
    expect(scheduler.schedules()).toEqual([]);
  });

  it("fails at start the runs a previous process left running", () => {
    const run = store.createRun({ repository: REPO, function: "Daily", deploymentId: "d0", commit: SHA, trigger: "schedule", state: "running" });
    scheduler.start();
    expect(store.getRun(run.id)).toMatchObject({ state: "failed", error: expect.stringContaining("Interrupted") });
  });

  it("answers 404 for functions that have no runs, saying why", () => {
    deploy("d1", [{ name: "Api", type: "http" }, { name: "Daily", spec: { schedule: "0 1 * * *" } }]);
    expect(() => scheduler.runNow(REPO, "Api")).toThrow(/"Api" of octo-org\/cron is an http function: only cron functions have runs/);
    expect(() => scheduler.runNow(REPO, "Nope")).toThrow(/has no function "Nope" \(it has: Api \(http\), Daily \(cron\)\)/);
    expect(() => scheduler.runNow("octo-org/empty", "Daily")).toThrow(/Nothing is deployed from octo-org\/empty/);
  });

  it("gives a run the function's variables, its name and type, after meta", () => {
    deploy("d1", [{ name: "Daily", spec: { schedule: "0 1 * * *", meta: { target: "world", function: "spoofed" }, env: { STYLE: "plain" }, timeout: 7, memory: 64 * 1024 * 1024 } }]);
    const settings = cronSettings(scheduler.liveCronFunction(REPO, "Daily"));
    expect(settings).toMatchObject({ schedule: "0 1 * * *", timezone: "UTC", timeoutSeconds: 7, memoryBytes: 64 * 1024 * 1024 });
    expect(settings.env).toEqual({
      ESERVELESS_TARGET: "world",
      ESERVELESS_FUNCTION: "Daily",
      ESERVELESS_FUNCTION_TYPE: "cron",
      ESERVELESS_ENTRY: "functions.js",
      STYLE: "plain",
    });
  });
});
