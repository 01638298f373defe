import Docker from "dockerode";
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, sep } from "node:path";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { MAX_STATUS_DESCRIPTION } from "../../src/github/commit-status.js";
import { loadSecretKeys } from "../../src/store/secrets-key.js";
import { createStore } from "../../src/store/store.js";
import { nodeFileSystem } from "../../src/node-file-system.js";
import { deployFixture } from "../support/deploy-fixture.js";
import { eventually } from "../support/eventually.js";
import { readFixture } from "../support/fixtures.js";
import { runCli } from "../support/run-cli.js";
import { ADMIN_TOKEN } from "../support/start-eserveless.js";
import { useEserveless } from "../support/use-eserveless.js";
import { signIn } from "../support/sign-in.js";

// Secrets end to end: the CLI against a whole eserveless, the GitHub
// emulator, real builds and containers. The values must reach the function
// that declares them, and nothing else: no file, log, image or page.

const OWNER = "octo-org";
const REPO = "secrets";
const FIRST = `sk_live_${"first".repeat(4)}_7f3a9c2e41b8`;
const SECOND = `sk_live_${"second".repeat(4)}_0d5e6f7a8b9c`;
const THIRD = `sk_live_${"third".repeat(4)}_5b1c2d3e4f60`;
const UNDECLARED = "undeclared-password-3c1d0e9f";

