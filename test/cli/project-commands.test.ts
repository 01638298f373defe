import Docker from "dockerode";
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chunkedPost } from "../support/chunked-post.js";
import { heldFunction, runWhileHeld } from "../support/run-while-held.js";
import { ADMIN_TOKEN, startEserveless, type TestEserveless } from "../support/start-eserveless.js";

// invoke, run, new, login and rm: the built CLI as a child process, against a
// whole eserveless on 127.0.0.1 with real Docker builds and containers.

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = join(ROOT, "dist/cli/main.js");

let server: TestEserveless;
let scratch: string;
/** An empty XDG_CONFIG_HOME and HOME for every run, so no config file of the machine's user is read. */
let home: string;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `eserveless ...args` with the server's URL and token in its environment (override with `env`), `input` on stdin. */
function cli(args: string[], options: { env?: Record<string, string | undefined>; input?: string; cwd?: string } = {}): Promise<Result> {
  const base: Record<string, string | undefined> = {
    ...process.env,
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    ESERVELESS_URL: server.url,
    ESERVELESS_ADMIN_TOKEN: ADMIN_TOKEN,
    ...options.env,
  };
  for (const [key, value] of Object.entries(base)) if (value === undefined) delete base[key];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd ?? ROOT, env: base as NodeJS.ProcessEnv, timeout: 120_000 });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}

