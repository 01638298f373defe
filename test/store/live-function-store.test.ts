import { parse } from "valibot";
import { describe, expect, it } from "vitest";
import { StoredSpecSchema, type StoredSpec } from "../../src/manifest/manifest-schema.js";
import { createLiveFunctionStore } from "../../src/store/live-function-store.js";
import { useTempStore } from "../support/temp-store.js";

const SHA_A = "a".repeat(40);
const SHA_B = "b".repeat(40);
const MIB = 1024 ** 2;

const temp = useTempStore(createLiveFunctionStore);

/** A spec as a deployment stores it: the manifest entry, defaults applied, plus entry and runtime. */
const spec = (fn: Record<string, unknown>): StoredSpec => parse(StoredSpecSchema, { runtime: "node", ...fn });
const http = (name: string, more: Record<string, unknown> = {}) => spec({ type: "http", name, ...more });
const cron = (name: string, schedule: string, more: Record<string, unknown> = {}) => spec({ type: "cron", name, schedule, ...more });

/** Writes a row as an earlier version of eserveless did, bypassing setLiveFunctions. */
function insertRow(name: string, type: string, specJson: string) {
  temp.db
    .prepare(`INSERT INTO functions (repository, name, type, deployment_id, commit_sha, image, spec) VALUES ('octo/old', ?, ?, 'dep0', ?, 'img:0', ?)`)
    .run(name, type, SHA_A, specJson);
}

