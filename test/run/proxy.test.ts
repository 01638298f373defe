import { createServer, request, type Server } from "node:http";
import { createServer as createTcpServer, type AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployFixture } from "../support/deploy-fixture.js";
import { startGitHubEmulator, type GitHubEmulator } from "../support/github-emulator.js";
import { rawExchange, statusCodes } from "../support/raw-http.js";
import { startEserveless, type TestEserveless } from "../support/start-eserveless.js";
import type { Dispatcher } from "undici";
import { ProxyError, proxyRequest } from "../../src/run/proxy.js";
import { newPool } from "../../src/run/undici-dispatchers.js";

// Request framing through the router, from raw sockets, against a real
// function container: a keep-alive socket to a container carries requests of
// many callers one after another, so a caller must never be able to shift
// where the container thinks one request ends and the next begins.

const OWNER = "octo-org";
const REPO = "boundary";

let emulator: GitHubEmulator;
let server: TestEserveless;

const logPath = (rest: string) => `/fn/${OWNER}/${REPO}/Log${rest}`;

/** What the Log function's code was called for since it started (it remembers every request but `GET /seen`). */
async function seen(): Promise<Array<{ method: string; url: string }>> {
  const response = await fetch(`${server.url}${logPath("/seen")}`);
  expect(response.status).toBe(200);
  return (await response.json()) as Array<{ method: string; url: string }>;
}

/** A normal request, as another caller on a connection of its own would send it. */
async function call(method: string, rest: string, body?: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`${server.url}${logPath(rest)}`, { method, body });
  return { status: response.status, text: await response.text() };
}

/** A request head with the server's Host and the given extra lines. */
const head = (method: string, rest: string, lines: string[]) =>
  `${method} ${logPath(rest)} HTTP/1.1\r\nHost: ${new URL(server.url).host}\r\n${lines.map((line) => `${line}\r\n`).join("")}\r\n`;

beforeAll(async () => {
  emulator = await startGitHubEmulator();
  emulator.addRepository({ owner: OWNER, name: REPO });
  server = await startEserveless({ emulator });
  await deployFixture({ server, emulator, owner: OWNER, repo: REPO, fixture: "node-boundary" });
});

afterAll(async () => {
  await server?.stop();
  await emulator?.close();
});

