import { execFile, spawn } from "node:child_process";
import Docker from "dockerode";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packFolder } from "../../src/cli/pack-folder.js";
import type { Deployment } from "../../src/store/deployment-store.js";
import { readFixture } from "../support/fixtures.js";
import { startGitHubEmulator, type GitHubEmulator } from "../support/github-emulator.js";
import { ADMIN_TOKEN, startEserveless, type TestEserveless } from "../support/start-eserveless.js";

// The built CLI (dist/cli/main.js, what `npm i -g` users run), as a child
// process, against a whole eserveless on 127.0.0.1 with real Docker builds.
// A GitHub emulator stands in for GitHub for `deploy owner/repo`.

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = join(ROOT, "dist/cli/main.js");
const OWNER = "octo-org";

let server: TestEserveless;
let emulator: GitHubEmulator;
let scratch: string;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `eserveless ...args` with the server's URL and token in its environment (override with `env`). */
function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<Result> {
  const base: Record<string, string | undefined> = { ...process.env, ESERVELESS_URL: server.url, ESERVELESS_ADMIN_TOKEN: ADMIN_TOKEN, ...env };
  for (const [key, value] of Object.entries(base)) if (value === undefined) delete base[key];
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, env: base, timeout: 120_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The result, with its output shown when the exit code is not the expected one. */
function expectCode(result: Result, code: number): void {
  expect(result.code, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`).toBe(code);
}

async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(`${server.url}${path}`, { headers: { accept: "application/json", authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

/** A port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** A project whose http function takes `ms` to load, so its deployment is still starting for a while. */
function slowProject(name: string, ms: number): string {
  const dir = join(scratch, name);
  mkdirSync(dir);
  writeFileSync(join(dir, ".eserveless.yaml"), "runtime: node\nfunctions:\n  - name: Slow\n    type: http\n");
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name, version: "1.0.0", private: true }));
  writeFileSync(
    join(dir, "functions.js"),
    `Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${ms});\nmodule.exports = { Slow: (req, res) => res.end("slow") };\n`,
  );
  return dir;
}

beforeAll(async () => {
  await promisify(execFile)("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: ROOT });
  emulator = await startGitHubEmulator();
  server = await startEserveless({ emulator });
  scratch = mkdtempSync(join(tmpdir(), "eserveless-cli-"));
});

afterAll(async () => {
  await server?.stop();
  await emulator?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe("eserveless deploy DIR", () => {
  it("packs, uploads and follows a local folder, then prints its function URLs", async () => {
    const result = await cli(["deploy", "test/fixtures/node-hello", "--name", "hello"]);
    expectCode(result, 0);
    const url = `${server.url}/fn/local/hello/API`;
    expect(result.stdout).toContain(`local/hello is live`);
    expect(result.stdout).toMatch(new RegExp(`API\\s+http\\s+${url.replace(/[.]/g, "\\.")}\\n`));
    expect(result.stdout).toMatch(/Ticker\s+cron\s+\*\/5 \* \* \* \*/);
    // Progress (the deployment's own log) goes to stderr, as plain lines off a terminal.
    expect(result.stderr).toContain("Packed 3 files of test/fixtures/node-hello");
    expect(result.stderr).toContain("Manifest: runtime node, 2 functions (API: http, Ticker: cron)");
    expect(result.stderr).toMatch(/Building image eserveless\/local\/hello:/);
    expect(result.stderr).not.toContain("\x1b");
    expect(result.stderr).not.toContain("\r");

    const answer = await fetch(`${url}/ping?x=1`);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ greeting: "hello", path: "/ping?x=1", method: "GET" });
  });

  it("uploads neither ignored files nor .git nor node_modules, and keeps modes (--json)", async () => {
    const dir = join(scratch, "Listing Project");
    cpSync(join(ROOT, "test/fixtures/node-listing"), dir, { recursive: true });
    const write = (path: string, content: string, mode = 0o644) => {
      mkdirSync(join(dir, path, ".."), { recursive: true });
      writeFileSync(join(dir, path), content);
      chmodSync(join(dir, path), mode);
    };
    write(".gitignore", "secret.txt\nlogs/\n");
    write("secret.txt", "do not upload");
    write("logs/today.log", "noise");
    write(".dockerignore", "*.md\n");
    write("notes.md", "root markdown: docker-ignored");
    write("docs/guide.md", "nested markdown: kept, .dockerignore patterns are anchored");
    write(".git/HEAD", "ref: refs/heads/main\n");
    write("node_modules/left-pad/index.js", "module.exports = 1;");
    write("bin/run.sh", "#!/bin/sh\n", 0o755);

    const result = await cli(["deploy", dir, "--json"]);
    expectCode(result, 0);
    // stdout is the JSON alone; the folder name became the project name.
    const { deployment } = JSON.parse(result.stdout) as { deployment: Deployment };
    expect(deployment).toMatchObject({ repository: "local/listing-project", state: "success", trigger: "local" });
    expect(deployment.functions).toEqual([{ name: "Files", type: "http", url: `${server.url}/fn/local/listing-project/Files` }]);

    const files = (await (await fetch(deployment.functions[0]!.url!)).json()) as Record<string, { mode: string }>;
    expect(Object.keys(files)).toEqual(expect.arrayContaining([".eserveless.yaml", ".gitignore", ".dockerignore", "functions.js", "package.json", "docs/guide.md", "bin/run.sh"]));
    for (const gone of ["secret.txt", "logs/today.log", "notes.md", ".git/HEAD", "node_modules/left-pad/index.js"]) expect(files).not.toHaveProperty([gone]);
    expect(files["bin/run.sh"]?.mode).toBe("755");
    expect(files["functions.js"]?.mode).toBe("644");
  });

  it("deploys the example project, whose cron function's runs `logs` shows", async () => {
    const deployed = await cli(["deploy", "./examples/hello-node"]);
    expectCode(deployed, 0);
    expect(deployed.stdout).toContain(`${server.url}/fn/local/hello-node/API`);
    expect(deployed.stdout).toMatch(/ {2}Report\s+cron\s+0 7 \* \* \* \(Europe\/Paris\)\n/);
    const api = await fetch(`${server.url}/fn/local/hello-node/API/hi`);
    expect(await api.json()).toEqual({ message: "hello, world", method: "GET", path: "/hi" });

    const started = await fetch(`${server.url}/functions/local/hello-node/Report/runs`, { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(started.status).toBe(202);
    const deadline = Date.now() + 30_000;
    while ((await getJson<{ runs: Array<{ state: string }> }>("/functions/local/hello-node/Report/runs")).runs[0]?.state === "running") {
      if (Date.now() > deadline) throw new Error("the cron run did not end");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    const logs = await cli(["logs", "local/hello-node/Report"]);
    expectCode(logs, 0);
    expect(logs.stdout).toContain('local/hello-node/Report: cron on "0 7 * * *"');
    expect(logs.stdout).toContain("Manifest: runtime node, 2 functions (API: http, Report: cron)");
    expect(logs.stdout).toMatch(/Schedule "0 7 \* \* \*" \(Europe\/Paris\), timeout 60 s; next run \d{4}-\d\d-\d\d 07:00:00 Europe\/Paris\n/);
    expect(logs.stdout).toMatch(/run [0-9a-f]{12} {2}manual, succeeded, exit 0, \d+ ms\n/);
    expect(logs.stdout).toMatch(/ {2}\| report for world at \d{4}-/);

    const json = await cli(["logs", "local/hello-node/Report", "--json"]);
    expectCode(json, 0);
    const parsed = JSON.parse(json.stdout) as { runs: Array<{ output: string }>; function: { name: string }; log: unknown[] };
    expect(parsed.function.name).toBe("Report");
    expect(parsed.runs[0]!.output).toContain("report for world");
    expect(parsed.log.length).toBeGreaterThan(3);
  });

  it("deploys the Go example in the original shape, without a runtime key", async () => {
    const deployed = await cli(["deploy", "./examples/hello-go"]);
    expectCode(deployed, 0);
    expect(deployed.stdout).toContain(`${server.url}/fn/local/hello-go/API`);
    const api = await fetch(`${server.url}/fn/local/hello-go/API/hi?x=1`);
    expect(await api.text()).toBe("hello from go: you asked for /hi?x=1\n");
    const logs = await cli(["logs", "local/hello-go/API"]);
    expect(logs.stdout).toContain("inferred golang from go.mod");
    // The function's latest invocations, including the call above.
    // The log keeps the path, not the query string (it may carry tokens).
    expect(logs.stdout).toMatch(/Latest (\d+ )?invocations?, newest first:\n.* {2}200 {2}GET \/hi {2}/);
    expect(logs.stdout).not.toContain("x=1");
  });

  it("exits 1 with the reason when the deployment fails", async () => {
    const result = await cli(["deploy", "test/fixtures/node-bad-manifest"]);
    expectCode(result, 1);
    expect(result.stderr).toMatch(
      /error: deployment [0-9a-f]{12} of local\/node-bad-manifest failed: \.eserveless\.yaml line 4: functions\[0\]\.type must be "http" or "cron", got "htp"\n/,
    );
    expect(result.stderr).toMatch(new RegExp(`its log: ${server.url.replace(/[.]/g, "\\.")}/deployments/[0-9a-f]{12}`));
    expect(result.stdout).toBe("");
  });

  it("refuses a folder that is no eserveless project before uploading anything", async () => {
    const before = (await getJson<{ deployments: unknown[] }>("/api/deployments")).deployments.length;
    const result = await cli(["deploy", "test/fixtures"]);
    expectCode(result, 1);
    expect(result.stderr).toBe("error: test/fixtures has no .eserveless.yaml, so it is not an eserveless project; add one (see examples/hello-node)\n");
    expect((await getJson<{ deployments: unknown[] }>("/api/deployments")).deployments.length).toBe(before);
  });
});

describe("eserveless deploy OWNER/REPO", () => {
  it("asks the server to deploy a GitHub repository, at a ref, and follows it", async () => {
    emulator.addRepository({ owner: OWNER, name: "hello-gh" });
    emulator.commit(OWNER, "hello-gh", { files: readFixture("node-hello"), tag: "v1" });
    const result = await cli(["deploy", `${OWNER}/hello-gh`, "--ref", "v1"]);
    expectCode(result, 0);
    expect(result.stdout).toContain(`${server.url}/fn/${OWNER}/hello-gh/API`);
    expect(result.stderr).toContain(`Downloading ${OWNER}/hello-gh@`);
    expect((await fetch(`${server.url}/fn/${OWNER}/hello-gh/API`)).status).toBe(200);
  });

  it("passes on the server's refusal of a repository it cannot see", async () => {
    const result = await cli(["deploy", `${OWNER}/no-such-repo`]);
    expectCode(result, 1);
    expect(result.stderr).toContain(`error: The eserveless GitHub App is not installed on ${OWNER}/no-such-repo, or the repository does not exist.`);
    expect(result.stderr).toMatch(/\nhint: no folder octo-org\/no-such-repo exists here; to deploy a folder, write its path, such as \.\/octo-org\/no-such-repo\n$/);
  });
});

describe("eserveless ls, logs and status", () => {
  it("ls lists projects, functions, URLs and live commits; --json prints the API's answer", async () => {
    const table = await cli(["ls"]);
    expectCode(table, 0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^PROJECT\s+FUNCTION\s+TYPE\s+COMMIT\s+URL \/ SCHEDULE$/);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^local/hello\\s+API\\s+http\\s+[0-9a-f]{7}\\s+${server.url.replace(/[.]/g, "\\.")}/fn/local/hello/API$`)));
    expect(lines).toContainEqual(expect.stringMatching(/^local\/hello\s+Ticker\s+cron\s+[0-9a-f]{7}\s+\*\/5 \* \* \* \* \(UTC\), next \d{4}-\d\d-\d\d \d\d:\d[05]:00 UTC$/));
    expect(lines.some((line) => line.startsWith("local/node-bad-manifest"))).toBe(false);

    const json = await cli(["ls", "--json"]);
    expectCode(json, 0);
    expect(JSON.parse(json.stdout)).toEqual(await getJson("/api/projects"));

    const one = await cli(["ls", "LOCAL/hello", "--json"]);
    expect((JSON.parse(one.stdout) as { projects: Array<{ repository: string }> }).projects.map((p) => p.repository)).toEqual(["local/hello"]);
    const unknown = await cli(["ls", "local/nope"]);
    expectCode(unknown, 1);
    expect(unknown.stderr).toMatch(/^error: no live project local\/nope on http:\/\/127\.0\.0\.1:\d+; live projects: .*local\/hello/);
  });

  it("logs DEPLOYMENT-ID prints a deployment's log; --json the API's answer", async () => {
    const live = (await getJson<{ projects: Array<{ repository: string; deployment: string }> }>("/api/projects")).projects.find((p) => p.repository === "local/hello")!;
    const result = await cli(["logs", live.deployment]);
    expectCode(result, 0);
    expect(result.stdout).toMatch(new RegExp(`^Deployment ${live.deployment} of local/hello @ [0-9a-f]{7} \\(local, [-\\d: ]+\\): success: Deployed 2 functions`));
    expect(result.stdout).toMatch(/\n\d\d:\d\d:\d\d {2}Manifest: runtime node, 2 functions/);
    expect(result.stdout).toMatch(/\n\d\d:\d\d:\d\d {2}API answered HTTP after \d+ ms\n/);

    const json = await cli(["logs", live.deployment, "--json"]);
    const parsed = JSON.parse(json.stdout) as { deployment: Deployment; log: Array<{ seq: number; line: string }> };
    expect(parsed.deployment).toMatchObject({ id: live.deployment, state: "success" });
    expect(parsed.log.map((l) => l.seq)).toEqual(parsed.log.map((_, i) => i + 1));

    const missing = await cli(["logs", "0123456789ab"]);
    expectCode(missing, 1);
    expect(missing.stderr).toContain('error: no deployment "0123456789ab" on');
  });

  it("logs OWNER/REPO/FUNCTION of an http function prints its live deployment's log", async () => {
    const result = await cli(["logs", "local/hello/api"]);
    expectCode(result, 0);
    expect(result.stdout).toContain(`local/hello/API: http at ${server.url}/fn/local/hello/API`);
    expect(result.stdout).toContain("Deployed 2 functions");
    expect(result.stdout).not.toContain("Latest run");
    expect(result.stdout).not.toContain("Schedule");
    const missing = await cli(["logs", "local/hello/Nope"]);
    expectCode(missing, 1);
    expect(missing.stderr).toBe("error: local/hello has no function Nope; its functions: API, Ticker\n");
  });

  it("status shows the server, GitHub, Docker, containers and projects", async () => {
    const result = await cli(["status"]);
    expectCode(result, 0);
    expect(result.stdout).toMatch(new RegExp(`^Server +${server.url.replace(/[.]/g, "\\.")}\\n`));
    expect(result.stdout).toMatch(/\nGitHub +configured\n/);
    expect(result.stdout).toMatch(/\nDocker +ok\n/);
    expect(result.stdout).toMatch(/\nContainers +[1-9]\d* ready, \d+ paused, \d+ starting, \d+ draining; \d+ requests waiting\n/);
    const { projects } = await getJson<{ projects: unknown[] }>("/api/projects");
    expect(result.stdout).toMatch(new RegExp(`\\nProjects +${projects.length}\\n$`));

    const json = JSON.parse((await cli(["status", "--json"])).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ publicUrl: server.url, github: "configured", docker: "ok", projects: projects.length });
    expect(json.containers).toMatchObject({ ready: expect.any(Number), queued: 0 });
  });
});

