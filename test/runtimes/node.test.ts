import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OWNER, fixture, imageFacts, startRuntimeHarness, type RuntimeHarness } from "./runtime-harness.js";

let h: RuntimeHarness;
beforeAll(async () => {
  h = await startRuntimeHarness();
});
afterAll(async () => {
  await h?.stop();
});

describe("node runtime: CommonJS in the original's shape", () => {
  it("deploys module.exports = { API, Ticker }, answers through its URL and runs the cron function with its meta", async () => {
    const deployed = await h.deploy("node-classic", fixture("node-classic"));
    expect(deployed.state, deployed.log.join("\n")).toBe("success");
    const response = await h.call("node-classic", "API", "/x?y=1");
    expect(`${response.status} ${await response.text()}`).toBe("200 Hello from /x?y=1");
    expect((await imageFacts(h.docker, deployed.image)).user).toBe("65534:65534");
    console.info(`node image: first build ${deployed.buildSeconds} s, ${deployed.description}`);

    const run = await h.runCron(deployed.image, "Ticker", { ESERVELESS_PATH: "/usr/bin", ESERVELESS_NAME: "prod" });
    expect(run.exitCode, run.output).toBe(0);
    expect(run.output).toMatch(/Ticker ticked at \S+ \{.*"ESERVELESS_PATH":"\/usr\/bin".*\}/);
    expect(run.output).toContain('"ESERVELESS_NAME":"prod"');
    expect(run.output).toContain("eserveless: Ticker finished in");
  });
});

