import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCommandLine } from "../../src/cli/args.js";
import { runCli } from "../../src/cli/cli.js";
import { EserveslessClient } from "../../src/cli/client.js";
import { deployTarget, projectName } from "../../src/cli/deploy-target.js";
import { UsageError } from "../../src/cli/errors.js";
import { createProgress } from "../../src/cli/progress.js";

// The CLI's pieces in process: argument parsing, deploy targets, progress
// rendering, and the client against servers that are not eserveless.

function usage(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error("expected a usage error");
}

describe("parseCommandLine", () => {
  it("takes global flags before or after the command", () => {
    const parsed = parseCommandLine(["--url", "http://127.0.0.1:1", "deploy", "./app", "--name", "x", "--json"]);
    expect(parsed).toMatchObject({ command: "deploy", positionals: ["./app"], flags: { url: "http://127.0.0.1:1", name: "x", json: true, help: false } });
    expect(parseCommandLine([])).toMatchObject({ command: undefined });
    expect(parseCommandLine(["logs", "-f", "abc"])).toMatchObject({ command: "logs", positionals: ["abc"], flags: { follow: true } });
  });

  it("refuses unknown commands and flags, flags of other commands and extra arguments", () => {
    expect(usage(() => parseCommandLine(["depoly"]))).toBe('unknown command "depoly"; did you mean "deploy"?');
    expect(usage(() => parseCommandLine(["frobnicate"]))).toBe('unknown command "frobnicate"');
    expect(usage(() => parseCommandLine(["ls", "--nope"]))).toBe("unknown option --nope");
    expect(usage(() => parseCommandLine(["ls", "--ref", "main"]))).toBe("ls does not take --ref");
    expect(usage(() => parseCommandLine(["deploy", "--name"]))).toBe("--name needs a value");
    expect(usage(() => parseCommandLine(["deploy", "a", "b"]))).toBe("deploy takes one argument, got: a b");
    expect(usage(() => parseCommandLine(["status", "x"]))).toBe("status takes no arguments, got: x");
  });
});

describe("deployTarget", () => {
  const none = () => false;
  it("tells folders from GitHub repositories", () => {
    expect(deployTarget(undefined, none)).toEqual({ kind: "folder", dir: "." });
    expect(deployTarget("octo/app", none)).toEqual({ kind: "github", repository: "octo/app" });
    expect(deployTarget("https://github.com/octo/app.git", none)).toEqual({ kind: "github", repository: "octo/app" });
    expect(deployTarget("octo/app", (p) => p === "octo/app")).toEqual({ kind: "folder", dir: "octo/app" });
    for (const path of ["./app", "../app", "/srv/app", "~/app", "a/b/c", ".", "app\\x"]) expect(deployTarget(path, none)).toEqual({ kind: "folder", dir: path });
    expect(usage(() => deployTarget("app", none))).toBe('"app" is neither a folder nor a GitHub repository (owner/repo)');
    expect(usage(() => deployTarget("https://github.com/octo", none))).toMatch(/not a repository URL/);
  });

  it("names a project after its folder", () => {
    expect(projectName("node-hello")).toBe("node-hello");
    expect(projectName("My App (v2)!")).toBe("my-app-v2");
    expect(projectName("__x")).toBe("x");
    expect(projectName("***")).toBeUndefined();
  });
});

describe("createProgress", () => {
  const sink = () => {
    const writes: string[] = [];
    return { writes, stream: { write: (text: string) => writes.push(text), columns: 30 } };
  };

  it("writes plain lines off a terminal, each status once", () => {
    const { writes, stream } = sink();
    const progress = createProgress(stream, { tty: false });
    progress.status("building");
    progress.line("Step 1/2");
    progress.status("building");
    progress.status("success");
    progress.done();
    expect(writes.join("")).toBe("… building\nStep 1/2\n… success\n");
  });

  it("redraws one status line under the log on a terminal, and clears it at the end", () => {
    const { writes, stream } = sink();
    let now = 0;
    const progress = createProgress(stream, { tty: true, now: () => now, intervalMs: 60_000 });
    progress.status("local/hello: building with a long status text");
    now = 1500;
    progress.line("Step 1/2");
    progress.done();
    expect(writes).toEqual([
      "\r\x1b[2K⠋ local/hello: building with…",
      "\r\x1b[2KStep 1/2\n",
      "\r\x1b[2K⠋ local/hello: building with…",
      "\r\x1b[2K",
    ]);
    expect(writes.every((w) => w.replace("\r\x1b[2K", "").replace("\n", "").length <= 29)).toBe(true);
  });
});

