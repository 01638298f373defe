import Docker from "dockerode";
import { request } from "node:http";
import { connect } from "node:net";
import { beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually.js";
import { readFixture } from "../support/fixtures.js";
import { rawExchange, responseBody } from "../support/raw-http.js";
import { ADMIN_TOKEN } from "../support/start-eserveless.js";
import { useEserveless } from "../support/use-eserveless.js";

const OWNER = "octo-org";
const REPO = "behaviours";
const docker = new Docker();

const stack = useEserveless({
  repositories: [{ owner: OWNER, name: REPO }],
  // Scaling on queueing alone: whether the shared test host has idle CPU is not what these tests are about (test/run/router-saturation.test.ts is).
  env: { ESERVELESS_QUEUE_SIZE: "2", ESERVELESS_MAX_BODY_BYTES: String(256 * 1024 * 1024), ESERVELESS_SCALE_UP_IDLE_CPUS: "0" },
});

function project(version: string) {
  const files: Record<string, string | { content: Buffer; mode: number }> = readFixture("node-behaviours");
  const source = (files["functions.js"] as { content: Buffer }).content.toString();
  files["functions.js"] = source.replace('const VERSION = "v1"', `const VERSION = "${version}"`);
  return files;
}

async function deploy(version: string): Promise<void> {
  const sha = stack.emulator.commit(OWNER, REPO, { files: project(version) });
  const response = await stack.server.deliver("push", stack.emulator.pushPayload(OWNER, REPO, { after: sha }));
  expect(response.status).toBe(202);
  await stack.server.deployer.idle();
  const final = stack.emulator.statuses(OWNER, REPO, sha).filter((s) => s.context === "eserveless").at(-1);
  expect(final?.state, final?.description ?? "").toBe("success");
}

const fnUrl = (name: string, path = "/") => `${stack.server.url}/fn/${OWNER}/${REPO}/${name}${path}`;

async function call(name: string, path = "/", init?: RequestInit) {
  const response = await fetch(fnUrl(name, path), init);
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { status: response.status, headers: response.headers, body };
}

async function containersOf(name: string) {
  return docker.listContainers({ all: true, filters: { label: [`dev.eserveless.repository=${OWNER}/${REPO}`, `dev.eserveless.function=${name}`] } });
}

beforeAll(() => deploy("v1"));

describe("invoking functions", () => {
  it("proxies every method with the path, the query and forwarded headers", async () => {
    const answer = await call("Echo", "/a/b?c=d", { method: "PUT", body: "hello", headers: { "x-eserveless-probe": "1", "x-custom": "kept" } });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ bytes: 5, method: "PUT", url: "/a/b?c=d", forwardedHost: new URL(stack.server.url).host, forwardedProto: "http", probe: null });
    expect(answer.body.forwardedFor).toContain("127.0.0.1");
    // The deployment started this one and proved it answers: no cold start for callers.
    expect(answer.headers.get("server-timing")).toBeNull();
    expect(await containersOf("Echo")).toHaveLength(1);
  });

  it("answers HEAD with the headers only, and a request pipelined after it gets its own response", async () => {
    const host = new URL(stack.server.url).host;
    // The plain path and a percent-encoded one, which the router routes alike.
    for (const path of [`/fn/${OWNER}/${REPO}/Echo/head`, `/%66n/${OWNER}/${REPO}/Echo/head`]) {
      const raw = await rawExchange(
        stack.server.url,
        `HEAD ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\nGET ${path}?after=head HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      );
      const headEnd = raw.indexOf("\r\n\r\n");
      const headResponse = raw.slice(0, headEnd);
      const next = raw.slice(headEnd + 4);
      expect(headResponse, raw).toMatch(/^HTTP\/1\.1 200 /);
      expect(headResponse).toMatch(/^content-type: application\/json$/im);
      // No body after HEAD's headers: the next bytes are the GET's status line.
      expect(next, raw).toMatch(/^HTTP\/1\.1 200 /);
      expect(JSON.parse(responseBody(next))).toMatchObject({ method: "GET", url: "/head?after=head" });
    }
  });

  it("frees a function's slot when a caller that pipelined requests leaves without reading: the next caller is answered", async () => {
    const { port } = new URL(stack.server.url);
    const host = new URL(stack.server.url).host;
    const path = `/fn/${OWNER}/${REPO}/Single/?bytes=${4 * 1024 * 1024}`;
    // Single takes one request at a time. Big answers fill the socket the attacker never reads; the pipelined
    // ones wait behind the first, with responses that have no socket yet.
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(port), "127.0.0.1", () => {
        socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`.repeat(4));
        socket.pause();
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 1500);
      });
      socket.on("error", reject);
    });
    // Its pipelined requests are ended as the router notices the close (429 meanwhile: the queue is full);
    // before the fix their slot stayed taken for good and every later caller got 429 or a queue timeout.
    const status = await eventually(
      "Single answers a new caller",
      async () => {
        const answer = await fetch(fnUrl("Single"), { signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
        await answer?.body?.cancel();
        return answer?.status === 200 ? answer.status : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    expect(status).toBe(200);
  });

  it("answers 408 to a caller that trickles its body past the function's timeout, and the requests of others on that container go on", async () => {
    const before = await call("Upload", "/", { method: "POST", body: "warm" });
    expect(before.status).toBe(200);
    const url = new URL(fnUrl("Upload"));
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    // One byte every 300 ms, chunked: cheap for an attacker, past Upload's 2 s timeout.
    const trickled = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: "POST", headers: { "transfer-encoding": "chunked" } }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      const drip = setInterval(() => (req.destroyed ? clearInterval(drip) : req.write("x")), 300);
      req.on("close", () => clearInterval(drip));
    });
    // A caller whose request is in flight on the same container when the trickler's time runs out.
    await sleep(1000);
    const victim = await call("Upload", "/?ms=1500", { method: "POST", body: "legit" });
    const attacker = await trickled;
    expect(attacker.status).toBe(408);
    expect(JSON.parse(attacker.body)).toMatchObject({ error: { code: "request_body_timeout" } });
    expect(victim.status).toBe(200);
    expect(victim.body).toMatchObject({ bytes: 5, pid: before.body.pid });
    // The container was not recycled for the trickler.
    expect((await call("Upload", "/", { method: "POST", body: "after" })).body.pid).toBe(before.body.pid);
  });

  it("streams a response the function sends in parts: the first part reaches the caller before the function ends it", async () => {
    const started = performance.now();
    const response = await fetch(fnUrl("Drip", "/?gap=800"));
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    const parts: Array<{ text: string; at: number }> = [];
    for (let read = await reader.read(); !read.done; read = await reader.read()) parts.push({ text: decoder.decode(read.value), at: performance.now() - started });
    expect(parts.map((p) => p.text).join("")).toBe("first;last");
    // Not buffered until the end: the first part came at least most of the gap before the last.
    expect(parts[0]!.text).toBe("first;");
    expect(parts.at(-1)!.at - parts[0]!.at).toBeGreaterThan(500);
  });

  it("answers 413 past the body limit", async () => {
    // A declared length over the limit is refused before a byte of the body is read.
    const url = new URL(fnUrl("Echo"));
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: "POST", headers: { "content-length": String(257 * 1024 * 1024) } }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      req.write("x".repeat(1024));
    });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: "body_too_large" } });
  });

  it("starts exactly one container for 20 concurrent first requests when concurrency allows", async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => call("Slow", "/?ms=200")));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect(new Set(answers.map((a) => a.body.pid)).size).toBe(1);
    expect(await containersOf("Slow")).toHaveLength(1);
  });

  it("answers 504 for a hung function within its timeout and recycles the container", async () => {
    const started = Date.now();
    const first = await call("Hang");
    const elapsed = Date.now() - started;
    expect(first.status).toBe(504);
    expect(first.body).toMatchObject({ error: { code: "function_timeout" } });
    expect(elapsed).toBeGreaterThanOrEqual(2000);
    expect(elapsed).toBeLessThan(2000 + 5000);
    await eventually("the hung container to be removed", async () => ((await containersOf("Hang")).length === 0 ? true : undefined));
  });

  it("lets the other requests on a container finish when one caller makes its own request time out, then replaces the container", async () => {
    // The attack: with 100 requests at a time per container, one request past the timeout used to get the
    // container removed at once, and every other caller on it a 502.
    const warm = await call("Patient");
    expect(warm.status).toBe(200);
    const attacker = call("Patient", "/?ms=60000");
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // In flight when the attacker's 2 s run out, answered 0.8 s after.
    const others = await Promise.all(Array.from({ length: 10 }, () => call("Patient", "/?ms=1800")));
    expect((await attacker).status).toBe(504);
    expect(others.map((a) => a.status)).toEqual(Array(10).fill(200));
    expect(new Set(others.map((a) => a.body.pid))).toEqual(new Set([warm.body.pid]));
    // It takes no new request once it failed one, and goes once its requests are done.
    const next = await call("Patient");
    expect(next.status).toBe(200);
    expect(next.body.pid === warm.body.pid && next.body.started === warm.body.started).toBe(false);
    await eventually("the timed-out container to be removed", async () => ((await containersOf("Patient")).length === 1 ? true : undefined));
  });

  it("records 499 for a caller that goes away before the function answers, and keeps the function's container", async () => {
    // Hang never answers. Its container may still be starting when the caller gives up: that counts too.
    const gone = new AbortController();
    const hung = fetch(fnUrl("Hang"), { signal: gone.signal }).catch((error: Error) => error.name);
    await new Promise((resolve) => setTimeout(resolve, 300));
    gone.abort();
    expect(await hung).toBe("AbortError");
    const invocations = async () => {
      const response = await fetch(`${stack.server.url}/api/functions/${OWNER}/${REPO}/Hang/invocations`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      return ((await response.json()) as { invocations: Array<{ status: number }> }).invocations;
    };
    expect(await eventually("the invocation to be recorded as 499", async () => ((await invocations())[0]?.status === 499 ? true : undefined))).toBe(true);
    // Not the function's fault: its container stays (a timeout or a crash would replace it).
    expect((await containersOf("Hang")).map((c) => c.State)).toEqual(["running"]);
  });

  it("answers 502 when a function crashes mid-request, and the next request succeeds", async () => {
    const before = await call("Crash");
    expect(before.status).toBe(200);
    const crashed = await call("Crash", "/crash");
    expect(crashed.status).toBe(502);
    expect(crashed.body).toMatchObject({ error: { code: "function_crashed" } });
    const after = await call("Crash");
    expect(after.status).toBe(200);
    expect(after.body.pid === before.body.pid && after.body.started === before.body.started).toBe(false);
  });

  it("streams a 160 MB upload with back-pressure instead of buffering it", async () => {
    // The function reads nothing for a second. A router that buffered would
    // take the whole body meanwhile; a streaming one stops at socket buffers.
    const chunk = new Uint8Array(64 * 1024).fill(97);
    // Far more than the socket buffers on the way (client, router, docker-proxy, container) can hold.
    const total = 160 * 1024 * 1024;
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= total) return controller.close();
        controller.enqueue(chunk);
        sent += chunk.length;
      },
    });
    let sentWhileStalled = 0;
    const probe = setTimeout(() => (sentWhileStalled = sent), 900);
    const response = await fetch(fnUrl("Sink", "/?delay=1000"), { method: "POST", body, duplex: "half" } as RequestInit);
    clearTimeout(probe);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { bytes: number }).bytes).toBe(total);
    expect(sentWhileStalled).toBeGreaterThan(0);
    expect(sentWhileStalled).toBeLessThan(total / 2);
  });

  it("queues past concurrency and maxReplicas, then answers 429 with Retry-After", async () => {
    // One container, one request at a time, a queue of 2: the 4th and 5th are refused.
    const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => new Promise((r) => setTimeout(r, i * 30)).then(() => call("Single"))));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(2);
    const refused = answers.find((a) => a.status === 429)!;
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(await containersOf("Single")).toHaveLength(1);
  });

  it("gives a queued caller's place up when it hangs up, so callers who leave cannot fill the queue for others", async () => {
    // The attack: ask, get queued, hang up, again. Each place used to stay taken until a slot freed, answering live callers 429.
    const first = call("Single");
    await new Promise((r) => setTimeout(r, 100));
    const hangUps = Array.from({ length: 2 }, () => new AbortController());
    const ghosts = hangUps.map((controller) => fetch(fnUrl("Single"), { signal: controller.signal }).catch(() => "hung up"));
    await new Promise((r) => setTimeout(r, 150));
    for (const controller of hangUps) controller.abort();
    expect(await Promise.all(ghosts)).toEqual(["hung up", "hung up"]);
    await new Promise((r) => setTimeout(r, 100));
    const live = await Promise.all([call("Single"), call("Single")]);
    expect(live.map((a) => a.status)).toEqual([200, 200]);
    expect((await first).status).toBe(200);
  });

  it("removes an idle container and cold-starts the next request", async () => {
    const first = await call("Brief");
    expect(first.status).toBe(200);
    expect(await containersOf("Brief")).toHaveLength(1);
    await eventually("the idle container to be reaped", async () => {
      await stack.server.pool.reap();
      return (await containersOf("Brief")).length === 0 ? true : undefined;
    });
    const next = await call("Brief");
    expect(next.status).toBe(200);
    expect(next.headers.get("server-timing")).toMatch(/^cold-start/);
  });

  it("serves /metrics in the Prometheus format", async () => {
    const response = await fetch(`${stack.server.url}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toMatch(new RegExp(`eserveless_invocations_total\\{function="${OWNER}/${REPO}/Echo",status="200"\\} [1-9]`));
    expect(text).toMatch(/eserveless_cold_starts_total\{function="octo-org\/behaviours\/Brief"\} [1-9]/);
    expect(text).toContain("eserveless_containers{state=\"ready\"}");
    expect(text).toContain("eserveless_queued_requests 0");
  });

  it("switches to a new deployment without failing a request in flight", async () => {
    await call("Slow");
    let stop = false;
    const results: Array<{ status: number; version: unknown; startedAt: number }> = [];
    const load = Array.from({ length: 4 }, async () => {
      while (!stop) {
        const startedAt = Date.now();
        const answer = await call("Slow", "/?ms=150");
        results.push({ status: answer.status, version: answer.body.version ?? answer.body, startedAt });
      }
    });
    await deploy("v2");
    const switchedAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 500));
    stop = true;
    await Promise.all(load);
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    expect(results.some((r) => r.version === "v1")).toBe(true);
    const after = results.filter((r) => r.startedAt > switchedAt);
    expect(after.length).toBeGreaterThan(0);
    expect(after.filter((r) => r.version !== "v2")).toEqual([]);
    // The old containers drain and go.
    const live = stack.server.store.liveFunction(`${OWNER}/${REPO}`, "Slow")!.commit;
    await eventually("the v1 containers to be removed", async () =>
      (await containersOf("Slow")).every((c) => c.Labels["dev.eserveless.commit"] === live) ? true : undefined,
    );
  });

  it("adopts its containers after a restart: no orphans, no second start, URLs answer at once", async () => {
    const before = await call("Echo");
    expect(before.status).toBe(200);
    const containers = await eventually("one Echo container", async () => {
      const found = await containersOf("Echo");
      return found.length === 1 ? found : undefined;
    });
    // An orphan from a deployment that is not live any more.
    const orphan = await docker.createContainer({ Image: containers[0]!.Image, Labels: { ...containers[0]!.Labels, "dev.eserveless.deployment": "gone" }, Cmd: ["node", "-e", "setInterval(() => {}, 1000)"] });
    await orphan.start();

    await stack.restart();

    const after = await call("Echo");
    expect(after.status).toBe(200);
    expect(after.headers.get("server-timing")).toBeNull();
    expect(after.body.pid).toBe(before.body.pid);
    expect(after.body.started).toBe(before.body.started);
    expect((await containersOf("Echo")).map((c) => c.Id)).toEqual([containers[0]!.Id]);
    await expect(orphan.inspect()).rejects.toMatchObject({ statusCode: 404 });

    // The adopted replica's output is collected again, from the adoption on: nothing read twice.
    expect((await call("Echo", "/after-restart")).status).toBe(200);
    const name = containers[0]!.Names[0]!.replace(/^\//, "");
    const output = await eventually("the line printed after the restart", async () => {
      const lines = stack.server.store.functionOutput(`${OWNER}/${REPO}`, "Echo");
      return lines.some((l) => l.line === "echo GET /after-restart") ? lines : undefined;
    });
    const echoes = output.filter((l) => l.replica === name && l.line.startsWith("echo "));
    expect(echoes.slice(-2).map((l) => l.line)).toEqual(["echo GET /", "echo GET /after-restart"]);
    // Read before and after the restart, yet each line once.
    expect(new Set(echoes.map((l) => `${l.at} ${l.line}`)).size).toBe(echoes.length);
  });
});
