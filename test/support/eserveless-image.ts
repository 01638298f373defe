import { execFile } from "node:child_process";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import type Docker from "dockerode";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Runs a script of scripts/ at the repository's root; resolves with its stdout, rejects with its stderr. */
export function runScript(name: string, args: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("bash", [`scripts/${name}`, ...args], { cwd: ROOT, env: { ...process.env, ...options.env }, timeout: options.timeoutMs ?? 300_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`scripts/${name} ${args.join(" ")} failed (${error.code ?? error.signal}):\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** `npm run docker:build -- TAG --from-host`: the eserveless image from this checkout's dist/ and node_modules/. */
export async function buildEservelessImage(tag: string): Promise<void> {
  await runScript("docker-build.sh", [tag, "--from-host"]);
}

/**
 * Starts eserveless from its image as the README's `docker run` does: restarted
 * unless stopped, the engine's socket (with its group), a data volume, port 3000
 * published on 127.0.0.1 (an ephemeral host port unless `hostPort`).
 */
export async function runEservelessContainer(
  docker: Docker,
  options: { image: string; name: string; dataVolume: string; dockerGid: string; env: Record<string, string>; hostPort?: string; labels?: Record<string, string> },
): Promise<Docker.Container> {
  const container = await docker.createContainer({
    name: options.name,
    Image: options.image,
    Env: Object.entries({ ESERVELESS_CONTAINER: "auto", ...options.env }).map(([key, value]) => `${key}=${value}`),
    Labels: options.labels,
    ExposedPorts: { "3000/tcp": {} },
    HostConfig: {
      RestartPolicy: { Name: "unless-stopped" },
      Binds: ["/var/run/docker.sock:/var/run/docker.sock", `${options.dataVolume}:/data`],
      GroupAdd: [options.dockerGid],
      PortBindings: { "3000/tcp": [{ HostIp: options.hostPort ? "" : "127.0.0.1", HostPort: options.hostPort ?? "" }] },
    },
  });
  await container.start();
  return container;
}

/** The user and groups of the container's process 1, as the kernel sees them (from /proc/1/status). */
export async function mainProcessIds(container: Docker.Container): Promise<{ uid: number; gid: number; groups: number[] }> {
  const exec = await container.exec({
    Cmd: ["node", "-e", "process.stdout.write(require('fs').readFileSync('/proc/1/status', 'utf8'))"],
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await exec.start({ hijack: true, stdin: false });
  const stdout = new PassThrough();
  const chunks: Buffer[] = [];
  stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
  container.modem.demuxStream(stream, stdout, new PassThrough());
  await new Promise<void>((resolve, reject) => {
    stream.on("end", resolve);
    stream.on("error", reject);
  });
  const status = Buffer.concat(chunks).toString("utf8");
  const field = (name: string) => /^(\w+):\s*(.*)$/m.exec(status.split("\n").find((line) => line.startsWith(`${name}:`)) ?? "")?.[2]?.trim().split(/\s+/).filter(Boolean).map(Number) ?? [];
  return { uid: field("Uid")[0]!, gid: field("Gid")[0]!, groups: field("Groups") };
}
