import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createStore, type Store } from "../../src/store/store.js";
import { manualClock, TEST_SECRET_KEYS, type ManualClock } from "../support/temp-store.js";

const SHA_A = "a".repeat(40);

let dir: string;
let path: string;
let clock: ManualClock;
let store: Store;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "eserveless-store-"));
  path = join(dir, "eserveless.db");
  clock = manualClock();
  store = createStore(path, { now: clock.now, secrets: TEST_SECRET_KEYS });
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
  store = createStore(path, { now: clock.now, secrets: TEST_SECRET_KEYS });
  return store;
}

describe("createStore on a file", () => {
  it("keeps the data of every slice and the schema across a reopen without migrating twice", () => {
    store.upsertRepository({ fullName: "octo/hello", installationId: 11, defaultBranch: "main" });
    const deployment = store.createDeployment({ repository: "octo/hello", commit: SHA_A, ref: "refs/heads/main", trigger: "push" });
    store.appendLog(deployment.id, "hello");
    expect(store.recordDelivery("d-1", "push")).toBe(true);
    const run = store.createRun({ repository: "octo/hello", function: "Nightly", deploymentId: deployment.id, commit: SHA_A, trigger: "manual", state: "running" });

    reopen();
    expect(store.getRepository("octo/hello")).toEqual({ fullName: "octo/hello", installationId: 11, defaultBranch: "main" });
    expect(store.getDeployment(deployment.id)).toEqual(deployment);
    expect(store.deploymentLog(deployment.id).map((l) => l.line)).toEqual(["hello"]);
    expect(store.recordDelivery("d-1", "push")).toBe(false);
    expect(store.getRun(run.id)).toEqual(run);

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

  it("shares one clock among its slices", () => {
    const deployment = store.createDeployment({ repository: "octo/hello", commit: SHA_A, ref: null, trigger: "push" });
    clock.at += 1234;
    const run = store.createRun({ repository: "octo/hello", function: "Nightly", deploymentId: deployment.id, commit: SHA_A, trigger: "manual", state: "running" });
    expect(run.startedAt - deployment.createdAt).toBe(1234);
  });
});