describe("request framing to function containers", () => {
  it("answers the next caller after a GET that declared a body (Content-Length: 40 and 40 bytes)", async () => {
    const raw = await rawExchange(server.url, head("GET", "/with-length", ["Content-Length: 40", "Connection: close"]) + "x".repeat(40));
    expect(statusCodes(raw)).toEqual([200]);
    // Another caller, on the pooled socket the first one used: the container must not read its head as a body.
    const next = await call("GET", "/next");
    expect(next).toEqual({ status: 200, text: "logged\n" });
    const urls = (await seen()).map((r) => r.url);
    expect(urls.slice(-2)).toEqual(["/with-length", "/next"]);
  });

  it("never lets a request body reach the container as a request of its own", async () => {
    // A GET declaring 1024 bytes: were that header forwarded without them, the
    // container would take the next request's head (and the start of its body)
    // for them. Leading empty lines are skipped before a request line, so
    // wherever those 1024 bytes end inside the padding, the smuggled request
    // parses, with a path and headers the router never saw.
    const smuggled = "GET /smuggled HTTP/1.1\r\nHost: inside\r\n\r\n";
    const raw = await rawExchange(server.url, head("GET", "/declares-1024", ["Content-Length: 1024", "Connection: close"]) + "x".repeat(1024));
    expect(statusCodes(raw)).toEqual([200]);
    const carrier = await call("POST", "/carrier", "\r\n".repeat(1024) + smuggled);
    expect(carrier).toEqual({ status: 200, text: "logged\n" });

    const requests = await seen();
    expect(requests.map((r) => r.url)).not.toContain("/smuggled");
    expect(requests.slice(-2)).toEqual([
      { method: "GET", url: "/declares-1024" },
      { method: "POST", url: "/carrier" },
    ]);
  });

  it("answers a caller's Expect: 100-continue itself and hands the function the body, on the same container", async () => {
    const before = (await seen()).length;
    const raw = await rawExchange(server.url, head("POST", "/expecting", ["Expect: 100-continue", "Content-Length: 5", "Connection: close"]) + "hello");
    expect(statusCodes(raw)).toEqual([100, 200]);
    const requests = await seen();
    // Nothing forgotten: the container that remembers every request was kept, not recycled.
    expect(requests.length).toBe(before + 1);
    expect(requests.at(-1)).toEqual({ method: "POST", url: "/expecting" });
  });

  it("passes a function's answer on without its reason phrase, answers 502 to a status it cannot send, and keeps serving", async () => {
    // A control character in the reason phrase used to take the whole server down; status 000 held the container's slot for good.
    const badReason = await fetch(`${server.url}/fn/${OWNER}/${REPO}/Headers/raw/bad-reason`);
    expect([badReason.status, badReason.statusText, await badReason.text()]).toEqual([200, "OK", "hi"]);
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${server.url}/fn/${OWNER}/${REPO}/Headers/raw/status-000`);
      expect(response.status).toBe(502);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe("function_bad_response");
    }
    const after = await fetch(`${server.url}/fn/${OWNER}/${REPO}/Headers/after`);
    expect(after.status).toBe(200);
    expect(((await after.json()) as { url: string }).url).toBe("/after");
  });

  it("drops the container's socket when a caller goes away mid-body, and the next caller is answered", async () => {
    const url = new URL(`${server.url}${logPath("/cut-short")}`);
    // The caller sends half its declared body; the function answers without
    // reading it, and the caller leaves once it has the answer.
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: "POST", headers: { "content-length": "4096" } }, (res) => {
        req.destroy();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.write("y".repeat(2048));
    });
    expect(status).toBe(200);
    const answers = await Promise.all([call("GET", "/after-1"), call("POST", "/after-2", "z".repeat(100))]);
    expect(answers).toEqual([
      { status: 200, text: "logged\n" },
      { status: 200, text: "logged\n" },
    ]);
    const urls = (await seen()).map((r) => r.url);
    expect(urls).toContain("/cut-short");
    expect(urls.filter((u) => !u.startsWith("/"))).toEqual([]);
  });
});

describe("proxyRequest", () => {
  let upstream: Server;
  let port: number;
  const received: Array<{ method: string; headers: Record<string, unknown>; bytes: number }> = [];

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      let bytes = 0;
      req.on("data", (chunk: Buffer) => (bytes += chunk.length));
      req.on("end", () => {
        received.push({ method: req.method!, headers: req.headers, bytes });
        res.end("ok");
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    port = (upstream.address() as AddressInfo).port;
  });
  afterAll(() => new Promise((resolve) => upstream.close(resolve)));

  const send = (dispatcher: Dispatcher, input: { method: string; headers: Record<string, string>; body: Readable | null }) =>
    proxyRequest({ dispatcher, origin: `http://127.0.0.1:${port}`, path: "/", maxBodyBytes: 1024, timeoutMs: 5000, caller: new AbortController().signal, ...input });

  it("sends no framing headers without a body", async () => {
    const pool = newPool(`http://127.0.0.1:${port}`, {});
    const response = await send(pool, { method: "GET", headers: { "content-length": "40", "transfer-encoding": "chunked", "x-kept": "1" }, body: null });
    expect(await new Response(response.toWeb(() => undefined)).text()).toBe("ok");
    expect(received.at(-1)).toMatchObject({ method: "GET", bytes: 0, headers: { "x-kept": "1" } });
    expect(received.at(-1)!.headers).not.toHaveProperty("content-length");
    expect(received.at(-1)!.headers).not.toHaveProperty("transfer-encoding");
    await pool.destroy();
  });

  it("reads a chunked body that arrives in pieces to its end as a web stream, on a reused connection too", async () => {
    // The attack (a hostile function): 64 KiB chunked, in three pieces 5 ms apart. undici then handed over
    // empty chunks on every resume; the web stream's pull resumed it at once, on microtasks only, so the
    // router's event loop spun without reading the rest, its heap growing to the process's end.
    const body = Buffer.alloc(65_535, "b");
    const function_ = createTcpServer((socket) => {
      // The router hangs up on it when the test ends.
      socket.on("error", () => undefined);
      socket.on("data", () => {
        socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        const pieces = [body.subarray(0, 21_845), body.subarray(21_845, 43_690), body.subarray(43_690)];
        const next = () => {
          const piece = pieces.shift();
          if (!piece) return void socket.write("0\r\n\r\n");
          socket.write(`${piece.length.toString(16)}\r\n`);
          socket.write(Buffer.concat([piece, Buffer.from("\r\n")]));
          setTimeout(next, 5);
        };
        setTimeout(next, 5);
      });
    });
    await new Promise<void>((resolve) => function_.listen(0, "127.0.0.1", resolve));
    const origin = `http://127.0.0.1:${(function_.address() as AddressInfo).port}`;
    const pool = newPool(origin, {});
    try {
      for (let round = 0; round < 3; round++) {
        const response = await proxyRequest({ dispatcher: pool, origin, method: "GET", path: "/", headers: {}, body: null, maxBodyBytes: 1024, timeoutMs: 5000, caller: new AbortController().signal });
        let outcome: string | undefined;
        const reader = response.toWeb((o) => (outcome = o)).getReader();
        // The loop ran on microtasks, starving every timer (a test timeout too): reads are counted instead.
        const chunks: Uint8Array[] = [];
        let reads = 0;
        for (let next = await reader.read(); !next.done && reads < 10_000; next = await reader.read(), reads++) chunks.push(next.value);
        if (reads >= 10_000) await reader.cancel();
        expect(reads).toBeLessThan(10_000);
        expect(Buffer.concat(chunks).equals(body)).toBe(true);
        expect(outcome).toBe("complete");
      }
    } finally {
      await pool.destroy();
      await new Promise((resolve) => function_.close(resolve));
    }
  });

  it("fails, and keeps no socket, when a body does not match its Content-Length", async () => {
    for (const body of ["abc", "abcdefg"]) {
      const pool = newPool(`http://127.0.0.1:${port}`, {});
      const before = received.length;
      const failure = await send(pool, { method: "POST", headers: { "content-length": "5" }, body: Readable.from([Buffer.from(body)]) }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(ProxyError);
      expect((failure as ProxyError).kind).toBe("upstream");
      // No request was completed upstream, and no socket is kept for the next one.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(received.length).toBe(before);
      expect(pool.stats.connected).toBe(0);
      await pool.destroy();
    }
  });
});