describe("following a deployment", () => {
  it("logs DEPLOYMENT-ID --follow prints a running deployment's log until it ends", async () => {
    const packed = await packFolder(slowProject("slow-follow", 3000), { topFolder: "slow-follow" });
    const response = await fetch(`${server.url}/api/deployments?project=slow-follow`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      body: packed.tarball,
    });
    expect(response.status).toBe(202);
    const { deployment } = (await response.json()) as { deployment: { id: string } };
    const result = await cli(["logs", deployment.id, "--follow"]);
    expectCode(result, 0);
    expect(result.stdout).toMatch(new RegExp(`^Deployment ${deployment.id} of local/slow-follow @ [0-9a-f]{7} \\(local, [-\\d: ]+\\): (queued|building|starting)\n`));
    expect(result.stdout).toMatch(/\n\d\d:\d\d:\d\d {2}Slow answered HTTP after \d+ ms\n/);
    expect(result.stdout).toMatch(/\nEnded: success: Deployed 1 function in [\d.]+ s, cold start \d+ ms\n$/);
    // Every line once, in order.
    const lines = result.stdout.split("\n").filter((line) => /^\d\d:\d\d:\d\d {2}/.test(line));
    const log = (await getJson<{ log: Array<{ line: string }> }>(`/deployments/${deployment.id}`)).log;
    expect(lines.map((line) => line.slice(10))).toEqual(log.map((l) => l.line));
  });

  it("Ctrl-C stops following (exit 130) and the deployment goes on", async () => {
    const dir = slowProject("slow-interrupt", 3000);
    const child = spawn(process.execPath, [CLI, "deploy", dir], {
      cwd: ROOT,
      env: { ...process.env, ESERVELESS_URL: server.url, ESERVELESS_ADMIN_TOKEN: ADMIN_TOKEN },
    });
    let stderr = "";
    let interrupted = false;
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      // Once: a second Ctrl-C kills at once, by design.
      if (!interrupted && stderr.includes("Deploying local/slow-interrupt")) interrupted = child.kill("SIGINT");
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code, stderr).toBe(130);
    const id = /deployment ([0-9a-f]{12}) goes on on the server: http:\/\/127\.0\.0\.1:\d+\/deployments\/\1\n$/.exec(stderr)?.[1];
    expect(id, stderr).toBeDefined();
    expect(stderr).toContain("error: stopped following;");

    const deadline = Date.now() + 60_000;
    let state = "";
    while (!["success", "failure", "error"].includes(state)) {
      if (Date.now() > deadline) throw new Error(`deployment ${id} did not end`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      state = (await getJson<{ deployment: Deployment }>(`/deployments/${id}`)).deployment.state;
    }
    expect(state).toBe("success");
  });
});

