import Docker from "dockerode";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { CronCheckError, checkCronFunction } from "../../src/deploy/cron-check.js";
import type { Deployment } from "../../src/store/deployment-store.js";
import { readFixture } from "../support/fixtures.js";
import { useEserveless } from "../support/use-eserveless.js";

// Before a push goes live, each of its cron functions is checked in a
// container of the new image (ESERVELESS_FUNCTION_TYPE=cron-check): loaded
// and found callable, never called. A cron function that would fail at its
// first tick fails the push instead, and the previous version stays live.

const OWNER = "octo-org";
const REPO = "cron-check";
const REPOSITORY = `${OWNER}/${REPO}`;

const docker = new Docker();
const stack = useEserveless({ repositories: [{ owner: OWNER, name: REPO }] });

// Ticker is never due during a test, so no cron run starts.
const API = "  - name: API\n    type: http\n";
const TICKER = '  - name: Ticker\n    type: cron\n    schedule: "0 0 1 1 *"\n';

/**
 * A node project: API answers `version`; `ticker` is the source of Ticker, `undefined` to leave it out
 * of the exports; `prelude` runs first at load; `cronOnly` declares Ticker alone.
 */
function project(version: string, ticker: string | undefined, options: { prelude?: string; cronOnly?: boolean } = {}) {
  const api = `function API(req, res) { res.end(JSON.stringify({ version: ${JSON.stringify(version)} })); }`;
  const exports = ticker === undefined ? "module.exports = { API };" : `module.exports = { API, Ticker: ${ticker} };`;
  return {
    ".eserveless.yaml": `runtime: node\nfunctions:\n${options.cronOnly ? "" : API}${TICKER}`,
    "package.json": '{ "name": "cron-check", "private": true }\n',
    "functions.js": `${options.prelude ?? ""}${api}\n${exports}\n`,
  };
}

/** Pushes `files` and waits until the deployment ended; returns it with its log and the final commit status. */
async function deploy(files: Record<string, unknown>) {
  const sha = stack.emulator.commit(OWNER, REPO, { files: files as never });
  expect((await stack.server.deliver("push", stack.emulator.pushPayload(OWNER, REPO, { after: sha }))).status).toBe(202);
  const { final } = await stack.settled(OWNER, REPO, sha);
  const deployment: Deployment = stack.server.store.listDeployments(REPOSITORY).find((d) => d.commit === sha)!;
  const log = stack.server.store.deploymentLog(deployment.id).map((l) => l.line);
  return { deployment, log, final };
}

const version = async () => ((await (await fetch(`${stack.server.url}/fn/${REPOSITORY}/API`)).json()) as { version: string }).version;
const scheduledDeployment = () => stack.server.scheduler.schedules(REPOSITORY).map((s) => [s.function, s.deploymentId]);

/** The containers of a deployment still on the engine, whatever their state. */
const containersOf = (deploymentId: string) => docker.listContainers({ all: true, filters: { label: [`dev.eserveless.deployment=${deploymentId}`] } });