// The server's whole log, at debug level, to search for the values.
let serverLog = "";
const logTo = new PassThrough();
logTo.on("data", (chunk: Buffer) => (serverLog += chunk.toString()));
const stack = useEserveless({ repositories: [{ owner: OWNER, name: REPO }], env: { LOG_LEVEL: "debug" }, logTo });
const docker = new Docker();
const scratch = mkdtempSync(join(tmpdir(), "eserveless-secrets-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const cli = (args: string[], input?: string) =>
  runCli(["secrets", ...args], { ESERVELESS_URL: stack.server.url, ESERVELESS_ADMIN_TOKEN: ADMIN_TOKEN, HOME: scratch, XDG_CONFIG_HOME: scratch }, process.cwd(), input);

async function callApi(path = "/") {
  const response = await fetch(`${stack.server.url}/fn/${OWNER}/${REPO}/API${path}`);
  return { status: response.status, body: (await response.json()) as { key: string | null; names: string[] } };
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((entry) => join(dir, entry))
    .filter((path) => statSync(path).isFile());
}

describe("secrets", () => {
  it("a declared secret that is not set fails the deployment before the build, naming it and the command that sets it", async () => {
    const sha = stack.emulator.commit(OWNER, REPO, { files: readFixture("node-secrets") });
    expect((await stack.server.deliver("push", stack.emulator.pushPayload(OWNER, REPO, { after: sha }))).status).toBe(202);
    const { final } = await stack.settled(OWNER, REPO, sha);
    expect(final.state).toBe("failure");
    expect(final.description).toBe(`Secret STRIPE_KEY is not set; set it with: eserveless secrets set ${OWNER}/${REPO} STRIPE_KEY`);
    expect(final.description?.length ?? 0).toBeLessThanOrEqual(MAX_STATUS_DESCRIPTION);
    const [deployment] = stack.server.store.listDeployments(`${OWNER}/${REPO}`, 1);
    // Nothing was built: no image.
    expect(deployment!.image).toBeNull();
    expect(stack.server.store.deploymentLog(deployment!.id).some((l) => /Building/.test(l.line))).toBe(false);
  });

  it("after secrets set and a redeploy, the function sees the value, and only the secrets it declares", async () => {
    const set = await cli(["set", `${OWNER}/${REPO}`, "STRIPE_KEY"], FIRST);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toMatch(/Set STRIPE_KEY of octo-org\/secrets \(production\)/);
    expect(set.stdout).toMatch(/No live function declares it yet/);
    // Set too, but declared by no function: it must not reach the container.
    expect((await cli(["set", `${OWNER}/${REPO}`, "DB_PASSWORD"], `${UNDECLARED}\n`)).code).toBe(0);

    await deployFixture({ server: stack.server, emulator: stack.emulator, owner: OWNER, repo: REPO, fixture: "node-secrets" });
    const answer = await callApi();
    expect(answer.status).toBe(200);
    expect(answer.body.key).toBe(FIRST);
    expect(answer.body.names).toContain("STRIPE_KEY");
    expect(answer.body.names).toContain("MODE");
    expect(answer.body.names).not.toContain("DB_PASSWORD");

    const ls = await cli(["ls", `${OWNER}/${REPO}`, "--json"]);
    expect(ls.code, ls.stderr).toBe(0);
    const listed = JSON.parse(ls.stdout) as { secrets: Array<{ name: string; functions: string[] }> };
    expect(listed.secrets.map((s) => [s.name, s.functions])).toEqual([["DB_PASSWORD", []], ["STRIPE_KEY", ["API"]]]);
    expect(ls.stdout).not.toContain(FIRST);
  });

  it("a function that prints its secret has it masked in its stored output", async () => {
    expect((await callApi("/print")).status).toBe(200);
    const output = await eventually("the printed line in the stored output", async () => {
      const lines = stack.server.store.functionOutput(`${OWNER}/${REPO}`, "API").filter((l) => l.line.startsWith("connecting with"));
      return lines.length === 0 ? undefined : lines;
    });
    expect(output.map((l) => l.line)).toEqual(["connecting with ***"]);
  });

  it("secrets set with a new value reaches the live function without a push, with no failed request during the roll", async () => {
    const deployments = stack.server.store.listDeployments(`${OWNER}/${REPO}`, 50).length;
    const statuses: number[] = [];
    let running = true;
    // Four callers without pause while the containers roll.
    const load = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (running) {
          const response = await fetch(`${stack.server.url}/fn/${OWNER}/${REPO}/API`);
          await response.arrayBuffer();
          statuses.push(response.status);
        }
      }),
    );
    const set = await cli(["set", `${OWNER}/${REPO}`, "STRIPE_KEY"], SECOND);
    // Once set returns, the new value answers at once.
    const after = await callApi();
    running = false;
    await load;
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toMatch(/Live: API now run with the new value/);
    expect(after.body.key).toBe(SECOND);
    expect(statuses.length).toBeGreaterThan(10);
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    // No push, no rebuild: no deployment was made.
    expect(stack.server.store.listDeployments(`${OWNER}/${REPO}`, 50).length).toBe(deployments);
  });

  it("refuses bad names and values and rm of a secret in use, saying why", async () => {
    const reserved = await cli(["set", `${OWNER}/${REPO}`, "PORT"], "x1234");
    expect(reserved.code).toBe(2);
    expect(reserved.stderr).toMatch(/PORT" is reserved/);
    const nul = await cli(["set", `${OWNER}/${REPO}`, "OTHER"], "a\0b");
    expect(nul.code).toBe(1);
    expect(nul.stderr).toMatch(/NUL/);
    const inUse = await cli(["rm", `${OWNER}/${REPO}`, "STRIPE_KEY"]);
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toMatch(/declared by live function API.*--force/);
    const rm = await cli(["rm", `${OWNER}/${REPO}`, "DB_PASSWORD"]);
    expect(rm.code, rm.stderr).toBe(0);
  });

  it("the dashboard's Secrets section lists names, sets and deletes behind the sign-in and the same-origin check", async () => {
    const form = (path: string, fields: Record<string, string>, headers: Record<string, string>) =>
      fetch(`${stack.server.url}${path}`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", ...headers }, body: new URLSearchParams(fields), redirect: "manual" });
    const { cookie } = await signIn(stack.server);
    const projectPage = `/dashboard/projects/${OWNER}/${REPO}`;
    const page = await (await fetch(`${stack.server.url}${projectPage}`, { headers: { cookie } })).text();
    expect(page).toContain('id="secrets-heading"');
    expect(page).toContain("STRIPE_KEY");
    expect(page).not.toContain(SECOND);

    const fields = { name: "WEBHOOK_TOKEN", value: "whsec-from-the-dashboard-9a8b", environment: "production" };
    // Another site's form is refused, and sets nothing.
    expect((await form(`${projectPage}/secrets`, fields, { cookie, origin: "https://evil.example" })).status).toBe(403);
    // No session: to the sign-in.
    expect((await form(`${projectPage}/secrets`, fields, { origin: stack.server.url })).status).toBe(303);
    expect(stack.server.store.listSecrets(`${OWNER}/${REPO}`).map((s) => s.name)).toEqual(["STRIPE_KEY"]);
    const set = await form(`${projectPage}/secrets`, fields, { cookie, origin: stack.server.url });
    expect(set.status).toBe(303);
    expect(stack.server.store.secretValues(`${OWNER}/${REPO}`, "production", ["WEBHOOK_TOKEN"])).toEqual({ WEBHOOK_TOKEN: fields.value });
    expect(await (await fetch(`${stack.server.url}${projectPage}`, { headers: { cookie } })).text()).not.toContain(fields.value);
    const deleted = await form(`${projectPage}/secrets/WEBHOOK_TOKEN/delete`, { environment: "production" }, { cookie, origin: stack.server.url });
    expect(deleted.status).toBe(303);
    expect(stack.server.store.listSecrets(`${OWNER}/${REPO}`).map((s) => s.name)).toEqual(["STRIPE_KEY"]);
  });

  it("no value is in any file under DATA_DIR, the server's log, any image of the project or a public page", async () => {
    const values = [FIRST, SECOND, UNDECLARED];
    const found = (where: string, text: string | Buffer) => values.filter((value) => text.includes(value)).map((value) => `${value.slice(0, 12)}… in ${where}`);
    const leaks: string[] = [];
    // The store stays open: SQLite's files (the database, its -wal) are read as they are on disk.
    for (const file of filesUnder(stack.server.dataDir)) leaks.push(...found(file, readFileSync(file)));
    leaks.push(...found("the server log", serverLog));
    const instance = readFileSync(join(stack.server.dataDir, "instance-id"), "utf8").trim();
    const images = await docker.listImages({ filters: { label: [`dev.eserveless.instance=${instance}`] } });
    expect(images.length).toBeGreaterThan(0);
    for (const info of images) {
      const image = docker.getImage(info.Id);
      leaks.push(...found(`docker image inspect ${info.Id}`, JSON.stringify(await image.inspect())));
      leaks.push(...found(`docker history ${info.Id}`, JSON.stringify(await image.history())));
    }
    const pages = ["/metrics", "/healthz", `/api/projects/${OWNER}/${REPO}/secrets`, "/api/projects", "/api/deployments"];
    for (const deployment of stack.server.store.listDeployments(`${OWNER}/${REPO}`, 50)) pages.push(`/deployments/${deployment.id}`);
    for (const page of pages) {
      const response = await fetch(`${stack.server.url}${page}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      leaks.push(...found(page, await response.text()));
    }
    expect(leaks).toEqual([]);
    // The scan looked where the values would be: the server did log its work.
    expect(serverLog).toMatch(/secret set/);
  });

  it("a wrong key fails start-up with a clear message and loses nothing", async () => {
    const copy = mkdtempSync(join(tmpdir(), "eserveless-wrong-key-"));
    try {
      // Not the functions' socket folders: a socket cannot be copied, and the copy serves no function.
      cpSync(stack.server.dataDir, copy, { recursive: true, filter: (source) => relative(stack.server.dataDir, source).split(sep)[0] !== "sockets" });
      const main = fileURLToPath(new URL("../../src/main.ts", import.meta.url));
      const child = spawn(process.execPath, ["--import", "tsx", main], {
        env: { PATH: process.env.PATH, DATA_DIR: copy, PORT: "0", ESERVELESS_SECRETS_KEY: Buffer.alloc(32, 1).toString("base64") },
      });
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
      expect(code).toBe(78);
      expect(stderr).toMatch(/The secrets key does not open 1 of the 1 secrets in the database.*Nothing was changed/);
      // The key file of that copy still opens every value.
      const { keys } = loadSecretKeys({ key: undefined, previous: undefined, dataDir: copy, fs: nodeFileSystem });
      const store = createStore(join(copy, "eserveless.db"), { secrets: keys });
      expect(store.secretValues(`${OWNER}/${REPO}`, "production", ["STRIPE_KEY"])).toEqual({ STRIPE_KEY: SECOND });
      store.close();
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it("a rollback to a release whose secret was deleted since fails naming it, before a container starts, and what is live stays", async () => {
    const withSecret = stack.server.store.liveFunction(`${OWNER}/${REPO}`, "API")!.deploymentId;
    // A release that declares no secret goes live; then the secret is deleted, which nothing live declares now.
    await deployFixture({ server: stack.server, emulator: stack.emulator, owner: OWNER, repo: REPO, fixture: "node-hello" });
    const live = stack.server.store.liveFunction(`${OWNER}/${REPO}`, "API")!.deploymentId;
    expect((await cli(["rm", `${OWNER}/${REPO}`, "STRIPE_KEY"])).code).toBe(0);

    const response = await fetch(`${stack.server.url}/api/projects/${OWNER}/${REPO}/rollback`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ to: withSecret }),
    });
    expect(response.status).toBe(202);
    const { deployment } = (await response.json()) as { deployment: { id: string } };
    await stack.server.deployer.idle();
    expect(stack.server.store.getDeployment(deployment.id)).toMatchObject({
      trigger: "rollback",
      state: "failure",
      description: `Secret STRIPE_KEY is not set; set it with: eserveless secrets set ${OWNER}/${REPO} STRIPE_KEY`,
    });
    expect(stack.server.store.deploymentLog(deployment.id).some((line) => /answered HTTP/.test(line.line))).toBe(false);
    expect(stack.server.store.liveFunction(`${OWNER}/${REPO}`, "API")!.deploymentId).toBe(live);
    expect((await fetch(`${stack.server.url}/fn/${OWNER}/${REPO}/API`)).status).toBe(200);
  });

  it("a value changed while a deployment starts its containers is what the function has once that deployment is live", async () => {
    expect((await cli(["set", `${OWNER}/${REPO}`, "STRIPE_KEY"], FIRST)).code).toBe(0);
    // node-secrets, slow to load: its container reads the value at creation, then takes seconds to answer.
    const files = readFixture("node-secrets");
    const code = files["functions.js"]!;
    files["functions.js"] = { ...code, content: Buffer.from(`Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2500);\n${code.content.toString()}`) };
    const sha = stack.emulator.commit(OWNER, REPO, { files });
    expect((await stack.server.deliver("push", stack.emulator.pushPayload(OWNER, REPO, { after: sha }))).status).toBe(202);
    const [deployment] = stack.server.store.listDeployments(`${OWNER}/${REPO}`, 1);
    await eventually("its container starting", async () => (stack.server.store.deploymentLog(deployment!.id).some((l) => l.line === "Starting API…") ? true : undefined));
    // Nothing live declares it yet, so this rolls nothing: the deployment going live must notice.
    const set = await cli(["set", `${OWNER}/${REPO}`, "STRIPE_KEY"], THIRD);
    expect(set.code, set.stderr).toBe(0);
    expect(stack.server.store.getDeployment(deployment!.id)?.state).toBe("starting");
    expect((await stack.settled(OWNER, REPO, sha)).final.state).toBe("success");
    expect(await eventually("the new value live", async () => ((await callApi()).body.key === THIRD ? true : undefined), { timeoutMs: 30_000 })).toBe(true);
  });
});
