import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fallbackConnector } from "../../src/run/fallback-connector.js";
import { proxyRequest } from "../../src/run/proxy.js";
import { newAgent } from "../../src/run/undici-dispatchers.js";

// Real HTTP servers on loopback: one live replica, and the port of one that is gone (refuses).

const received: Array<{ method: string; body: string }> = [];
let live: Server;
let livePort = 0;
let deadPort = 0;

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

beforeAll(async () => {
  live = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
    req.on("end", () => {
      received.push({ method: req.method ?? "", body });
      res.end(`live got ${body.length} bytes`);
    });
  });
  livePort = await listen(live);
  const gone = createServer();
  deadPort = await listen(gone);
  await new Promise((resolve) => gone.close(resolve));
});

afterAll(() => new Promise((resolve) => live.close(resolve)));

/** A POST through the router's proxy, as a swarm function sends it: no keep-alive, the connector picking the replica. */
async function post(connector: ReturnType<typeof fallbackConnector>, port: number, body: string): Promise<{ status: number; text: string }> {
  const dispatcher = newAgent({ connect: connector, pipelining: 0 });
  try {
    const response = await proxyRequest({
      dispatcher,
      origin: `http://127.0.0.1:${port}`,
      method: "POST",
      path: "/",
      headers: { "content-length": String(Buffer.byteLength(body)) },
      body: Readable.from([Buffer.from(body)]),
      maxBodyBytes: 1_000_000,
      timeoutMs: 5000,
      caller: new AbortController().signal,
    });
    return { status: response.statusCode, text: await new Response(response.toWeb(() => undefined)).text() };
  } finally {
    await dispatcher.destroy();
  }
}

describe("fallbackConnector", () => {
  it("sends a request whose replica refuses to another one, whole and once, and names the one that refused", async () => {
    const unreachable: string[] = [];
    const connector = fallbackConnector({
      next: (tried) => [{ host: "127.0.0.1", port: deadPort }, { host: "127.0.0.1", port: livePort }].find((r) => !tried.has(`${r.host}:${r.port}`)),
      unreachable: (address) => unreachable.push(address),
    });
    received.length = 0;
    const body = "x".repeat(200_000);
    const response = await post(connector, deadPort, body);
    expect(response).toEqual({ status: 200, text: `live got ${body.length} bytes` });
    expect(received).toEqual([{ method: "POST", body }]);
    expect(unreachable).toEqual([`127.0.0.1:${deadPort}`]);
  });

  it("fails with the connection's error when no other replica is left", async () => {
    const connector = fallbackConnector({ next: () => undefined, unreachable: () => undefined });
    await expect(post(connector, deadPort, "hello")).rejects.toThrow(/ECONNREFUSED/);
  });

  it("gives up after maxTries replicas that all refuse", async () => {
    const unreachable: string[] = [];
    const connector = fallbackConnector({ next: () => ({ host: "127.0.0.1", port: deadPort }), unreachable: (address) => unreachable.push(address), maxTries: 3 });
    await expect(post(connector, deadPort, "hello")).rejects.toThrow(/ECONNREFUSED/);
    expect(unreachable).toHaveLength(3);
  });
});
