import { request, type IncomingHttpHeaders } from "node:http";
import { connect } from "node:net";

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** Name, value, name, value…: repeated headers stay apart. */
  rawHeaders: string[];
  text: string;
}

/**
 * One request through node:http on a connection of its own, with exactly
 * the headers given (Host included, which fetch will not set) and, with
 * `localAddress` (another loopback address such as 127.0.0.2), from there.
 */
export function httpRequest(url: string, init: { method?: string; headers?: Record<string, string>; body?: string; localAddress?: string } = {}): Promise<HttpAnswer> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: target.hostname, port: target.port, path: target.pathname + target.search, method: init.method ?? "GET", headers: init.headers, localAddress: init.localAddress, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(init.body);
  });
}

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

/** The body of the one response in raw HTTP/1.1 output, de-chunked when it was sent chunked. */
export function responseBody(raw: string): string {
  const split = raw.indexOf("\r\n\r\n");
  const head = raw.slice(0, split);
  let rest = raw.slice(split + 4);
  if (!/^transfer-encoding:\s*chunked\s*$/im.test(head)) return rest;
  let body = "";
  for (;;) {
    const line = rest.indexOf("\r\n");
    const size = parseInt(rest.slice(0, line), 16);
    if (!(size > 0)) return Buffer.from(body, "latin1").toString("utf8");
    body += rest.slice(line + 2, line + 2 + size);
    rest = rest.slice(line + 2 + size + 2);
  }
}
