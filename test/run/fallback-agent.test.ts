import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FallbackAgent } from "../../src/run/fallback-agent.js";

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

function post(agent: FallbackAgent, port: number, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method: "POST", path: "/", agent, headers: { "content-length": Buffer.byteLength(body) } }, (res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("FallbackAgent", () => {
  it("sends a request whose replica refuses to another one, whole and once, and names the one that refused", async () => {
    const unreachable: string[] = [];
    const agent = new FallbackAgent({
      next: (tried) => [{ host: "127.0.0.1", port: deadPort }, { host: "127.0.0.1", port: livePort }].find((r) => !tried.has(`${r.host}:${r.port}`)),
      unreachable: (address) => unreachable.push(address),
    });
    received.length = 0;
    const body = "x".repeat(200_000);
    const response = await post(agent, deadPort, body);
    expect(response).toEqual({ status: 200, text: `live got ${body.length} bytes` });
    expect(received).toEqual([{ method: "POST", body }]);
    expect(unreachable).toEqual([`127.0.0.1:${deadPort}`]);
  });

  it("fails with the connection's error when no other replica is left", async () => {
    const agent = new FallbackAgent({ next: () => undefined, unreachable: () => undefined });
    await expect(post(agent, deadPort, "hello")).rejects.toThrow(/ECONNREFUSED/);
  });

  it("gives up after maxTries replicas that all refuse", async () => {
    const unreachable: string[] = [];
    const agent = new FallbackAgent({ next: () => ({ host: "127.0.0.1", port: deadPort }), unreachable: (address) => unreachable.push(address), maxTries: 3 });
    await expect(post(agent, deadPort, "hello")).rejects.toThrow(/ECONNREFUSED/);
    expect(unreachable).toHaveLength(3);
  });
});