describe("live functions", () => {
  it("replaces a repository's functions as a whole and leaves other repositories alone", () => {
    const hello = http("hello", { memory: 128 * MIB });
    const nightly = cron("nightly", "0 3 * * *");
    temp.store.setLiveFunctions("octo/hello", { id: "dep1", commit: SHA_A, image: "img:1" }, [hello, nightly]);
    temp.store.setLiveFunctions("octo/other", { id: "dep9", commit: SHA_B, image: "img:9" }, [http("hello")]);

    expect(temp.store.liveFunctions("octo/hello")).toEqual([
      { repository: "octo/hello", environment: "production", name: "hello", type: "http", deploymentId: "dep1", commit: SHA_A, image: "img:1", spec: hello },
      { repository: "octo/hello", environment: "production", name: "nightly", type: "cron", deploymentId: "dep1", commit: SHA_A, image: "img:1", spec: nightly },
    ]);

    temp.store.setLiveFunctions("octo/hello", { id: "dep2", commit: SHA_B, image: "img:2" }, [http("bye")]);
    expect(temp.store.liveFunctions("octo/hello").map((f) => [f.name, f.deploymentId])).toEqual([["bye", "dep2"]]);
    expect(temp.store.liveFunction("octo/hello", "hello")).toBeUndefined();
    expect(temp.store.liveFunction("octo/other", "hello")?.deploymentId).toBe("dep9");
    expect(temp.store.liveFunctions().map((f) => `${f.repository}/${f.name}`)).toEqual(["octo/hello/bye", "octo/other/hello"]);

    temp.store.setLiveFunctions("octo/hello", { id: "dep3", commit: SHA_A, image: "img:3" }, []);
    expect(temp.store.liveFunctions("octo/hello")).toEqual([]);
  });

  it("looks functions up whatever the case of the repository and the name", () => {
    temp.store.setLiveFunctions("Octo/Hello", { id: "dep1", commit: SHA_A, image: "img:1" }, [http("Hello")]);
    expect(temp.store.liveFunction("octo/hello", "hello")?.name).toBe("Hello");
    expect(temp.store.liveFunction("OCTO/HELLO", "HELLO")?.deploymentId).toBe("dep1");
    // A new deployment spelled in another case replaces, rather than adds to, the old functions.
    temp.store.setLiveFunctions("octo/hello", { id: "dep2", commit: SHA_B, image: "img:2" }, [http("hello")]);
    expect(temp.store.liveFunctions("OCTO/hello")).toHaveLength(1);
    expect(temp.store.liveFunction("octo/HELLO", "HeLLo")?.deploymentId).toBe("dep2");
  });

  it("keeps the previous functions when a switch fails half-way", () => {
    temp.store.setLiveFunctions("octo/hello", { id: "dep1", commit: SHA_A, image: "img:1" }, [http("hello")]);
    // Two functions that differ only in case collide on the (case-insensitive) key after the first insert.
    expect(() => temp.store.setLiveFunctions("octo/hello", { id: "dep2", commit: SHA_B, image: "img:2" }, [http("api"), http("API")])).toThrow();
    expect(temp.store.liveFunctions("octo/hello").map((f) => [f.name, f.deploymentId])).toEqual([["hello", "dep1"]]);
  });

  it("hands out the same object for a function until the next switch, parsed once", () => {
    temp.store.setLiveFunctions("octo/hello", { id: "dep1", commit: SHA_A, image: "img:1" }, [http("hello"), cron("nightly", "0 3 * * *")]);
    const first = temp.store.liveFunction("octo/hello", "hello");
    expect(temp.store.liveFunction("OCTO/hello", "HELLO")).toBe(first);
    expect(temp.store.liveFunctions("octo/hello")[0]).toBe(first);
    const nightly = temp.store.liveFunctions()[1];
    expect(temp.store.liveFunction("octo/hello", "nightly")).toBe(nightly);

    temp.store.setLiveFunctions("octo/hello", { id: "dep2", commit: SHA_B, image: "img:2" }, [http("hello")]);
    const next = temp.store.liveFunction("octo/hello", "hello");
    expect(next).not.toBe(first);
    expect(next?.deploymentId).toBe("dep2");
  });

  it("survives a restart", () => {
    const hello = http("hello", { timeout: 5, env: { STYLE: "plain" } });
    temp.store.setLiveFunctions("octo/hello", { id: "dep1", commit: SHA_A, image: "img:1" }, [hello]);
    const store = temp.reopen();
    expect(store.liveFunction("octo/hello", "hello")).toMatchObject({ type: "http", deploymentId: "dep1", image: "img:1", spec: hello });
  });

  it("reads the rows an earlier version wrote: the manifest schema's output plus entry and runtime, memory in bytes", () => {
    // Written by `JSON.stringify({ ...fn, entry: manifest.entry, runtime: manifest.runtime })` before the spec was typed.
    insertRow(
      "hello",
      "http",
      '{"type":"http","name":"hello","memory":134217728,"env":{},"meta":{"target":"world"},"concurrency":10,"minReplicas":0,"maxReplicas":5,"idleTimeout":300,"timeout":30,"handler":"fetch","entry":"functions.js","runtime":"node"}',
    );
    insertRow(
      "Nightly",
      "cron",
      '{"type":"cron","name":"Nightly","memory":268435456,"env":{"STYLE":"plain"},"meta":{},"concurrency":10,"minReplicas":0,"maxReplicas":5,"idleTimeout":300,"timeout":120,"schedule":"0 3 * * *","timezone":"Europe/Paris","entry":"functions.js","runtime":"node"}',
    );
    expect(temp.store.liveFunction("octo/old", "hello")).toEqual({
      repository: "octo/old",
      environment: "production",
      name: "hello",
      type: "http",
      deploymentId: "dep0",
      commit: SHA_A,
      image: "img:0",
      spec: { type: "http", name: "hello", memory: 128 * MIB, env: {}, meta: { target: "world" }, secrets: [], concurrency: 10, minReplicas: 0, maxReplicas: 5, idleTimeout: 300, timeout: 30, handler: "fetch", entry: "functions.js", runtime: "node" },
    });
    expect(temp.store.liveFunction("octo/old", "nightly")?.spec).toEqual({
      type: "cron",
      name: "Nightly",
      memory: 256 * MIB,
      env: { STYLE: "plain" },
      meta: {},
      secrets: [],
      concurrency: 10,
      minReplicas: 0,
      maxReplicas: 5,
      idleTimeout: 300,
      timeout: 120,
      schedule: "0 3 * * *",
      timezone: "Europe/Paris",
      entry: "functions.js",
      runtime: "node",
    });
  });

  it("fills keys missing from an old row with the defaults its readers used to apply", () => {
    // The readers before the typed spec fell back to 60 s, UTC, functions.js and the sandbox's 256 MiB
    // for a cron function, and to 0–5 replicas and 5 minutes idle for an http one. Concurrency was the
    // pool's 10 then; such a row names none, so it gets today's default, as a redeploy would.
    insertRow("Sparse", "cron", '{"type":"cron","name":"Sparse","schedule":"*/5 * * * *","runtime":"node"}');
    insertRow("Bare", "http", '{"type":"http","name":"Bare","runtime":"golang","timeout":null}');
    const sparse = temp.store.liveFunction("octo/old", "Sparse");
    expect(sparse?.type === "cron" && sparse.spec).toEqual({
      type: "cron",
      name: "Sparse",
      schedule: "*/5 * * * *",
      timezone: "UTC",
      timeout: 60,
      entry: "functions.js",
      runtime: "node",
      memory: 256 * MIB,
      env: {},
      meta: {},
      secrets: [],
      concurrency: 100,
      minReplicas: 0,
      maxReplicas: 5,
      idleTimeout: 300,
    });
    expect(temp.store.liveFunction("octo/old", "Bare")?.spec).toMatchObject({ timeout: 30, concurrency: 100, minReplicas: 0, maxReplicas: 5, idleTimeout: 300, memory: 256 * MIB });
  });

  it("refuses a row it cannot read with an error that says to deploy again, rather than a half-read function", () => {
    insertRow("broken", "cron", '{"type":"cron","name":"broken","runtime":"node"}');
    insertRow("retyped", "http", JSON.stringify(cron("retyped", "0 1 * * *")));
    expect(() => temp.store.liveFunction("octo/old", "broken")).toThrow(
      /^The database holds a live function that eserveless cannot read \(spec\.schedule: .*\); deploy its repository again to replace it\.$/,
    );
    expect(() => temp.store.liveFunction("octo/old", "retyped")).toThrow(/cannot read \(spec\.type: /);
    expect(() => temp.store.liveFunctions("octo/old")).toThrow(/deploy its repository again/);
  });
});

describe("live functions per environment", () => {
  it("keeps a preview's functions apart from production's: switching or removing one leaves the other", () => {
    const { store } = temp;
    const hello = http("hello");
    store.setLiveFunctions("octo/hello", { id: "prod1", commit: SHA_A, image: "img:prod" }, [hello]);
    store.setLiveFunctions("octo/hello", { id: "pr1", commit: SHA_A, image: "img:pr" }, [hello], "pr-7");
    expect(store.liveFunction("octo/hello", "hello")?.deploymentId).toBe("prod1");
    expect(store.liveFunction("octo/hello", "hello", "pr-7")?.deploymentId).toBe("pr1");
    expect(store.liveFunctions("octo/hello").map((fn) => fn.environment)).toEqual(["production"]);
    expect(store.allLiveFunctions().map((fn) => fn.environment).sort()).toEqual(["pr-7", "production"]);
    store.setLiveFunctions("octo/hello", { id: "prod2", commit: SHA_A, image: "img:prod2" }, [hello]);
    expect(store.liveFunction("octo/hello", "hello", "pr-7")?.deploymentId).toBe("pr1");
    expect(store.removeLiveFunctions("octo/hello", "pr-7")).toEqual(["hello"]);
    expect(store.liveFunction("octo/hello", "hello", "pr-7")).toBeUndefined();
    expect(store.liveFunction("octo/hello", "hello")?.deploymentId).toBe("prod2");
  });
});
