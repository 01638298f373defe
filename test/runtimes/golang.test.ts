import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerEnvironment } from "../../src/manifest/function-environment.js";
import { readManifest } from "../../src/manifest/read-manifest.js";
import { fixture, imageFacts, startRuntimeHarness, type Deployed, type RuntimeHarness } from "./runtime-harness.js";

let h: RuntimeHarness;
beforeAll(async () => {
  h = await startRuntimeHarness();
});
afterAll(async () => {
  await h?.stop();
});

/** The environment eserveless gives a function of a fixture, from its manifest. */
async function environmentOf(name: string, fn: string): Promise<Record<string, string>> {
  const files = fixture(name) as Record<string, { content: Buffer }>;
  const { manifest } = await readManifest(files[".eserveless.yaml"]!.content.toString(), { has: (path) => path in files });
  return containerEnvironment(manifest.functions.find((f) => f.name === fn)!, manifest);
}

describe("golang runtime: a project in the original's shape", () => {
  let first: Deployed;

  it("deploys without a runtime key and with go 1.14 in go.mod, and answers through its URL", async () => {
    first = await h.deploy("go-hello", fixture("go-hello"));
    expect(first.state, first.log.join("\n")).toBe("success");
    expect(first.deployment.warnings.join("\n")).toContain("inferred golang from go.mod");

    const response = await h.call("go-hello", "API", "/greet?name=ada", { method: "POST" });
    expect(response.status).toBe(200);
    // meta arrives as ESERVELESS_*; the function runs as nobody.
    expect(await response.json()).toEqual({ greeting: "hello from go", version: "v1", path: "/greet?name=ada", method: "POST", uid: 65534 });
  });

  it("ships a small static image on an empty base that runs as 65534", async () => {
    const { size, user } = await imageFacts(h.docker, first.image);
    expect(size).toBeLessThan(20 * 1024 * 1024);
    expect(user).toBe("65534:65534");
    const history = await h.docker.getImage(first.image).history();
    // scratch + CA certificates + the binary: no toolchain, no shell.
    expect(history.filter((layer: { Size: number }) => layer.Size > 0)).toHaveLength(2);
    console.info(`go image: ${(size / 1024 / 1024).toFixed(1)} MiB, first build ${first.buildSeconds} s, ${first.description}`);
  });

  it("runs the cron function once with its meta as ESERVELESS_* variables", async () => {
    const run = await h.runCron(first.image, "Ticker", await environmentOf("go-hello", "Ticker"));
    expect(run.exitCode, run.output).toBe(0);
    expect(run.output).toMatch(/Ticker ticked at \S+ map\[.*ESERVELESS_NAME:dev.*ESERVELESS_PATH:\/usr\/bin.*\]/);
    expect(run.output).toMatch(/eserveless: Ticker finished in /);
  });

  it("rebuilds a code-only push from the cached module layer", async () => {
    const next = await h.deploy("go-hello", fixture("go-hello", { "functions.go": [/version = "v1"/, 'version = "v2"'] }));
    expect(next.state, next.log.join("\n")).toBe("success");
    const deps = next.log.findIndex((line) => line.includes('build.sh", "deps"'));
    expect(deps).toBeGreaterThan(-1);
    expect(next.log[deps + 1]).toContain("Using cache");
    expect(((await (await h.call("go-hello", "API")).json()) as { version: string }).version).toBe("v2");
    console.info(`go code-only build ${next.buildSeconds} s, ${next.description}`);
  });

  it("fails a function name that Go cannot call before building, and the previous version keeps answering", async () => {
    const manifest = "runtime: golang\nfunctions:\n  - name: api\n    type: http\n";
    const failed = await h.deploy("go-hello", fixture("go-hello", { ".eserveless.yaml": manifest }));
    expect(failed.state).toBe("failure");
    expect(failed.description).toContain('"api" is not an exported Go name: eserveless can only call a function whose name starts with an upper-case letter');
    expect(failed.log.some((line) => line.startsWith("Step "))).toBe(false);
    expect(((await (await h.call("go-hello", "API")).json()) as { version: string }).version).toBe("v2");
  });
});