describe("the cron check of a deployment", () => {
  let good: Deployment;

  it("deploys a cron function that would exit 3 if called: the check loads it without calling it", async () => {
    const { deployment, log, final } = await deploy(project("v1", "() => process.exit(3)", { prelude: "if (process.env.HANG_AT_LOAD) for (;;);\n" }));
    expect(final.state, log.join("\n")).toBe("success");
    good = deployment;
    // The http container checked it: no container of its own.
    expect(log).toContain("Ticker can run on schedule (checked in API's container)");
    expect(log).not.toContain("Checking Ticker…");
    expect((await containersOf(good.id)).map((c) => c.Labels["dev.eserveless.function"])).toEqual(["API"]);
    expect(await version()).toBe("v1");
    expect(scheduledDeployment()).toEqual([["Ticker", good.id]]);
  });

  it("fails a push whose cron function is not exported; the previous version stays live and scheduled", async () => {
    const { deployment, log, final } = await deploy(project("v2", undefined));
    expect(final.state).toBe("failure");
    // The check ran in API's container, so API's start is what failed, with the reason.
    expect(final.description).toMatch(/^API: .*functions\.js does not export Ticker \(it exports: API\)/);
    expect(deployment).toMatchObject({ state: "failure", description: expect.stringContaining("Export it, e.g. module.exports = { Ticker }") });
    expect(log).toContain("  API | eserveless: functions.js does not export Ticker (it exports: API). Export it, e.g. module.exports = { Ticker } or export function Ticker(…).");
    // Nothing of it is left.
    expect(log).toContain("Starting API…");
    expect(await containersOf(deployment.id)).toEqual([]);
    expect(await version()).toBe("v1");
    expect(scheduledDeployment()).toEqual([["Ticker", good.id]]);
    expect(stack.server.store.liveFunction(REPOSITORY, "Ticker")?.deploymentId).toBe(good.id);
  });

  it("fails a push whose module throws at load, with the thrown message in the deployment log", async () => {
    // Cron functions only: with an http function too, its start would fail first.
    const prelude = 'if (!process.env.DATABASE_URL) throw new Error("DATABASE_URL is not set");\n';
    const { deployment, log, final } = await deploy(project("v3", "() => {}", { prelude, cronOnly: true }));
    expect(final.state).toBe("failure");
    expect(final.description).toMatch(/^Ticker: cannot load functions\.js: Error: DATABASE_URL is not set/);
    expect(log.some((line) => line.startsWith("  Ticker | ") && line.includes("DATABASE_URL is not set"))).toBe(true);
    expect(log.at(-1)).toMatch(/^Deployment failed: Ticker: cannot load functions\.js: Error: DATABASE_URL is not set/);
    expect(await containersOf(deployment.id)).toEqual([]);
    expect(await version()).toBe("v1");
    expect(scheduledDeployment()).toEqual([["Ticker", good.id]]);
  });

  it("fails a Go push whose cron function has a signature the runtime cannot call", async () => {
    const { deployment, log, final } = await deploy(readFixture("go-cron-signature"));
    expect(final.state, log.join("\n")).toBe("failure");
    expect(deployment.description).toMatch(/^Nightly: Nightly is a func\(int\) string, which eserveless cannot run as a cron function: it must be a func\(envs interface\{\}\)/);
    expect(final.description).toMatch(/^Nightly: Nightly is a func\(int\) string/);
    expect(log.some((line) => line.startsWith("  Nightly | eserveless: Nightly is a func(int) string"))).toBe(true);
    expect(await version()).toBe("v1");
    expect(scheduledDeployment()).toEqual([["Ticker", good.id]]);
  });

  it("kills a check past its time limit, or when the deployment is cut short, and removes its container", async () => {
    // The good version's module loops forever at load when HANG_AT_LOAD is set: an env entry of the manifest.
    const live = stack.server.scheduler.liveCronFunction(REPOSITORY, "Ticker");
    const hangs = { ...live, spec: { ...live.spec, env: { HANG_AT_LOAD: "1" } } };
    const options = { instance: readFileSync(join(stack.server.dataDir, "instance-id"), "utf8").trim(), log: pino({ level: "silent" }), network: await stack.server.networks.forProject(REPOSITORY) };
    const tickerContainers = async () => (await containersOf(good.id)).filter((c) => c.Labels["dev.eserveless.function"] === "Ticker");

    const started = performance.now();
    const timedOut = await checkCronFunction(docker, hangs, { ...options, signal: new AbortController().signal, timeoutMs: 1000 }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(timedOut).toBeInstanceOf(CronCheckError);
    expect((timedOut as CronCheckError).message).toBe("Ticker: its check did not end within 1 s: loading it must not block (the function itself is called only on schedule)");
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(await tickerContainers()).toEqual([]);

    const abort = new AbortController();
    const stopped = checkCronFunction(docker, hangs, { ...options, signal: abort.signal }).then(
      () => undefined,
      (error: unknown) => error,
    );
    setTimeout(() => abort.abort(new Error("superseded")), 500);
    expect(await stopped).toEqual(new Error("superseded"));
    expect(await tickerContainers()).toEqual([]);
  });

  it("deploys a good push after the failures, and its schedule replaces the previous one", async () => {
    const { deployment, log, final } = await deploy(project("v4", "(envs) => console.log(`tick ${envs.ESERVELESS_FUNCTION}`)"));
    expect(final.state, log.join("\n")).toBe("success");
    expect(await version()).toBe("v4");
    expect(scheduledDeployment()).toEqual([["Ticker", deployment.id]]);
  });
});
