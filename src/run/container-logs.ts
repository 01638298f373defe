import type Docker from "dockerode";

/**
 * The last lines a container printed (stdout and stderr interleaved), for
 * error messages. Docker multiplexes non-TTY output into 8-byte-headed frames.
 */
export async function containerLogs(container: Docker.Container, tail = 20): Promise<string[]> {
  const raw = (await container.logs({ stdout: true, stderr: true, tail, follow: false })) as unknown as Buffer;
  const chunks: Buffer[] = [];
  for (let offset = 0; offset + 8 <= raw.length; ) {
    const size = raw.readUInt32BE(offset + 4);
    chunks.push(raw.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return Buffer.concat(chunks)
    .toString("utf8")
    .split("\n")
    .map((line) => line.trimEnd())
    .filter((line) => line !== "");
}
