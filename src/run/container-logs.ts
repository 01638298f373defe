import type Docker from "dockerode";
import { demuxDockerLog } from "./run-output.js";

/**
 * The last lines a container printed (stdout and stderr interleaved), for
 * error messages.
 */
export async function containerLogs(container: Docker.Container, tail = 20): Promise<string[]> {
  const raw = (await container.logs({ stdout: true, stderr: true, tail, follow: false })) as unknown as Buffer;
  return demuxDockerLog(raw)
    .toString("utf8")
    .split("\n")
    .map((line) => line.trimEnd())
    .filter((line) => line !== "");
}
