import { connect } from "node:net";

/**
 * Writes `data` as is to the server at `url` on a connection of its own and
 * resolves with everything the server sent until it closed the connection
 * (so send `Connection: close`), for requests no HTTP client would send.
 */
export function rawExchange(url: string, data: string | Buffer, timeoutMs = 10_000): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no close within ${timeoutMs} ms; got ${JSON.stringify(Buffer.concat(chunks).toString("latin1"))}`)));
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")));
    socket.write(data);
  });
}

/** The status codes of the responses in raw HTTP/1.1 output, in order. */
export function statusCodes(raw: string): number[] {
  return [...raw.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((match) => Number(match[1]));
}