describe("node runtime: an ES module project", () => {
  let image: string;

  it('deploys "type": "module" with top-level await; meta arrives as ESERVELESS_*; it runs as 65534', async () => {
    const deployed = await h.deploy("node-esm", fixture("node-esm"));
    expect(deployed.state, deployed.log.join("\n")).toBe("success");
    image = deployed.image;
    const response = await h.call("node-esm", "API", "/p");
    expect(await response.json()).toEqual({ module: "esm", color: "teal", path: "/p", loaded: true, uid: 65534 });
  });

  it("awaits an async cron function: 0 when it resolves, 1 with the error when it rejects", async () => {
    const ticker = await h.runCron(image, "Ticker", { ESERVELESS_TARGET: "world" });
    expect(ticker.exitCode, ticker.output).toBe(0);
    expect(ticker.output).toContain("ticked world as Ticker");

    const fails = await h.runCron(image, "Fails");
    expect(fails.exitCode).toBe(1);
    expect(fails.output).toMatch(/eserveless: Fails failed after \d+ ms: Error: the queue is gone/);
  });

  it("checks a cron function without calling it (cron-check): silent 0, or 1 with the reason a run would give", async () => {
    // Fails rejects when called: its check passes all the same, and prints nothing.
    expect(await h.runCron(image, "Fails", {}, "cron-check")).toEqual({ exitCode: 0, output: "" });
    const missing = await h.runCron(image, "Missing", {}, "cron-check");
    expect(missing.exitCode).toBe(1);
    expect(missing.output).toContain("eserveless: functions.js does not export Missing (it exports: API, Fails, Slow, Ticker)");
    expect(missing.output).toBe((await h.runCron(image, "Missing")).output);
  });

  it("finishes an in-flight request on SIGTERM, then exits 0", async () => {
    const { container, url } = await h.serve(image, "Slow");
    const pending = fetch(`${url}/`).then(async (r) => `${r.status} ${await r.text()}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await container.kill({ signal: "SIGTERM" });
    expect(await pending).toBe("200 slow done");
    expect(((await container.wait()) as { StatusCode: number }).StatusCode).toBe(0);
    await h.remove(container);
  });
});

describe("node runtime: Fetch-style handlers", () => {
  it("deploys an .mjs entry whose functions take a Request and return a Response", async () => {
    const deployed = await h.deploy("node-fetch", fixture("node-fetch"));
    expect(deployed.state, deployed.log.join("\n")).toBe("success");

    const echo = await h.call("node-fetch", "Echo", "/a/b?c=1", { method: "POST", headers: { "x-test": "yes" }, body: "hello body" });
    expect(echo.headers.get("content-type")).toBe("application/json");
    // meta reaches a Fetch-style handler both as its env argument and in process.env.
    expect(await echo.json()).toEqual({ method: "POST", path: "/a/b?c=1", body: "hello body", header: "yes", color: "amber", processColor: "amber" });

    const cookies = await h.call("node-fetch", "App", "/cookies");
    expect(cookies.status).toBe(201);
    expect(cookies.headers.getSetCookie()).toEqual(["a=1; Path=/", "b=2; Path=/"]);
    expect(await cookies.text()).toBe("two cookies");
    expect((await h.call("node-fetch", "App", "/nowhere")).status).toBe(404);

    const fromDefault = await h.call("node-fetch", "Default");
    expect(await fromDefault.text()).toBe("from the default export");
  });

  it("streams the response body out as it is produced", async () => {
    const started = performance.now();
    const response = await h.call("node-fetch", "App", "/stream");
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    const first = await reader.read();
    const firstAt = performance.now() - started;
    let text = decoder.decode(first.value, { stream: true });
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value, { stream: true });
    const endAt = performance.now() - started;
    expect(text).toBe("chunk 1\nchunk 2\nchunk 3\n");
    expect(decoder.decode(first.value)).toBe("chunk 1\n");
    // The handler waits 400 ms between chunks: the first one must not wait for the last.
    expect(endAt - firstAt).toBeGreaterThan(600);
  });

  it("streams the request body in", async () => {
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        for (const part of ["streamed ", "request ", "body"]) {
          controller.enqueue(encoder.encode(part));
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        controller.close();
      },
    });
    const response = await h.call("node-fetch", "Upper", "/", { method: "POST", body, duplex: "half" } as RequestInit);
    expect(`${response.status} ${await response.text()}`).toBe("200 STREAMED REQUEST BODY");
  });

  it("answers 500 with a JSON error when a handler throws, and keeps serving", async () => {
    for (let i = 0; i < 2; i++) {
      const response = await h.call("node-fetch", "Throws");
      expect(response.status).toBe(500);
      expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
      expect(await response.json()).toEqual({ error: { code: "function_failed", message: expect.stringContaining("Throws failed") } });
    }
  });
});

/** A node project of one functions.js and a manifest of http functions. */
function project(functionsJs: string, manifest: string, packageJson = "{}") {
  return fixture("node-hello", { "functions.js": functionsJs, ".eserveless.yaml": manifest, "package.json": packageJson });
}

describe("node runtime: the handler style, told when the module loads", () => {
  const functions = `module.exports = {
  Fetch: (request) => new Response("fetch " + new URL(request.url).pathname),
  Returns: (req, res) => new Response("returned for " + req.url, { status: 201, headers: { "x-kind": "response" } }),
  Throws: (req, res) => { throw new Error("the password is hunter2"); },
};
`;
  const manifest = `runtime: node
functions:
  - name: Fetch
    type: http
    handlr: fetch
  - name: Returns
    type: http
  - name: Throws
    type: http
`;

  it("serves a one-parameter function as Fetch-style despite a misspelt handler key, and the success counts the warning", async () => {
    const deployed = await h.deploy("node-styles", project(functions, manifest));
    expect(deployed.state, deployed.log.join("\n")).toBe("success");
    expect(deployed.description).toMatch(/^Deployed 3 functions in \d+\.\d s, cold start \d+ ms, 1 warning$/);
    expect(deployed.deployment.warnings).toEqual([expect.stringContaining("handlr")]);
    const status = h.emulator.statuses(OWNER, "node-styles", deployed.deployment.commit).findLast((s) => s.context === "eserveless")!;
    expect(status).toMatchObject({ state: "success", description: deployed.description });

    const fetched = await h.call("node-styles", "Fetch", "/a");
    expect(`${fetched.status} ${await fetched.text()}`).toBe("200 fetch /a");
  });

  it("serves a Response that a (req, res) function returns", async () => {
    const returned = await h.call("node-styles", "Returns", "/b?c=1");
    expect(`${returned.status} ${returned.headers.get("x-kind")} ${await returned.text()}`).toBe("201 response returned for /b?c=1");
  });

  it("answers a throwing handler with a JSON error that does not show the error", async () => {
    const response = await h.call("node-styles", "Throws");
    expect(response.status).toBe(500);
    const body = await response.text();
    expect(JSON.parse(body)).toEqual({ error: { code: "function_failed", message: expect.stringContaining("Throws failed") } });
    expect(body).not.toContain("hunter2");
  });

  it.each([
    ["no parameters", "() => new Response('hi')"],
    ["a rest parameter", "(...args) => new Response('hi')"],
  ])("fails the deployment of a function with %s and no handler, naming it and the fix", async (_, fn) => {
    const repo = `node-unknown-${fn.startsWith("()") ? "none" : "rest"}`;
    const deployed = await h.deploy(repo, project(`module.exports = { API: ${fn} };\n`, "runtime: node\nfunctions:\n  - { name: API, type: http }\n"));
    expect(deployed.state).toBe("failure");
    const reason = "API declares no parameters, so its style is unknown: add `handler: fetch` for (request) => Response, or `handler: node`, in .eserveless.yaml";
    expect(deployed.description).toBe(reason);
    expect([...reason].length).toBeLessThanOrEqual(140);
    const status = h.emulator.statuses(OWNER, repo, deployed.deployment.commit).findLast((s) => s.context === "eserveless")!;
    expect(status).toMatchObject({ state: "failure", description: reason });
  });
});

describe("node runtime: a module that cannot load is reported by its error and the user's file:line:column", () => {
  const broken = "const a = 1;\nfunction API(req, res) {\n  res.end(String(a);\n}\n";
  const manifest = "runtime: node\nfunctions:\n  - { name: API, type: http }\n";

  it.each([
    ["CommonJS", "node-syntax-cjs", `${broken}module.exports = { API };\n`, "{}"],
    ["an ES module", "node-syntax-esm", broken.replace("function API", "export function API"), '{ "type": "module" }'],
  ])("a syntax error in %s", async (_, repo, source, packageJson) => {
    const deployed = await h.deploy(repo, project(source, manifest, packageJson));
    expect(deployed.state).toBe("failure");
    const reason = "API: cannot load functions.js: SyntaxError: missing ) after argument list (functions.js:3:19)";
    expect(deployed.description).toBe(reason);
    const status = h.emulator.statuses(OWNER, repo, deployed.deployment.commit).findLast((s) => s.context === "eserveless")!;
    expect(status.description).toBe(reason);
    // The offending line is in the deployment log, under its file and line; not in the status.
    const at = deployed.log.findIndex((line) => /^ {2}API \| (\/app\/)?functions\.js:3$/.test(line));
    expect(at, deployed.log.join("\n")).toBeGreaterThan(-1);
    expect(deployed.log[at + 1]).toBe("  API |   res.end(String(a);");
    expect(deployed.log[at + 2]).toBe(`  API | ${" ".repeat(18)}^`);
  });

  it("an error thrown while the module runs, at the user's line", async () => {
    const deployed = await h.deploy("node-throws-at-load", project("const a = 1;\nmissing.call();\nmodule.exports = { API: (req, res) => res.end() };\n", manifest));
    expect(deployed.description).toBe("API: cannot load functions.js: ReferenceError: missing is not defined (functions.js:2:1)");
  });
});
