import { execFileSync, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Docker from "dockerode";
import { afterAll, describe, expect, it } from "vitest";
import { LABEL } from "../src/run/sandbox.js";
import { testImages } from "./support/wire-app.js";

// The README's "Quickstart without GitHub", pasted as written into a shell at
// the root of a fresh copy of the repository (its tracked files: what a clone
// holds), with its own `npm ci` (so the test's node_modules is left alone), a
// free port and a temporary DATA_DIR. It installs for real from npm's registry
// or cache and compiles better-sqlite3 where no prebuilt binary can be fetched:
// a minute or two.

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const QUICKSTART_TIMEOUT_MS = 8 * 60_000;

/** The first ```sh block under "## Quickstart without GitHub". */
function quickstartBlock(): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.split(/^## Quickstart without GitHub$/m)[1];
  const block = section && /^```sh\n([\s\S]*?)^```$/m.exec(section)?.[1];
  if (!block) throw new Error('README.md has no ```sh block under "## Quickstart without GitHub"');
  return block;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** The environment a newcomer's shell has: none of npm's or vitest's variables, none of eserveless's settings. */
function newcomerEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || /^(npm_|VITEST|ESERVELESS_|NODE_OPTIONS$|INIT_CWD$|DATA_DIR$|PORT$|LOG_)/i.test(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

const alive = (pid: number) => {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
};

const scratch = mkdtempSync(join(tmpdir(), "eserveless-quickstart-"));
const clone = join(scratch, "eserveless");
const dataDir = join(scratch, "data");
const docker = new Docker();
let group: number | undefined;

afterAll(async () => {
  // The shell, npm start and the server share one process group: stop them all, as Ctrl-C would.
  if (group !== undefined && alive(group)) {
    process.kill(-group, "SIGTERM");
    for (let i = 0; i < 100 && alive(group); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    if (alive(group)) process.kill(-group, "SIGKILL");
  }
  // The server keeps its function containers for its next start; this one has none: remove what it made.
  const idFile = join(dataDir, "instance-id");
  if (existsSync(idFile)) {
    const filters = { label: [`${LABEL}.instance=${readFileSync(idFile, "utf8").trim()}`] };
    for (const container of await docker.listContainers({ all: true, filters })) await docker.getContainer(container.Id).remove({ force: true });
    for (const image of await docker.listImages({ filters })) await docker.getImage(image.Id).remove({ force: true }).catch(() => undefined);
    for (const network of await docker.listNetworks({ filters })) await docker.getNetwork(network.Id).remove().catch(() => undefined);
    expect(await docker.listContainers({ all: true, filters })).toEqual([]);
  }
  rmSync(scratch, { recursive: true, force: true });
}, 120_000);

describe("the README's Quickstart without GitHub", () => {
  it("runs as pasted in a fresh copy: the deploy prints the function URL and curl gets the function's answer", async () => {
    const tracked = execFileSync("git", ["ls-files", "-z"], { cwd: ROOT, encoding: "utf8" }).split("\0").filter(Boolean);
    for (const file of tracked) {
      if (!existsSync(join(ROOT, file))) continue; // deleted in the worktree, not yet committed
      mkdirSync(dirname(join(clone, file)), { recursive: true });
      cpSync(join(ROOT, file), join(clone, file));
    }
    const port = await freePort();
    const logFile = join(scratch, "quickstart.log");
    const log = openSync(logFile, "w");
    // `set -e`: a step that fails stops the paste here rather than at a confusing later step.
    const shell = spawn("bash", ["-c", `set -e\n${quickstartBlock()}`], {
      cwd: clone,
      detached: true,
      stdio: ["ignore", log, log],
      env: newcomerEnv({ PORT: String(port), DATA_DIR: dataDir, ...testImages }),
    });
    closeSync(log);
    group = shell.pid;
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), QUICKSTART_TIMEOUT_MS);
      shell.once("exit", (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    const output = readFileSync(logFile, "utf8");
    expect(code, output).toBe(0);
    const url = `http://localhost:${port}/fn/local/hello-node/API`;
    expect(output).toMatch(new RegExp(`^\\s+API\\s+http\\s+${url.replace(/[.]/g, "\\.")}$`, "m"));
    expect(output).toContain('{"message":"hello, world","method":"GET","path":"/"}');
  }, QUICKSTART_TIMEOUT_MS + 60_000);
});
