import Docker from "dockerode";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { pack } from "tar-stream";
import { afterAll, describe, expect, it } from "vitest";
import { demuxDockerLog } from "../../src/run/run-output.js";

// The runtimes export /run/secrets/* (where Swarm mode mounts a function's
// Docker secrets) into the environment before the user's code loads: each
// file as the variable of its name, its content as read; a name that is not a
// variable name is refused. The files are copied into a container of the
// runtime's base image before it starts, as Swarm mounts them.

const docker = new Docker();
const nodeImage = process.env.ESERVELESS_NODE_IMAGE ?? "eserveless-local/node:20";
const goImage = process.env.ESERVELESS_GO_IMAGE ?? "eserveless-local/go:1.19";
const runtimes = fileURLToPath(new URL("../../runtimes/", import.meta.url));
const containers: Docker.Container[] = [];

afterAll(async () => {
  await Promise.all(containers.map((c) => c.remove({ force: true }).catch(() => undefined)));
});

/** The secret files, as Swarm would mount them: a value with a trailing newline and spaces, one of several lines, one with an invalid name. */
const SECRETS: Record<string, string> = {
  API_TOKEN: "  tok en\n",
  MULTI_LINE: "line 1\nline 2",
  "not-a-name": "never exported",
};

function tarOf(files: Record<string, string>): Promise<Buffer> {
  const tar = pack();
  for (const [name, content] of Object.entries(files)) tar.entry({ name, mode: 0o444, uid: 65534, gid: 65534 }, content);
  tar.finalize();
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    tar.on("data", (chunk: unknown) => void chunks.push(chunk as Buffer));
    tar.on("end", () => resolve(Buffer.concat(chunks)));
    tar.on("error", reject);
  });
}

/** Runs `cmd` in a container of `image` holding `files` (paths from /), as 65534; its exit code and output. */
async function run(image: string, cmd: string[], files: Record<string, string>, env: string[] = []): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const container = await docker.createContainer({
    Image: image,
    name: `es-secret-files-test-${randomBytes(4).toString("hex")}`,
    Cmd: cmd,
    Env: env,
    User: "65534:65534",
    WorkingDir: "/",
    Labels: { "dev.eserveless.test": "runtimes-secret-files" },
    HostConfig: { NetworkMode: "none", CapDrop: ["ALL"], SecurityOpt: ["no-new-privileges"] },
  });
  containers.push(container);
  await container.putArchive(await tarOf(files), { path: "/" });
  await container.start();
  const { StatusCode } = (await container.wait()) as { StatusCode: number };
  const stdout = demuxDockerLog((await container.logs({ stdout: true, stderr: false, follow: false })) as unknown as Buffer).toString("utf8");
  const stderr = demuxDockerLog((await container.logs({ stdout: false, stderr: true, follow: false })) as unknown as Buffer).toString("utf8");
  return { exitCode: StatusCode, stdout, stderr };
}

const secretFiles = Object.fromEntries(Object.entries(SECRETS).map(([name, value]) => [`run/secrets/${name}`, value]));
const expected = { API_TOKEN: SECRETS.API_TOKEN, MULTI_LINE: SECRETS.MULTI_LINE, NOT_A_NAME: null, MODE: "env" };

describe("runtimes export /run/secrets before loading the user's code", () => {
  it("node: each file as its variable, as read; an invalid name refused; a module's top level sees them", async () => {
    // Read at the module's top level: the export happens before the module loads.
    const functions = `const seen = { API_TOKEN: process.env.API_TOKEN, MULTI_LINE: process.env.MULTI_LINE, NOT_A_NAME: process.env["not-a-name"] ?? null, MODE: process.env.MODE };
module.exports = { Show() { console.log(JSON.stringify(seen)); } };`;
    const result = await run(nodeImage, ["node", "/app/server.cjs"], { "app/server.cjs": readFileSync(`${runtimes}node/server.cjs`, "utf8"), "app/functions.js": functions, ...secretFiles }, [
      "ESERVELESS_FUNCTION=Show",
      "ESERVELESS_FUNCTION_TYPE=cron",
      "MODE=env",
    ]);
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(JSON.parse(result.stdout.split("\n")[0]!)).toEqual(expected);
    expect(result.stderr).toContain("eserveless: /run/secrets/not-a-name is not exported: its name is not an environment variable name");
  });

  it("node: without /run/secrets, nothing changes", async () => {
    const functions = `module.exports = { Show() { console.log(JSON.stringify({ API_TOKEN: process.env.API_TOKEN ?? null })); } };`;
    const result = await run(nodeImage, ["node", "/app/server.cjs"], { "app/server.cjs": readFileSync(`${runtimes}node/server.cjs`, "utf8"), "app/functions.js": functions }, [
      "ESERVELESS_FUNCTION=Show",
      "ESERVELESS_FUNCTION_TYPE=cron",
      "API_TOKEN=from env",
    ]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout.split("\n")[0]!)).toEqual({ API_TOKEN: "from env" });
    expect(result.stderr).toBe("");
  });

  it("golang: the dispatcher exports them before calling the function", async () => {
    const gen = `package main

import (
	"encoding/json"
	"fmt"
	"os"
)

func init() {
	functions = map[string]interface{}{
		"Show": func(envs map[string]string) {
			value := func(name string) interface{} {
				if v, ok := os.LookupEnv(name); ok {
					return v
				}
				return nil
			}
			out, _ := json.Marshal(map[string]interface{}{"API_TOKEN": value("API_TOKEN"), "MULTI_LINE": value("MULTI_LINE"), "NOT_A_NAME": value("not-a-name"), "MODE": value("MODE")})
			fmt.Println(string(out))
		},
	}
}
`;
    const result = await run(
      goImage,
      ["sh", "-c", "cd /tmp/src && GOCACHE=/tmp/cache GOFLAGS=-mod=mod CGO_ENABLED=0 go build -o /tmp/function . && /tmp/function"],
      {
        "tmp/src/go.mod": "module example.com/dispatcher\n\ngo 1.14\n",
        "tmp/src/dispatcher.go": readFileSync(`${runtimes}golang/dispatcher.go`, "utf8"),
        "tmp/src/functions_gen.go": gen,
        ...secretFiles,
      },
      ["ESERVELESS_FUNCTION=Show", "ESERVELESS_FUNCTION_TYPE=cron", "MODE=env", "HOME=/tmp"],
    );
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(JSON.parse(result.stdout.split("\n")[0]!)).toEqual(expected);
    expect(result.stderr).toContain("eserveless: /run/secrets/not-a-name is not exported: its name is not an environment variable name");
  }, 120_000);
});
