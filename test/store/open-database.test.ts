import Database from "better-sqlite3";
import { parse } from "valibot";
import { describe, expect, it } from "vitest";
import { StoredSpecSchema } from "../../src/manifest/manifest-schema.js";
import { createCronRunStore } from "../../src/store/cron-run-store.js";
import { createLiveFunctionStore } from "../../src/store/live-function-store.js";
import { createRepositoryStore } from "../../src/store/repository-store.js";
import { useTempStore } from "../support/temp-store.js";

const SHA = "c".repeat(40);

const temp = useTempStore((db, clock) => ({ ...createRepositoryStore(db, clock), ...createLiveFunctionStore(db), ...createCronRunStore(db, clock) }));

const tablesOf = (db: Database.Database) =>
  (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as Array<{ name: string }>).map((r) => r.name);

describe("openDatabase", () => {
  it("brings a database written before the latest migration up to date in place, keeping its data", () => {
    temp.store.upsertRepository({ fullName: "octo/old", installationId: 5, defaultBranch: "main" });
    temp.db.close();

    // Turn the file back into one of the previous version: one migration less, without the table it created last.
    const raw = new Database(temp.path);
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

    temp.reopen();
    expect(temp.store.getRepository("octo/old")).toEqual({ fullName: "octo/old", installationId: 5, defaultBranch: "main" });
    temp.db.close();
    const upgraded = new Database(temp.path, { readonly: true });
    try {
      expect(upgraded.pragma("user_version", { simple: true })).toBe(version);
      expect(tablesOf(upgraded)).toEqual(current);
    } finally {
      upgraded.close();
    }
  });

  it("adds cron_runs to a database created before it, keeping its live functions", () => {
    const spec = parse(StoredSpecSchema, { type: "cron", name: "Nightly", schedule: "* * * * *", runtime: "node" });
    temp.store.setLiveFunctions("octo-org/cron", { id: "d1", commit: SHA, image: "img" }, [spec]);
    temp.db.close();
    // Back to the first schema version: no cron_runs table, nor the later ones.
    const raw = new Database(temp.path);
    raw.exec("DROP TABLE cron_runs; DROP TABLE function_output");
    raw.pragma("user_version = 1");
    raw.close();

    const store = temp.reopen();
    expect(store.liveFunctions()).toHaveLength(1);
    const run = store.createRun({ repository: "octo-org/cron", function: "Nightly", deploymentId: "d1", commit: SHA, trigger: "schedule", state: "running" });
    expect(store.getRun(run.id)?.state).toBe("running");
  });
});