function expectCode(result: Result, code: number): void {
  expect(result.code, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`).toBe(code);
}

/** A project folder in the scratch space: an http function that echoes the request, and cron functions that pass and fail. */
function toolsProject(name: string): string {
  const dir = join(scratch, name);
  mkdirSync(dir);
  writeFileSync(
    join(dir, ".eserveless.yaml"),
    [
      "runtime: node",
      "functions:",
      "  - name: Echo",
      "    type: http",
      "  - name: Report",
      "    type: cron",
      '    schedule: "0 7 * * *"',
      "  - name: Broken",
      "    type: cron",
      '    schedule: "0 7 * * *"',
      "",
    ].join("\n"),
  );
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name, version: "1.0.0", private: true }));
  writeFileSync(
    join(dir, "functions.js"),
    `
function Echo(req, res) {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const status = /^\\/status\\/(\\d{3})$/.exec(req.url);
    res.statusCode = status ? Number(status[1]) : 200;
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ method: req.method, url: req.url, type: req.headers["content-type"] ?? null, custom: req.headers["x-custom"] ?? null, auth: req.headers.authorization ?? null, body: Buffer.concat(chunks).toString() }));
  });
}
function Report() { console.log("report line 1"); console.log("report line 2"); }
function Broken() { console.log("about to fail"); process.exit(3); }
module.exports = { Echo, Report, Broken };
`,
  );
  return dir;
}

beforeAll(async () => {
  await promisify(execFile)("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: ROOT });
  server = await startEserveless();
  scratch = mkdtempSync(join(tmpdir(), "eserveless-cli-commands-"));
  home = join(scratch, "home");
  mkdirSync(home);
  const deployed = await cli(["deploy", toolsProject("tools")]);
  expectCode(deployed, 0);
});

afterAll(async () => {
  await server?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe("eserveless invoke", () => {
  it("GETs the function and prints its body on stdout, the status line on stderr", async () => {
    const result = await cli(["invoke", "local/tools/Echo/some/path?x=1"]);
    expectCode(result, 0);
    expect(JSON.parse(result.stdout)).toEqual({ method: "GET", url: "/some/path?x=1", type: null, custom: null, auth: null, body: "" });
    expect(result.stderr).toBe("HTTP 200 OK\n");
  });

  it("sends --data from a file or as text, with -X and -H", async () => {
    const file = join(scratch, "payload.json");
    writeFileSync(file, '{"from":"file"}');
    const fromFile = await cli(["invoke", "local/tools/Echo", "--data", `@${file}`, "-H", "Content-Type: application/json", "-H", "X-Custom: yes"]);
    expectCode(fromFile, 0);
    expect(JSON.parse(fromFile.stdout)).toMatchObject({ method: "POST", type: "application/json", custom: "yes", body: '{"from":"file"}' });

    const text = await cli(["invoke", "local/tools/Echo", "-X", "put", "-d", "plain words"]);
    expectCode(text, 0);
    expect(JSON.parse(text.stdout)).toMatchObject({ method: "PUT", type: "text/plain;charset=utf-8", body: "plain words" });
  });

  it("builds the URL from the server URL without a token, and never sends the token to the function", async () => {
    const withToken = await cli(["invoke", "local/tools/Echo"]);
    expect(JSON.parse(withToken.stdout)).toMatchObject({ auth: null });
    const withoutToken = await cli(["invoke", "local/tools/Echo/x"], { env: { ESERVELESS_ADMIN_TOKEN: undefined } });
    expectCode(withoutToken, 0);
    expect(JSON.parse(withoutToken.stdout)).toMatchObject({ url: "/x" });
  });

  it("exits 1 on a 5xx and on a 4xx, saying which, with the body still on stdout", async () => {
    const failed = await cli(["invoke", "local/tools/Echo/status/503"]);
    expectCode(failed, 1);
    expect(JSON.parse(failed.stdout)).toMatchObject({ url: "/status/503" });
    expect(failed.stderr).toMatch(/^HTTP 503 Service Unavailable\nerror: local\/tools\/Echo failed: HTTP 503 .*server error/);

    const refused = await cli(["invoke", "local/tools/Echo/status/404"]);
    expectCode(refused, 1);
    expect(refused.stderr).toMatch(/error: local\/tools\/Echo refused the request: HTTP 404 Not Found \(a client error/);
  });

  it("explains a cron function, an unknown function and bad arguments", async () => {
    const cron = await cli(["invoke", "local/tools/Report"]);
    expectCode(cron, 1);
    expect(cron.stderr).toContain('local/tools/Report is a cron function: it has no URL; run it now with "eserveless run local/tools/Report"');
    const unknown = await cli(["invoke", "local/tools/Ech"]);
    expectCode(unknown, 1);
    expect(unknown.stderr).toContain("local/tools has no function Ech; its functions: Broken, Echo, Report");
    const badHeader = await cli(["invoke", "local/tools/Echo", "-H", "no colon"]);
    expectCode(badHeader, 2);
    expect(badHeader.stderr).toContain(`-H needs 'NAME: VALUE'`);
    const missing = await cli(["invoke", "local/tools/Echo", "-d", "@/nonexistent/file"]);
    expectCode(missing, 2);
    expect(missing.stderr).toContain("cannot read /nonexistent/file: ENOENT");
  });
});

describe("eserveless run", () => {
  it("runs a cron function now, waits for its end and prints its output (exit 0)", async () => {
    const result = await cli(["run", "local/tools/Report"]);
    expectCode(result, 0);
    // The function's own lines, as printed (the runtime may add its own after them).
    expect(result.stdout).toMatch(/^report line 1\nreport line 2\n/);
    expect(result.stderr).toMatch(/^Started run ([0-9a-f]+) of local\/tools\/Report: http:\/\/127\.0\.0\.1:\d+\/functions\/local\/tools\/Report\/runs\nRun \1 of local\/tools\/Report succeeded \(exit 0, \d+ ms\)\n$/);
    // The server recorded that very run as manual and succeeded.
    const id = /Started run ([0-9a-f]+)/.exec(result.stderr)![1];
    const runs = (await (await fetch(`${server.url}/functions/local/tools/Report/runs`, { headers: { accept: "application/json", authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as {
      runs: Array<{ id: string; trigger: string; state: string }>;
    };
    expect(runs.runs.find((run) => run.id === id)).toMatchObject({ trigger: "manual", state: "succeeded" });
  });

  it("exits 1 when the run fails, with its output and exit code", async () => {
    const result = await cli(["run", "local/tools/Broken"]);
    expectCode(result, 1);
    expect(result.stdout).toBe("about to fail\n");
    expect(result.stderr).toMatch(/error: run [0-9a-f]+ of local\/tools\/Broken failed \(exit 3, \d+ ms\)/);

    const json = await cli(["run", "local/tools/Broken", "--json"]);
    expectCode(json, 1);
    expect(JSON.parse(json.stdout)).toMatchObject({ run: { state: "failed", exitCode: 3, output: "about to fail\n", trigger: "manual" } });
  });

  it("refuses an http function and an unknown one with the server's reason", async () => {
    const http = await cli(["run", "local/tools/Echo"]);
    expectCode(http, 1);
    expect(http.stderr).toContain('error: "Echo" of local/tools is an http function');
    const unknown = await cli(["run", "local/tools/Nothing"]);
    expectCode(unknown, 1);
    expect(unknown.stderr).toMatch(/^error: .*Nothing/m);
    const usage = await cli(["run", "local/tools"]);
    expectCode(usage, 2);
  });
});

describe("eserveless new", () => {
  it("writes a node starter that deploys through the CLI and answers", async () => {
    const created = await cli(["new", "starter-node", "--runtime", "node"], { cwd: scratch });
    expectCode(created, 0);
    expect(created.stdout).toContain("Created ./starter-node (node): .eserveless.yaml, package.json, functions.js");
    expect(created.stdout).toContain("  eserveless deploy ./starter-node\n");

    const deployed = await cli(["deploy", "./starter-node"], { cwd: scratch });
    expectCode(deployed, 0);
    const invoked = await cli(["invoke", "local/starter-node/API/hi"]);
    expectCode(invoked, 0);
    expect(JSON.parse(invoked.stdout)).toEqual({ message: "hello, world", method: "GET", path: "/hi" });
    const ran = await cli(["run", "local/starter-node/Report"]);
    expectCode(ran, 0);
    expect(ran.stdout).toMatch(/^report for world at \d{4}-/);
  });

  it("writes a golang starter that deploys and answers", async () => {
    const created = await cli(["new", join(scratch, "Starter Go"), "--runtime", "golang"]);
    expectCode(created, 0);
    const deployed = await cli(["deploy", join(scratch, "Starter Go")]);
    expectCode(deployed, 0);
    const invoked = await cli(["invoke", "local/starter-go/API/hi?x=1"]);
    expectCode(invoked, 0);
    expect(invoked.stdout).toBe("hello: you asked for /hi?x=1\n");
  });

  it("refuses a folder that is not empty, and an unknown runtime, writing nothing", async () => {
    const dir = join(scratch, "busy");
    mkdirSync(dir);
    writeFileSync(join(dir, "mine.txt"), "keep me");
    const busy = await cli(["new", dir]);
    expectCode(busy, 1);
    expect(busy.stderr).toContain("is not empty");
    expect(readdirSync(dir)).toEqual(["mine.txt"]);

    const python = await cli(["new", join(scratch, "py"), "--runtime", "python"]);
    expectCode(python, 2);
    expect(python.stderr).toContain('--runtime must be node or golang, got "python"');
    expect(existsSync(join(scratch, "py"))).toBe(false);
  });
});

describe("eserveless login", () => {
  it("reads the token from stdin, checks it, and stores both readable by the user only; later commands use them", async () => {
    const configHome = join(scratch, "xdg");
    const env = { XDG_CONFIG_HOME: configHome, ESERVELESS_URL: undefined, ESERVELESS_ADMIN_TOKEN: undefined };
    const refused = await cli(["login", server.url], { env, input: "wrong-token\n" });
    expectCode(refused, 1);
    expect(refused.stderr).toContain(`${server.url} refused that token; nothing was stored`);
    expect(existsSync(join(configHome, "eserveless"))).toBe(false);

    const login = await cli(["login", server.url], { env, input: `${ADMIN_TOKEN}\n` });
    expectCode(login, 0);
    const file = join(configHome, "eserveless", "config.json");
    expect(login.stdout).toContain(`Logged in to ${server.url}`);
    expect(login.stdout).toContain(file);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ url: server.url, token: ADMIN_TOKEN });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(configHome, "eserveless")).mode & 0o777).toBe(0o700);
    // The token is in the file, never in the output.
    expect(login.stdout + login.stderr).not.toContain(ADMIN_TOKEN);

    // Neither flag nor environment: the stored server and token.
    const ls = await cli(["ls"], { env });
    expectCode(ls, 0);
    expect(ls.stdout).toContain("local/tools");

    // The environment wins over the file: a server that is not there.
    const closed = "http://127.0.0.1:9";
    const fromEnv = await cli(["ls"], { env: { ...env, ESERVELESS_URL: closed, ESERVELESS_ADMIN_TOKEN: ADMIN_TOKEN } });
    expectCode(fromEnv, 1);
    expect(fromEnv.stderr).toContain(`cannot reach eserveless at ${closed}`);
    // A flag wins over the environment.
    const fromFlag = await cli(["ls", "--url", server.url], { env: { ...env, ESERVELESS_URL: closed } });
    expectCode(fromFlag, 0);
    // The stored token goes to no other server than the one it was stored for.
    const elsewhere = await cli(["ls", "--url", "http://127.0.0.1:9/"], { env });
    expectCode(elsewhere, 2);
    expect(elsewhere.stderr).toContain("no admin token");
    const tokenFromEnv = await cli(["ls"], { env: { ...env, ESERVELESS_ADMIN_TOKEN: "not-the-token" } });
    expectCode(tokenFromEnv, 1);
    expect(tokenFromEnv.stderr).toContain("the server refused the token");
  });

  it("stores under ~/.config without XDG_CONFIG_HOME, and explains a broken file", async () => {
    const ownHome = join(scratch, "other-home");
    mkdirSync(ownHome);
    const env = { HOME: ownHome, XDG_CONFIG_HOME: undefined, ESERVELESS_URL: undefined, ESERVELESS_ADMIN_TOKEN: undefined };
    const login = await cli(["login"], { env: { ...env, ESERVELESS_URL: server.url }, input: ADMIN_TOKEN });
    expectCode(login, 0);
    const file = join(ownHome, ".config", "eserveless", "config.json");
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ url: server.url, token: ADMIN_TOKEN });

    writeFileSync(file, "{not json");
    const broken = await cli(["status"], { env });
    expectCode(broken, 1);
    expect(broken.stderr).toContain(`${file} is not an eserveless config`);
  });
});

describe("eserveless rm", () => {
  it("removes a project's functions, containers, schedules, images and network; its URLs then 404", async () => {
    const deployed = await cli(["deploy", toolsProject("doomed")]);
    expectCode(deployed, 0);
    const url = `${server.url}/fn/local/doomed/Echo`;
    expect((await fetch(url)).status).toBe(200);
    const docker = new Docker();
    const labelled = { label: [`dev.eserveless.instance=${readFileSync(join(server.dataDir, "instance-id"), "utf8").trim()}`, "dev.eserveless.repository=local/doomed"] };
    expect((await docker.listContainers({ all: true, filters: labelled })).length).toBeGreaterThan(0);
    expect((await docker.listImages({ filters: labelled })).length).toBeGreaterThan(0);
    const networks = async () => (await docker.listNetworks({ filters: labelled })).map((network) => network.Name);
    expect(await networks()).toHaveLength(1);

    // Off a terminal, nothing is removed without --yes.
    const unconfirmed = await cli(["rm", "local/doomed"]);
    expectCode(unconfirmed, 2);
    expect(unconfirmed.stderr).toContain("elsewhere pass --yes: eserveless rm local/doomed --yes");
    expect((await fetch(url)).status).toBe(200);

    const removed = await cli(["rm", "local/doomed", "--yes", "--json"]);
    expectCode(removed, 0);
    const { removed: what } = JSON.parse(removed.stdout) as { removed: { functions: string[]; containers: number; schedules: number; images: string[]; network: boolean } };
    expect(what.functions).toEqual(["Broken", "Echo", "Report"]);
    expect(what.schedules).toBe(2);
    expect(what.containers).toBeGreaterThan(0);
    expect(what.images.length).toBeGreaterThan(0);
    expect(what.network).toBe(true);

    const gone = await fetch(url);
    expect(gone.status).toBe(404);
    expect(await docker.listContainers({ all: true, filters: labelled })).toEqual([]);
    expect(await docker.listImages({ filters: labelled })).toEqual([]);
    expect(await networks()).toEqual([]);
    const ls = await cli(["ls", "--json"]);
    expect((JSON.parse(ls.stdout) as { projects: Array<{ repository: string }> }).projects.map((p) => p.repository)).not.toContain("local/doomed");
    // Its schedules stopped: the server no longer runs it.
    const run = await cli(["run", "local/doomed/Report"]);
    expectCode(run, 1);
    // Another project is untouched.
    expect((await fetch(`${server.url}/fn/local/tools/Echo`)).status).toBe(200);

    const again = await cli(["rm", "local/doomed", "--yes"]);
    expectCode(again, 1);
    expect(again.stderr).toContain('No project local/doomed is live; "eserveless ls" lists those that are');
  });

  it("removes a project whose container is still starting: the container, its holder and its network go before rm answers", async () => {
    // Slow takes 3 s to load, and goes after one idle second: the request after that waits for a new container.
    const dir = join(scratch, "starting");
    mkdirSync(dir);
    writeFileSync(join(dir, ".eserveless.yaml"), ["runtime: node", "functions:", "  - name: Slow", "    type: http", "    idleTimeout: 1", ""].join("\n"));
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "starting", version: "1.0.0", private: true }));
    writeFileSync(join(dir, "functions.js"), `const until = Date.now() + 3000;\nwhile (Date.now() < until);\nmodule.exports = { Slow: (req, res) => res.end("ok") };\n`);
    expectCode(await cli(["deploy", dir]), 0);
    const docker = new Docker();
    const labelled = { label: [`dev.eserveless.instance=${readFileSync(join(server.dataDir, "instance-id"), "utf8").trim()}`, "dev.eserveless.repository=local/starting"] };
    const functionContainers = async () => (await docker.listContainers({ all: true, filters: labelled })).filter((c) => c.Labels["dev.eserveless.function"] === "Slow");
    const until = async (done: () => Promise<boolean>) => {
      for (const deadline = Date.now() + 10_000; !(await done()) && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 50));
    };
    await until(async () => {
      await server.pool.reap();
      return (await functionContainers()).length === 0;
    });
    expect(await functionContainers()).toEqual([]);

    const cold = fetch(`${server.url}/fn/local/starting/Slow`);
    await until(async () => (await functionContainers()).length > 0);
    expect(await functionContainers()).toHaveLength(1);

    const removed = await cli(["rm", "local/starting", "--yes", "--json"]);
    expectCode(removed, 0);
    expect((JSON.parse(removed.stdout) as { removed: { network: boolean } }).removed.network).toBe(true);
    expect(await docker.listContainers({ all: true, filters: labelled })).toEqual([]);
    expect(await docker.listNetworks({ filters: labelled })).toEqual([]);
    expect((await cold).status).toBe(404);
  });

  it("waits for a replaced deployment's requests in flight, then removes its container, holder and network too", async () => {
    // v1 answers once the request body ends, so the test decides when its request finishes.
    const dir = join(scratch, "replaced");
    mkdirSync(dir);
    writeFileSync(join(dir, ".eserveless.yaml"), ["runtime: node", "functions:", "  - name: Held", "    type: http", ""].join("\n"));
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "replaced", version: "1.0.0", private: true }));
    const version = (v: string) => writeFileSync(join(dir, "functions.js"), heldFunction(v));
    version("v1");
    expectCode(await cli(["deploy", dir]), 0);
    const held = chunkedPost(`${server.url}/fn/local/replaced/Held`, {});
    await held.write(Buffer.from("start"));
    version("v2");
    expectCode(await cli(["deploy", dir]), 0);
    expect(await (await fetch(`${server.url}/fn/local/replaced/Held`, { method: "POST", body: "x" })).text()).toBe("v2");

    // rm waits for v1's request: it has not answered when the body ends, and answers after v1 did.
    const { result: removed, finishedBeforeEnd, answer } = await runWhileHeld(held, () => cli(["rm", "local/replaced", "--yes", "--json"]));
    expect(finishedBeforeEnd).toBe(false);
    expect(answer).toMatchObject({ status: 200, body: "v1" });
    expectCode(removed, 0);
    expect((JSON.parse(removed.stdout) as { removed: { network: boolean } }).removed.network).toBe(true);
    const labelled = { label: [`dev.eserveless.instance=${readFileSync(join(server.dataDir, "instance-id"), "utf8").trim()}`, "dev.eserveless.repository=local/replaced"] };
    const docker = new Docker();
    expect(await docker.listContainers({ all: true, filters: labelled })).toEqual([]);
    expect(await docker.listNetworks({ filters: labelled })).toEqual([]);
  });

  it("needs the admin token", async () => {
    const response = await fetch(`${server.url}/api/projects/local/tools`, { method: "DELETE" });
    expect(response.status).toBe(401);
    const wrong = await fetch(`${server.url}/api/projects/local/tools`, { method: "DELETE", headers: { authorization: "Bearer nope" } });
    expect(wrong.status).toBe(401);
    expect((await fetch(`${server.url}/fn/local/tools/Echo`)).status).toBe(200);
  });
});
