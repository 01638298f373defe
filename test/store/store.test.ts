import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createStore, type Store } from "../../src/store/store.js";

const SHA_A = "a".repeat(40);
const SHA_B = "b".repeat(40);

/** A clock the test moves by hand. */
function manualClock(start = 1_700_000_000_000) {
  const clock = { at: start, now: () => clock.at };
  return clock;
}

let dir: string;
let path: string;
let clock: ReturnType<typeof manualClock>;
let store: Store;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "eserveless-store-"));
  path = join(dir, "eserveless.db");
  clock = manualClock();
  store = createStore(path, { now: clock.now });
});

afterEach(() => {
  try {
    store.close();
  } catch {
    // already closed by the test
  }
  rmSync(dir, { recursive: true, force: true });
});

/** Closes the store and opens the same file again, as a restart does. */
function reopen(): Store {
  store.close();
  store = createStore(path, { now: clock.now });
  return store;
}

describe("createStore on a file", () => {
  it("keeps its data and schema across a reopen without migrating twice", () => {
    store.upsertRepository({ fullName: "octo/hello", installationId: 11, defaultBranch: "main" });
    const deployment = store.createDeployment({ repository: "octo/hello", commit: SHA_A, ref: "refs/heads/main", trigger: "push" });
    store.appendLog(deployment.id, "hello");

    reopen();
    expect(store.getRepository("octo/hello")).toEqual({ fullName: "octo/hello", installationId: 11, defaultBranch: "main" });
    expect(store.getDeployment(deployment.id)).toEqual(deployment);
    expect(store.deploymentLog(deployment.id).map((l) => l.line)).toEqual(["hello"]);

    reopen(); // a third open must not re-run the migration either
    expect(store.listDeployments()).toHaveLength(1);
    store.close();
    const raw = new Database(path, { readonly: true });
    try {
      expect(raw.pragma("user_version", { simple: true })).toBeGreaterThanOrEqual(1);
      expect(raw.pragma("journal_mode", { simple: true })).toBe("wal");
    } finally {
      raw.close();
    }
  });

  it("brings a database written before the latest migration up to date in place, keeping its data", () => {
    store.upsertRepository({ fullName: "octo/old", installationId: 5, defaultBranch: "main" });
    store.close();
    const tablesOf = (db: Database.Database) =>
      (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as Array<{ name: string }>).map((r) => r.name);

    // Turn the file back into one of the previous version: one migration less, without the table it created last.
    const raw = new Database(path);
    const version = raw.pragma("user_version", { simple: true }) as number;
    const current = tablesOf(raw);
    try {
      expect(version).toBeGreaterThan(1);
      const newest = raw.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid DESC LIMIT 1`).get() as { name: string };
      raw.exec(`DROP TABLE ${newest.name}`);
      raw.pragma(`user_version = ${version - 1}`);
      expect(tablesOf(raw)).not.toEqual(current);
    } finally {
      raw.close();
    }

    reopen();
    expect(store.getRepository("octo/old")).toEqual({ fullName: "octo/old", installationId: 5, defaultBranch: "main" });
    store.close();
    const upgraded = new Database(path, { readonly: true });
    try {
      expect(upgraded.pragma("user_version", { simple: true })).toBe(version);
      expect(tablesOf(upgraded)).toEqual(current);
    } finally {
      upgraded.close();
    }
  });

  it("dedupes deliveries, even after a restart", () => {
    expect(store.recordDelivery("d-1", "push")).toBe(true);
    expect(store.recordDelivery("d-1", "push")).toBe(false);
    expect(store.recordDelivery("d-2", "push")).toBe(true);
    reopen();
    expect(store.recordDelivery("d-1", "push")).toBe(false);
    expect(store.recordDelivery("d-3", "ping")).toBe(true);
  });

  it("forgets delivery ids after a month, so the table does not grow without end", () => {
    expect(store.recordDelivery("old", "push")).toBe(true);
    clock.at += 31 * 24 * 60 * 60 * 1000;
    for (let i = 0; i < 100; i++) store.recordDelivery(`new-${i}`, "push");
    // Forgotten: the same id counts as new again.
    expect(store.recordDelivery("old", "push")).toBe(true);
    expect(store.recordDelivery("new-5", "push")).toBe(false);
  });
});

describe("repositories", () => {
  it("upserts the installation and keeps a known default branch when none is given", () => {
    store.upsertRepository({ fullName: "Octo/Hello", installationId: 1, defaultBranch: "main" });
    store.upsertRepository({ fullName: "octo/hello", installationId: 2 });
    expect(store.getRepository("OCTO/HELLO")).toEqual({ fullName: "Octo/Hello", installationId: 2, defaultBranch: "main" });

    store.upsertRepository({ fullName: "octo/hello", installationId: 2, defaultBranch: "trunk" });
    expect(store.getRepository("octo/hello")?.defaultBranch).toBe("trunk");
    expect(store.getRepository("octo/other")).toBeUndefined();
  });

  it("forgets a whole installation, and only that one", () => {
    store.upsertRepository({ fullName: "octo/a", installationId: 1 });
    store.upsertRepository({ fullName: "octo/b", installationId: 1 });
    store.upsertRepository({ fullName: "other/c", installationId: 2 });
    store.forgetInstallation(1);
    expect(store.getRepository("octo/a")?.installationId).toBeNull();
    expect(store.getRepository("octo/b")?.installationId).toBeNull();
    expect(store.getRepository("other/c")?.installationId).toBe(2);
  });

  it("forgets only the named repositories of an installation, whatever their case", () => {
    store.upsertRepository({ fullName: "octo/a", installationId: 1 });
    store.upsertRepository({ fullName: "octo/b", installationId: 1 });
    store.upsertRepository({ fullName: "octo/c", installationId: 3 });
    store.forgetInstallation(1, ["OCTO/A", "octo/c"]);
    expect(store.getRepository("octo/a")?.installationId).toBeNull();
    expect(store.getRepository("octo/b")?.installationId).toBe(1);
    // octo/c belongs to another installation: removing it from installation 1 must not touch it.
    expect(store.getRepository("octo/c")?.installationId).toBe(3);
  });
});

describe("deployments", () => {
  it("records the lifecycle with the injected clock", () => {
    const created = store.createDeployment({ repository: "octo/hello", commit: SHA_A, ref: "refs/heads/main", trigger: "push" });
    expect(created).toMatchObject({
      repository: "octo/hello",
      commit: SHA_A,
      ref: "refs/heads/main",
      trigger: "push",
      state: "queued",
      description: null,
      image: null,
      warnings: [],
      functions: [],
      createdAt: clock.at,
      startedAt: null,
      finishedAt: null,
      coldStartMs: null,
    });
    expect(created.id).toMatch(/^[0-9a-f]{12}$/);
    const createdAt = clock.at;

    clock.at += 1000;
    store.updateDeployment(created.id, { state: "building" });
    const startedAt = clock.at;
    expect(store.getDeployment(created.id)).toMatchObject({ state: "building", startedAt, finishedAt: null });

    clock.at += 1000;
    store.updateDeployment(created.id, { state: "starting", image: "eserveless/octo-hello:aaaaaaa" });
    clock.at += 1000;
    store.updateDeployment(created.id, { state: "building" }); // a second "building" keeps the first start
    expect(store.getDeployment(created.id)).toMatchObject({ state: "building", startedAt, image: "eserveless/octo-hello:aaaaaaa" });

    clock.at += 5000;
    const functions = [{ name: "hello", type: "http", url: "http://localhost:3000/fn/octo/hello/hello" }];
    store.updateDeployment(created.id, { state: "success", description: "Deployed 1 function", warnings: ["slow build"], functions, coldStartMs: 420 });
    expect(store.getDeployment(created.id)).toEqual({
      ...created,
      state: "success",
      description: "Deployed 1 function",
      image: "eserveless/octo-hello:aaaaaaa",
      warnings: ["slow build"],
      functions,
      createdAt,
      startedAt,
      finishedAt: clock.at,
      coldStartMs: 420,
    });
  });

  it.each(["failure", "error", "superseded", "skipped"] as const)("sets finishedAt when a deployment ends as %s", (state) => {
    const deployment = store.createDeployment({ repository: "octo/hello", commit: SHA_A, ref: null, trigger: "redeploy" });
    clock.at += 250;
    store.updateDeployment(deployment.id, { state, description: "why" });
    expect(store.getDeployment(deployment.id)).toMatchObject({ state, description: "why", startedAt: null, finishedAt: clock.at });
  });

  it("lists deployments newest first, per repository whatever its case, with a limit", () => {
    const first = store.createDeployment({ repository: "Octo/Hello", commit: SHA_A, ref: null, trigger: "push" });
    const second = store.createDeployment({ repository: "octo/hello", commit: SHA_B, ref: null, trigger: "push" }); // same millisecond
    clock.at += 10;
    const other = store.createDeployment({ repository: "octo/other", commit: SHA_A, ref: null, trigger: "local" });
    clock.at += 10;
    const third = store.createDeployment({ repository: "octo/hello", commit: SHA_A, ref: null, trigger: "redeploy" });

    expect(store.listDeployments("OCTO/HELLO").map((d) => d.id)).toEqual([third.id, second.id, first.id]);
    expect(store.listDeployments().map((d) => d.id)).toEqual([third.id, other.id, second.id, first.id]);
    expect(store.listDeployments(undefined, 2).map((d) => d.id)).toEqual([third.id, other.id]);
    expect(store.getDeployment("nope")).toBeUndefined();
  });
});

describe("deployment logs", () => {
  it("numbers lines per deployment and follows them with afterSeq", () => {
    const a = store.createDeployment({ repository: "octo/a", commit: SHA_A, ref: null, trigger: "push" });
    const b = store.createDeployment({ repository: "octo/b", commit: SHA_B, ref: null, trigger: "push" });
    expect(store.appendLog(a.id, "one")).toBe(1);
    clock.at += 5;
    expect(store.appendLog(a.id, "two")).toBe(2);
    expect(store.appendLog(b.id, "b one")).toBe(1);
    clock.at += 5;
    expect(store.appendLog(a.id, "three")).toBe(3);

    expect(store.deploymentLog(a.id)).toEqual([
      { seq: 1, at: clock.at - 10, line: "one" },
      { seq: 2, at: clock.at - 5, line: "two" },
      { seq: 3, at: clock.at, line: "three" },
    ]);
    expect(store.deploymentLog(a.id, 2)).toEqual([{ seq: 3, at: clock.at, line: "three" }]);
    expect(store.deploymentLog(a.id, 3)).toEqual([]);
    expect(store.deploymentLog(b.id).map((l) => l.line)).toEqual(["b one"]);
  });

  it("keeps only the newest 5000 lines, and keeps numbering after the cap", () => {
    const deployment = store.createDeployment({ repository: "octo/chatty", commit: SHA_A, ref: null, trigger: "push" });
    const total = 5003;
    for (let i = 1; i <= total; i++) store.appendLog(deployment.id, `line ${i}`);

    const log = store.deploymentLog(deployment.id);
    expect(log).toHaveLength(5000);
    expect(log[0]).toMatchObject({ seq: 4, line: "line 4" });
    expect(log.at(-1)).toMatchObject({ seq: total, line: `line ${total}` });
    expect(store.deploymentLog(deployment.id, total - 2).map((l) => l.line)).toEqual([`line ${total - 1}`, `line ${total}`]);

    expect(store.appendLog(deployment.id, "after the cap")).toBe(total + 1);
    const trimmed = store.deploymentLog(deployment.id);
    expect(trimmed).toHaveLength(5000);
    expect(trimmed[0]?.seq).toBe(5);
  });
});

describe("live functions", () => {
  const spec = (path: string) => ({ path, memory: "128m" });

  it("replaces a repository's functions as a whole and leaves other repositories alone", () => {
    store.setLiveFunctions("octo/hello", { id: "dep1", commit: SHA_A, image: "img:1" }, [
      { name: "hello", type: "http", spec: spec("/hello") },
      { name: "nightly", type: "cron", spec: { schedule: "0 3 * * *" } },
    ]);
    store.setLiveFunctions("octo/other", { id: "dep9", commit: SHA_B, image: "img:9" }, [{ name: "hello", type: "http", spec: spec("/x") }]);

    expect(store.liveFunctions("octo/hello")).toEqual([
      { repository: "octo/hello", name: "hello", type: "http", deploymentId: "dep1", commit: SHA_A, image: "img:1", spec: spec("/hello") },
      { repository: "octo/hello", name: "nightly", type: "cron", deploymentId: "dep1", commit: SHA_A, image: "img:1", spec: { schedule: "0 3 * * *" } },
    ]);

    store.setLiveFunctions("octo/hello", { id: "dep2", commit: SHA_B, image: "img:2" }, [{ name: "bye", type: "http", spec: spec("/bye") }]);
    expect(store.liveFunctions("octo/hello").map((f) => [f.name, f.deploymentId])).toEqual([["bye", "dep2"]]);
    expect(store.liveFunction("octo/hello", "hello")).toBeUndefined();
    expect(store.liveFunction("octo/other", "hello")?.deploymentId).toBe("dep9");
    expect(store.liveFunctions().map((f) => `${f.repository}/${f.name}`)).toEqual(["octo/hello/bye", "octo/other/hello"]);

    store.setLiveFunctions("octo/hello", { id: "dep3", commit: SHA_A, image: "img:3" }, []);
    expect(store.liveFunctions("octo/hello")).toEqual([]);
  });

  it("looks functions up whatever the case of the repository and the name", () => {
    store.setLiveFunctions("Octo/Hello", { id: "dep1", commit: SHA_A, image: "img:1" }, [{ name: "Hello", type: "http", spec: {} }]);
    expect(store.liveFunction("octo/hello", "hello")?.name).toBe("Hello");
    expect(store.liveFunction("OCTO/HELLO", "HELLO")?.deploymentId).toBe("dep1");
    // A new deployment spelled in another case replaces, rather than adds to, the old functions.
    store.setLiveFunctions("octo/hello", { id: "dep2", commit: SHA_B, image: "img:2" }, [{ name: "hello", type: "http", spec: {} }]);
    expect(store.liveFunctions("OCTO/hello")).toHaveLength(1);
    expect(store.liveFunction("octo/HELLO", "HeLLo")?.deploymentId).toBe("dep2");
  });

  it("keeps the previous functions when a switch fails half-way", () => {
    store.setLiveFunctions("octo/hello", { id: "dep1", commit: SHA_A, image: "img:1" }, [{ name: "hello", type: "http", spec: {} }]);
    // Two functions that differ only in case collide on the (case-insensitive) key after the first insert.
    expect(() =>
      store.setLiveFunctions("octo/hello", { id: "dep2", commit: SHA_B, image: "img:2" }, [
        { name: "api", type: "http", spec: {} },
        { name: "API", type: "http", spec: {} },
      ]),
    ).toThrow();
    expect(store.liveFunctions("octo/hello").map((f) => [f.name, f.deploymentId])).toEqual([["hello", "dep1"]]);
  });

  it("survives a restart", () => {
    store.setLiveFunctions("octo/hello", { id: "dep1", commit: SHA_A, image: "img:1" }, [{ name: "hello", type: "http", spec: spec("/") }]);
    reopen();
    expect(store.liveFunction("octo/hello", "hello")).toMatchObject({ deploymentId: "dep1", image: "img:1", spec: spec("/") });
  });
});