describe("a function's own output", () => {
  /** A project whose http function prints a line on each request and is reaped after a second idle. */
  function chattyProject(name: string): string {
    const dir = join(scratch, name);
    mkdirSync(dir);
    writeFileSync(join(dir, ".eserveless.yaml"), "runtime: node\nfunctions:\n  - name: API\n    type: http\n    idleTimeout: 1\n");
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name, version: "1.0.0", private: true }));
    writeFileSync(join(dir, "functions.js"), 'module.exports = { API: (req, res) => { console.log("hit " + req.url); res.end("ok"); } };\n');
    return dir;
  }

  /** `logs` of the function, again until `done` holds (output is stored in batches), or the last try. */
  async function logsUntil(args: string[], done: (stdout: string) => boolean): Promise<Result> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const result = await cli(args);
      if (done(result.stdout) || Date.now() > deadline) return result;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const stamped = (replica: string, line: string) => new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3}  ${escape(replica)}  ${escape(line)}$`, "m");

  it("logs shows what each request printed, with time and replica; --follow streams it; it stays after the replica is reaped", async () => {
    expectCode(await cli(["deploy", chattyProject("chatty"), "--name", "chatty"]), 0);
    const url = `${server.url}/fn/local/chatty/API`;
    expect(await (await fetch(`${url}/one`)).text()).toBe("ok");
    expect(await (await fetch(`${url}/two`)).text()).toBe("ok");
    // The replica that answered, by the request list's own account.
    const { invocations } = await getJson<{ invocations: Array<{ container: string | null }> }>("/api/functions/local/chatty/API/invocations");
    const replica = invocations[0]!.container!;
    expect(replica).toMatch(/^es-/);

    const shown = await logsUntil(["logs", "local/chatty/API"], (out) => out.includes("hit /two"));
    expectCode(shown, 0);
    expect(shown.stdout).toMatch(stamped(replica, "hit /one"));
    expect(shown.stdout).toMatch(stamped(replica, "hit /two"));
    expect(shown.stdout.indexOf("hit /one")).toBeLessThan(shown.stdout.indexOf("hit /two"));
    // The other sections stay, and each flag narrows to its own.
    expect(shown.stdout).toContain("Deployed 1 function");
    expect(shown.stdout).toMatch(/Latest 2 invocations, newest first:/);
    const build = await cli(["logs", "local/chatty/API", "--build"]);
    expect(build.stdout).toContain("Deployed 1 function");
    expect(build.stdout).not.toContain("hit /one");
    expect(build.stdout).not.toContain("invocations");
    const requests = await cli(["logs", "local/chatty/API", "--requests"]);
    expect(requests.stdout).toMatch(/ {2}200 {2}GET \/two {2}/);
    expect(requests.stdout).not.toContain("hit /one");
    expect(requests.stdout).not.toContain("Deployed 1 function");

    // --follow: the kept lines, then a new one within a couple of seconds of its request.
    const child = spawn(process.execPath, [CLI, "logs", "local/chatty/API", "--follow"], {
      cwd: ROOT,
      env: { ...process.env, ESERVELESS_URL: server.url, ESERVELESS_ADMIN_TOKEN: ADMIN_TOKEN },
    });
    let stdout = "";
    const waiting = new Set<() => void>();
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      for (const check of waiting) check();
    });
    const seen = (text: string) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (!stdout.includes(text)) return;
          waiting.delete(check);
          resolve();
        };
        waiting.add(check);
        check();
      });
    const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
    await seen("hit /two");
    const asked = Date.now();
    expect((await fetch(`${url}/three`)).status).toBe(200);
    await seen("hit /three");
    const followMs = Date.now() - asked;
    expect(followMs).toBeLessThan(2_500);
    child.kill("SIGINT");
    expect(await closed).toBe(0);
    // The first replica may have been reaped by now (idleTimeout: 1): whichever answered is named.
    const third = (await getJson<{ invocations: Array<{ container: string | null; path: string }> }>("/api/functions/local/chatty/API/invocations")).invocations[0]!;
    expect(third.path).toBe("/three");
    expect(stdout).toMatch(stamped(third.container!, "hit /three"));
    for (const line of ["hit /two", "hit /three"]) expect(stdout.split(line)).toHaveLength(2);

    // idleTimeout: 1 reaps the replicas; their output stays.
    const deadline = Date.now() + 20_000;
    for (const name of new Set([replica, third.container!])) {
      while ((await new Docker().listContainers({ all: true, filters: { name: [name] } })).length > 0) {
        if (Date.now() > deadline) throw new Error(`${name} was not reaped`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    const after = await cli(["logs", "local/chatty/API"]);
    expect(after.stdout).toMatch(stamped(replica, "hit /one"));
    expect(after.stdout).toMatch(stamped(replica, "hit /two"));
    expect(after.stdout).toMatch(stamped(third.container!, "hit /three"));

    const json = JSON.parse((await cli(["logs", "local/chatty/API", "--json"])).stdout) as { output: Array<{ replica: string; line: string; at: number }> };
    const hits = json.output.filter((l) => l.line.startsWith("hit "));
    expect(hits.map((l) => `${l.replica} ${l.line}`)).toEqual([`${replica} hit /one`, `${replica} hit /two`, `${third.container!} hit /three`]);
    expect(hits.map((l) => l.at)).toEqual([...hits.map((l) => l.at)].sort((a, b) => a - b));
  });

  it("the output is behind the admin token: output may hold secrets", async () => {
    const path = "/api/functions/local/chatty/API/output";
    expect((await fetch(`${server.url}${path}`)).status).toBe(401);
    expect((await fetch(`${server.url}${path}`, { headers: { authorization: "Bearer not-the-admin-token-at-all" } })).status).toBe(401);
    const answer = await fetch(`${server.url}${path}?after=1`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(answer.status).toBe(200);
    const { output } = (await answer.json()) as { output: Array<{ seq: number }> };
    expect(output.every((line) => line.seq > 1)).toBe(true);
    expect((await fetch(`${server.url}${path}?after=-1`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(400);
  });
});

describe("errors", () => {
  it("a wrong token: exit 1 and what to set", async () => {
    for (const args of [["ls"], ["status"], ["deploy", "test/fixtures/node-hello"]]) {
      const result = await cli(args, { ESERVELESS_ADMIN_TOKEN: "not-the-admin-token-at-all" });
      expectCode(result, 1);
      expect(result.stderr).toMatch(/error: the server refused the token: set ESERVELESS_ADMIN_TOKEN to the server's admin token\n$/);
      expect(result.stdout).toBe("");
    }
  });

  it("no token: a usage error naming the variable", async () => {
    const result = await cli(["ls"], { ESERVELESS_ADMIN_TOKEN: undefined });
    expectCode(result, 2);
    expect(result.stderr).toContain("error: no admin token: set ESERVELESS_ADMIN_TOKEN (or pass --token)");
    // --token wins over the environment.
    expectCode(await cli(["ls", "--token", ADMIN_TOKEN], { ESERVELESS_ADMIN_TOKEN: "wrong-wrong-wrong-wrong" }), 0);
  });

  it("an unreachable server: exit 1 and where it looked", async () => {
    const port = await closedPort();
    for (const args of [["status"], ["ls", "--json"], ["deploy", "test/fixtures/node-hello"], ["logs", "0123456789ab"]]) {
      const result = await cli(args, { ESERVELESS_URL: `http://127.0.0.1:${port}` });
      expectCode(result, 1);
      expect(result.stderr).toMatch(
        new RegExp(`error: cannot reach eserveless at http://127\\.0\\.0\\.1:${port}: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}; is it running\\? set ESERVELESS_URL\\n$`),
      );
      expect(result.stdout).toBe("");
    }
    // --url wins over the environment.
    const result = await cli(["status", "--url", server.url], { ESERVELESS_URL: `http://127.0.0.1:${port}` });
    expectCode(result, 0);
  });

  it("usage errors exit 2 and point to the help", async () => {
    const cases: Array<[string[], string]> = [
      [["frobnicate"], 'error: unknown command "frobnicate"\nRun "eserveless --help" for usage.\n'],
      [["deploy", "a", "b"], 'error: deploy takes one argument, got: a b\nRun "eserveless deploy --help" for usage.\n'],
      [["deploy", "octo/app", "--name", "x"], 'error: --name is for a folder; a GitHub repository deploys under its own name\nRun "eserveless deploy --help" for usage.\n'],
      [["deploy", "./examples/hello-node", "--ref", "main"], 'error: --ref is for a GitHub repository; a folder deploys as it is on disk\nRun "eserveless deploy --help" for usage.\n'],
      [["deploy", "./examples/hello-node", "--name", "no spaces"], "error: --name must be letters, digits"],
      [["logs"], 'error: logs needs a deployment id or OWNER/REPO/FUNCTION\nRun "eserveless logs --help" for usage.\n'],
      [["logs", "a/b"], 'error: "a/b" is neither a deployment id nor OWNER/REPO/FUNCTION (such as local/hello/API)\nRun "eserveless logs --help" for usage.\n'],
      [["logs", "local/hello/Ticker", "--runs", "0"], "error: --runs must be a whole number from 1 to 100, got \"0\""],
      [["ls", "--follow"], 'error: ls does not take --follow\nRun "eserveless ls --help" for usage.\n'],
    ];
    for (const [args, message] of cases) {
      const result = await cli(args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr.startsWith(message), `${args.join(" ")}: ${result.stderr}`).toBe(true);
      expect(result.stdout).toBe("");
    }
    const bare = await cli([]);
    expectCode(bare, 2);
    expect(bare.stderr).toContain("Usage: eserveless COMMAND");
  });

  it("--help of each command exits 0 with its usage on stdout", async () => {
    for (const command of ["deploy", "ls", "logs", "status"]) {
      const result = await cli([command, "--help"]);
      expectCode(result, 0);
      expect(result.stdout).toContain(`Usage: eserveless ${command}`);
      expect((await cli(["help", command])).stdout).toBe(result.stdout);
    }
    const main = await cli(["--help"]);
    expectCode(main, 0);
    expect(main.stdout).toMatch(/Commands:\n {2}deploy .*\n {2}ls .*\n {2}logs .*\n {2}status /);
    expect((await cli(["--version"])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
