import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { testImages } from "./support/wire-app.js";

// dockerode loads BuildKit-session (gRPC) and SSH code when it is required;
// the server never uses either unless asked, and they cost ~15 MB of its
// memory. Each case runs in a fresh Node process, with
// test/support/loaded-packages.ts reporting what its CommonJS cache holds as
// it exits.

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const OBSERVER = fileURLToPath(new URL("./support/loaded-packages.ts", import.meta.url));
/** What the two transports bring in: BuildKit sessions (gRPC over protobuf) and SSH. */
const DEFERRED = ["@grpc/grpc-js", "@grpc/proto-loader", "protobufjs", "ssh2"];

const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "eserveless-docker-client-"));
  dirs.push(dir);
  return dir;
};

interface Run {
  /** What the process printed to stdout. */
  output: string;
  /** The npm packages loaded through require when it exited. */
  packages: string[];
}

/**
 * Runs `node --import tsx <args>` from the repository root with the observer
 * preloaded and `env` added, until it exits; or, for a server, until its
 * output says it is `ready`, then `then` runs and the process is stopped with
 * SIGTERM.
 */
async function runNode(args: string[], env: Record<string, string>, server?: { ready: (output: string) => boolean; then: (output: string) => Promise<void> }): Promise<Run> {
  const file = join(tempDir(), "packages.json");
  const child = spawn(process.execPath, ["--import", "tsx", "--import", OBSERVER, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env, LOADED_PACKAGES_FILE: file },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  let stopping: Promise<void> | undefined;
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
    if (server && stopping === undefined && server.ready(output)) stopping = server.then(output).finally(() => child.kill("SIGTERM"));
  });
  const code = await exited;
  await stopping;
  expect(code, output).toBe(0);
  return { output, packages: JSON.parse(readFileSync(file, "utf8")) as string[] };
}

/** A script that makes the client as main.ts does, calls `call` on it and prints what came of it. */
const withClient = (call: string, imports = "") => [
  "--input-type=module",
  "--eval",
  `import { dockerClient } from "./src/docker-client.ts";${imports}
   const docker = dockerClient();
   const outcome = await (${call}).then((value) => ({ value: String(value) }), (error) => ({ error: error.code ?? error.message }));
   console.log(JSON.stringify(outcome));`,
];

/** A loopback port nothing listens on (the kernel's pick, released). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe("the server's Docker client", () => {
  it("is the plain dockerode when required as it is: the observer sees the gRPC and SSH packages", async () => {
    const { packages } = await runNode(["--eval", 'require("dockerode")'], {});
    expect(packages).toEqual(expect.arrayContaining(DEFERRED));
  });

  it("talks to the engine without loading the gRPC or SSH packages", async () => {
    const { output, packages } = await runNode(withClient("docker.ping()"), {});
    expect(JSON.parse(output)).toEqual({ value: "OK" });
    expect(packages).toContain("dockerode");
    expect(packages.filter((name) => DEFERRED.includes(name))).toEqual([]);
  });

  it("in the whole server (src/main.ts), leaves them unloaded through start, a request and shutdown", async () => {
    const { packages } = await runNode(
      ["src/main.ts"],
      { PORT: "0", HOST: "127.0.0.1", DATA_DIR: tempDir(), LOG_FORMAT: "json", ...testImages },
      {
        ready: (output) => output.includes("listening"),
        then: async (output) => {
          const { port } = JSON.parse(output.split("\n").find((line) => line.includes("listening"))!) as { port: number };
          expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
        },
      },
    );
    expect(packages).toEqual(expect.arrayContaining(["better-sqlite3", "dockerode", "pino"]));
    expect(packages.filter((name) => DEFERRED.includes(name))).toEqual([]);
  });

  it("still reaches an engine over SSH (DOCKER_HOST=ssh://…), loading ssh2 when it first connects", async () => {
    const port = await closedPort();
    const { output, packages } = await runNode(withClient("docker.ping()"), { DOCKER_HOST: `ssh://eserveless@127.0.0.1:${port}` });
    // ssh2's own connection attempt, to a port nothing listens on.
    expect(JSON.parse(output)).toEqual({ error: "ECONNREFUSED" });
    expect(packages).toContain("ssh2");
  });

  it("still opens a BuildKit session (buildImage with version 2), loading gRPC when it is asked for one", async () => {
    const socket = join(tempDir(), "no-engine.sock");
    const { output, packages } = await runNode(withClient('docker.buildImage(Readable.from([]), { version: "2" })', 'import { Readable } from "node:stream";'), {
      DOCKER_HOST: `unix://${socket}`,
    });
    // The session's dial of POST /session, to a socket no engine listens on.
    expect(JSON.parse(output)).toEqual({ error: "ENOENT" });
    expect(packages).toEqual(expect.arrayContaining(["@grpc/grpc-js", "@grpc/proto-loader"]));
  });
});
