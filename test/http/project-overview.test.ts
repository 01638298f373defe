import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storedSpec } from "../../src/manifest/manifest-schema.js";
import { readManifest } from "../../src/manifest/read-manifest.js";
import { runCli } from "../support/run-cli.js";
import { signIn } from "../support/sign-in.js";
import { ADMIN_TOKEN, startEserveless, type TestEserveless } from "../support/start-eserveless.js";
import { unreachableDocker } from "../support/wire-app.js";

// What `ls`, `ls --json` and the dashboard say of a project at a glance: a
// cron function's next run in its own zone, and how many of an http
// function's recent requests failed. With no engine, every call fails, as
// for a project whose function crashes on each request.

const REPOSITORY = "octo-org/overview";
const COMMIT = createHash("sha1").update("overview test commit").digest("hex");
const MANIFEST = `runtime: node
functions:
  - name: API
    type: http
  - name: Morning
    type: cron
    schedule: "0 7 * * *"
    timezone: Europe/Paris
`;

let server: TestEserveless;

beforeAll(async () => {
  server = await startEserveless({ docker: unreachableDocker() });
  const { manifest } = await readManifest(MANIFEST, { has: () => true });
  const deployment = server.store.createDeployment({ repository: REPOSITORY, commit: COMMIT, ref: "refs/heads/main", trigger: "push" });
  server.store.setLiveFunctions(REPOSITORY, { id: deployment.id, commit: COMMIT, image: "eserveless/overview:test" }, manifest.functions.map((fn) => storedSpec(fn, manifest)));
  server.scheduler.sync(REPOSITORY);
  server.store.updateDeployment(deployment.id, { state: "success", description: "Deployed 2 functions", functions: [] });
});

afterAll(async () => {
  await server?.stop();
});

/** The hour and minute of an ISO time on Paris's wall clock. */
const parisClock = (iso: string) => new Intl.DateTimeFormat("en-GB", { timeZone: "Europe/Paris", hour: "2-digit", minute: "2-digit" }).format(new Date(iso));

describe("a cron function's next run", () => {
  it("is given in its schedule's own zone, named, by ls, ls --json and the dashboard", async () => {
    const env = { ESERVELESS_URL: server.url, ESERVELESS_ADMIN_TOKEN: ADMIN_TOKEN };
    const json = await runCli(["ls", "--json"], env);
    expect(json.code, json.stderr).toBe(0);
    const morning = JSON.parse(json.stdout).projects[0].functions.find((fn: { name: string }) => fn.name === "Morning");
    expect(morning).toMatchObject({ type: "cron", schedule: "0 7 * * *", timezone: "Europe/Paris" });
    // 07:00 in Paris is 06:00 or 05:00 UTC: the instant is right, whatever the season.
    expect(parisClock(morning.nextRun)).toBe("07:00");
    expect(Date.parse(morning.nextRun)).toBeGreaterThan(Date.now());

    const ls = await runCli(["ls"], env);
    expect(ls.code, ls.stderr).toBe(0);
    const line = ls.stdout.split("\n").find((l) => l.includes("Morning"))!;
    expect(line).toMatch(/0 7 \* \* \* \(Europe\/Paris\), next \d{4}-\d\d-\d\d 07:00:00 Europe\/Paris/);

    const { cookie } = await signIn(server);
    for (const path of ["/dashboard", `/dashboard/projects/${REPOSITORY}`]) {
      const page = await (await fetch(`${server.url}${path}`, { headers: { cookie } })).text();
      expect(page, path).toMatch(/<time datetime="[^"]+">\d{4}-\d\d-\d\d 07:00:00 Europe\/Paris<\/time>/);
    }
  });
});

describe("an http function's last hour", () => {
  it("shows on the overview and the project page how many requests failed, and in ls --json", async () => {
    const { cookie } = await signIn(server);
    const quiet = await (await fetch(`${server.url}/dashboard`, { headers: { cookie } })).text();
    expect(quiet).toContain("no requests in the last hour");

    for (let i = 0; i < 3; i++) {
      const call = await fetch(`${server.url}/fn/${REPOSITORY}/API`);
      expect(call.status).toBeGreaterThanOrEqual(500);
    }
    for (const path of ["/dashboard", `/dashboard/projects/${REPOSITORY}`]) {
      const page = await (await fetch(`${server.url}${path}`, { headers: { cookie } })).text();
      expect(page, path).toContain('3 requests, <strong class="failing">3 failed (100%)</strong>');
    }
    const json = await runCli(["ls", "--json"], { ESERVELESS_URL: server.url, ESERVELESS_ADMIN_TOKEN: ADMIN_TOKEN });
    const api = JSON.parse(json.stdout).projects[0].functions.find((fn: { name: string }) => fn.name === "API");
    expect(api.lastHour).toEqual({ requests: 3, errors: 3 });
  });
});