/** A whole deployment, as the server answers it. */
const deployment = {
  id: "abc",
  repository: "local/hello",
  commit: "0123456789abcdef0123456789abcdef01234567",
  ref: null,
  trigger: "local",
  state: "success",
  description: "Deployed 1 function in 1.0 s",
  image: "eserveless/local/hello:0123456",
  warnings: [],
  functions: [{ name: "API", type: "http", url: "http://127.0.0.1:3000/fn/local/hello/API" }],
  createdAt: 1,
  startedAt: 2,
  finishedAt: 3,
  coldStartMs: 100,
};

describe("the client against something that is not eserveless", () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url?.startsWith("/api/status")) {
        res.writeHead(200, { "content-type": "text/html" }).end("<html><body>Welcome to nginx</body></html>");
      } else if (req.url?.startsWith("/api/projects")) {
        res.writeHead(200, { "content-type": "application/json" }).end('{"hello": "world"}');
      } else if (req.url?.startsWith("/slow")) {
        setTimeout(() => res.end("{}"), 2000);
      } else if (req.url?.startsWith("/deployments/")) {
        // What a newer server might answer: a state this CLI has never heard of.
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ deployment: { ...deployment, state: "rolled_back" }, log: [] }));
      } else {
        res.writeHead(503, { "content-type": "application/json" }).end('{"error": {"code": "admin_token_unset", "message": "This endpoint is disabled"}}');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it("says so instead of printing garbage", async () => {
    const client = new EserveslessClient({ url: `${url}/`, token: "t" });
    await expect(client.status()).rejects.toThrow(
      `${url} answered GET /api/status with HTTP 200 (text/html: <html><body>Welcome to nginx</body></html>), not eserveless JSON; is ESERVELESS_URL the eserveless server?`,
    );
    await expect(client.projects()).rejects.toThrow(/answered GET \/api\/projects with HTTP 200 \(application\/json: \{"hello": "world"\}\), not eserveless JSON/);
    await expect(client.deployments()).rejects.toMatchObject({ status: 503, code: "admin_token_unset", message: "This endpoint is disabled" });
  });

  it("says when an eserveless answer has a shape this CLI does not know (another version)", async () => {
    const client = new EserveslessClient({ url });
    await expect(client.deployment("abc")).rejects.toThrow(
      new RegExp(
        `^${url.replace(/[.]/g, "\\.")} answered GET /deployments/abc with HTTP 200 in a shape this CLI does not know \\(deployment\\.state: .*"rolled_back"\\); ` +
          `the server and the CLI are likely different versions: install the CLI of the server's version$`,
      ),
    );
  });

  it("gives up on a server that does not answer in time", async () => {
    const started = Date.now();
    const stalled = new EserveslessClient({ url: `${url}/slow`, timeoutMs: 200 });
    await expect(stalled.deployment("x")).rejects.toThrow(`eserveless at ${url}/slow did not answer within 200 ms; is it overloaded? set ESERVELESS_URL`);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it("runs a command in process: exit codes and the server's message", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const run = (argv: string[], env = {}) =>
      runCli({ argv, env, stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => err.push(t) }, tty: false, cwd: process.cwd() });
    expect(await run(["ls"], { url, token: "t" })).toBe(1);
    expect(err.join("")).toContain("answered GET /api/projects with HTTP 200");
    err.length = 0;
    expect(await run(["status"], { url: "ftp://127.0.0.1" })).toBe(2);
    expect(err.join("")).toBe('error: ESERVELESS_URL (or --url) must start with http:// or https://, got "ftp://127.0.0.1"\nRun "eserveless status --help" for usage.\n');
    expect(out).toEqual([]);
  });
});