describe("golang runtime: function signatures", () => {
  let image: string;

  it("serves every http shape: func, http.HandlerFunc, http.Handler, func returning error", async () => {
    const deployed = await h.deploy("go-signatures", fixture("go-signatures"));
    expect(deployed.state, deployed.log.join("\n")).toBe("success");
    image = deployed.image;
    const text = async (fn: string, path = "/") => {
      const response = await h.call("go-signatures", fn, path);
      return `${response.status} ${await response.text()}`;
    };
    expect(await text("Plain", "/a/b")).toBe("200 plain /a/b");
    expect(await text("HandlerVar")).toBe("200 handler func");
    expect(await text("Mux", "/hello")).toBe("200 mux hello");
    expect(await text("WithError")).toBe("200 no error");
    expect(await text("WithError", "/fail")).toBe("500 Internal Server Error\n");
    // A panic is a 500, and the function keeps serving.
    expect(await text("Panics")).toBe("500 Internal Server Error\n");
    expect(await text("Panics")).toBe("500 Internal Server Error\n");
  });

  it("runs cron functions: 0 when done, 1 with the error, 2 with the panic", async () => {
    const job = await h.runCron(image, "Job", await environmentOf("go-signatures", "Job"));
    expect(job.exitCode, job.output).toBe(0);
    expect(job.output).toContain("ESERVELESS_FUNCTION=Job ESERVELESS_FUNCTION_TYPE=cron ESERVELESS_TARGET=world as uid 65534");

    const fails = await h.runCron(image, "Fails");
    expect(fails.exitCode).toBe(1);
    expect(fails.output).toMatch(/eserveless: Fails failed after \S+: the database is unreachable/);

    const crashes = await h.runCron(image, "Crashes");
    expect(crashes.exitCode).toBe(2);
    expect(crashes.output).toContain("eserveless: Crashes panicked after");
    expect(crashes.output).toContain("assignment to entry in nil map");
  });

  it("checks a cron function without calling it (cron-check): silent 0, or 1 with the reason a run would give", async () => {
    // Crashes panics when called: its check passes all the same, and prints nothing.
    expect(await h.runCron(image, "Crashes", {}, "cron-check")).toEqual({ exitCode: 0, output: "" });
    const plain = await h.runCron(image, "Plain", {}, "cron-check");
    expect(plain.exitCode).toBe(1);
    expect(plain.output).toBe((await h.runCron(image, "Plain")).output);
  });

  it("refuses at start, clearly, a function whose signature it cannot call", async () => {
    // test/deploy/cron-check.test.ts deploys a cron function of no accepted signature, func(int) string.
    const httpAsCron = await h.runCron(image, "Plain");
    expect(httpAsCron.exitCode).toBe(1);
    expect(httpAsCron.output).toContain(
      "eserveless: Plain is a func(http.ResponseWriter, *http.Request), which eserveless cannot run as a cron function: it must be a func(envs interface{})",
    );
    expect(httpAsCron.output).toContain("should its type in .eserveless.yaml be http?");

    const cronAsHttp = await h.runCron(image, "Job", {}, "http");
    expect(cronAsHttp.exitCode).toBe(1);
    expect(cronAsHttp.output).toContain("Job is a handlers.Task, which eserveless cannot serve as an http function");
    expect(cronAsHttp.output).toContain("should its type in .eserveless.yaml be cron?");
  });

  it("finishes an in-flight request on SIGTERM, then exits 0", async () => {
    const { container, url } = await h.serve(image, "Slow");
    const pending = fetch(`${url}/`).then(async (r) => `${r.status} ${await r.text()}`);
    // Well inside the handler's 3 s, even on a busy machine.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await container.kill({ signal: "SIGTERM" });
    expect(await pending).toBe("200 slow done");
    expect(((await container.wait()) as { StatusCode: number }).StatusCode).toBe(0);
    await h.remove(container);
  });
});

describe("golang runtime: a compile error", () => {
  it("is reported by the compiler's first error, with its file:line:column, in the status too", async () => {
    const repo = "go-compile-error";
    const files = fixture("go-hello", { "functions.go": [/"uid":\s+os.Getuid\(\),/, '"uid": os.Getuidd(),'] });
    const lines = (files["functions.go"] as { content: Buffer }).content.toString().split("\n");
    const line = lines.findIndex((l) => l.includes("Getuidd"));
    // Go counts a tab as one column and points at the selector.
    const at = `functions.go:${line + 1}:${lines[line]!.indexOf("Getuidd") + 1}`;
    const failed = await h.deploy(repo, files);
    expect(failed.state).toBe("failure");
    expect(failed.description).toBe(`Go build failed: ${at}: undefined: os.Getuidd`);
    const status = h.emulator.statuses("octo-org", repo, failed.deployment.commit).findLast((s) => s.context === "eserveless")!;
    expect(status).toMatchObject({ state: "failure", description: failed.description });
    // The whole compiler output stays in the log.
    expect(failed.log).toContain(`./${at}: undefined: os.Getuidd`);
  });
});
