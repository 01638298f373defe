import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stripVTControlCharacters } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

// The server as `npm start` runs it (src/main.ts, through tsx), its standard
// output read until it says it listens: readable lines on a terminal (a
// pseudo-terminal made by util-linux `script`), JSON through a pipe, and
// LOG_FORMAT forcing either.

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** Starts the server with `env`, returns what it printed up to its "listening" line, then stops it. */
async function startupOutput(env: Record<string, string>, options: { terminal?: boolean } = {}): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), "eserveless-log-"));
  dirs.push(dataDir);
  const base: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(ESERVELESS_ADMIN_TOKEN|LOG_FORMAT|LOG_LEVEL)$/.test(key)) base[key] = value;
  }
  const command = [process.execPath, "--import", "tsx", MAIN];
  const child = options.terminal
    ? spawn("script", ["--quiet", "--return", "--command", command.map((part) => `'${part}'`).join(" "), "/dev/null"], { env: { ...base, PORT: "0", DATA_DIR: dataDir, ...env } })
    : spawn(command[0]!, command.slice(1), { env: { ...base, PORT: "0", DATA_DIR: dataDir, ...env } });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line within 60 s:\n${output}`)), 60_000);
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("listening")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code}) before it listened:\n${output}`));
    });
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  if (options.terminal) child.stdin.end("\x03"); // script forwards Ctrl-C to the server
  await exited;
  return output;
}

const TOKEN = "a-token-of-thirty-two-characters";
const PRETTY_LINE = /^\d\d:\d\d:\d\d\.\d{3} (INFO |WARN |ERROR) \S/m;

describe("the server's log at start", () => {
  it("is readable lines on a terminal, says the admin token is unset and how to set one", async () => {
    const coloured = await startupOutput({}, { terminal: true });
    expect(coloured).toContain("\x1b[33mWARN");
    const output = stripVTControlCharacters(coloured);
    expect(output).toMatch(PRETTY_LINE);
    expect(output).not.toMatch(/^\{"level"/m);
    expect(output).toContain("ESERVELESS_ADMIN_TOKEN is not set, so the CLI, the API (/api) and the dashboard are off");
    expect(output).toContain("openssl rand -hex 32");
  });

  it("is one JSON object per line through a pipe, and with a token says nothing about it", async () => {
    const output = await startupOutput({ ESERVELESS_ADMIN_TOKEN: TOKEN });
    const lines = output.trim().split("\n");
    for (const line of lines) expect(JSON.parse(line)).toHaveProperty("msg");
    expect(lines.some((line) => (JSON.parse(line) as { msg: string }).msg.includes("listening"))).toBe(true);
    expect(output).not.toContain("ESERVELESS_ADMIN_TOKEN is not set");
  });

  it("follows LOG_FORMAT over the terminal test, both ways", async () => {
    const piped = await startupOutput({ ESERVELESS_ADMIN_TOKEN: TOKEN, LOG_FORMAT: "pretty" });
    expect(piped).toMatch(PRETTY_LINE);
    expect(piped).not.toContain("\x1b["); // no colours into a file
    const json = await startupOutput({ ESERVELESS_ADMIN_TOKEN: TOKEN, LOG_FORMAT: "json" }, { terminal: true });
    expect(json).toMatch(/^\{"level":\d+/m);
    expect(json).not.toMatch(PRETTY_LINE);
  });

  it("refuses an unknown LOG_FORMAT with what it may be", async () => {
    await expect(startupOutput({ LOG_FORMAT: "yaml" })).rejects.toThrow(/exited \(78\)/);
  });
});
