import Database from "better-sqlite3";
import { renameSync, rmSync } from "node:fs";
import { parse } from "valibot";
import { describe, expect, it } from "vitest";
import { StoredSpecSchema } from "../../src/manifest/manifest-schema.js";
import { createCronRunStore } from "../../src/store/cron-run-store.js";
import { createDeploymentStore, PRODUCTION } from "../../src/store/deployment-store.js";
import { createLiveFunctionStore } from "../../src/store/live-function-store.js";
import { MIGRATIONS } from "../../src/store/open-database.js";
import { createRepositoryStore } from "../../src/store/repository-store.js";
import { useTempStore } from "../support/temp-store.js";

const SHA = "c".repeat(40);

const temp = useTempStore((db, clock) => ({
  ...createRepositoryStore(db, clock),
  ...createDeploymentStore(db, clock),
  ...createLiveFunctionStore(db),
  ...createCronRunStore(db, clock),
}));

/** Every table with its columns, and every index, as SQLite describes them. */
function schemaOf(db: Database.Database) {
  const objects = db.prepare(`SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name`).all() as Array<{ type: string; name: string }>;
  return objects.map((o) => ({ ...o, columns: o.type === "table" ? db.prepare(`SELECT name, type, "notnull", dflt_value FROM pragma_table_info(?)`).all(o.name) : [] }));
}

/**
 * Replaces the test's database with one that a version knowing only the first
 * `steps` migrations wrote, holding what `seed` puts in it. Open it again with
 * `temp.reopen()`, as that version's successor would.
 */
function writtenBy(steps: number, seed: (raw: Database.Database) => void = () => {}): void {
  temp.db.close();
  const old = `${temp.path}.old`;
  const raw = new Database(old);
  for (const sql of MIGRATIONS.slice(0, steps)) raw.exec(sql);
  raw.pragma(`user_version = ${steps}`);
  seed(raw);
  raw.close();
  for (const suffix of ["-wal", "-shm"]) rmSync(`${temp.path}${suffix}`, { force: true });
  renameSync(old, temp.path);
}

describe("openDatabase", () => {
  it("brings a database of each earlier schema version up to the latest in place, keeping its data", () => {
    const latest = schemaOf(temp.db);
    for (let steps = 1; steps < MIGRATIONS.length; steps++) {
      writtenBy(steps, (raw) =>
        raw.prepare(`INSERT INTO repositories (full_name, installation_id, default_branch, updated_at) VALUES ('octo/old', 5, 'main', 1)`).run(),
      );
      const store = temp.reopen();
      expect(store.getRepository("octo/old"), `from version ${steps}`).toEqual({ fullName: "octo/old", installationId: 5, defaultBranch: "main" });
      expect(temp.db.pragma("user_version", { simple: true }), `from version ${steps}`).toBe(MIGRATIONS.length);
      expect(schemaOf(temp.db), `from version ${steps}`).toEqual(latest);
    }
  });

  it("adds cron_runs to a database created before it, keeping its live functions", () => {
    const spec = parse(StoredSpecSchema, { type: "cron", name: "Nightly", schedule: "* * * * *", runtime: "node" });
    writtenBy(1, (raw) =>
      raw
        .prepare(`INSERT INTO functions (repository, name, type, deployment_id, commit_sha, image, spec) VALUES (?, ?, ?, ?, ?, ?, ?)`)
        .run("octo-org/cron", "Nightly", "cron", "d1", SHA, "img", JSON.stringify(spec)),
    );
    const store = temp.reopen();
    expect(store.liveFunctions()).toHaveLength(1);
    const run = store.createRun({ repository: "octo-org/cron", function: "Nightly", deploymentId: "d1", commit: SHA, trigger: "schedule", state: "running" });
    expect(store.getRun(run.id)?.state).toBe("running");
  });

  it("makes the log lines written before they were told apart private: any of them may quote a function's output", () => {
    writtenBy(3, (raw) => {
      raw
        .prepare(`INSERT INTO deployments (id, repository, commit_sha, ref, trigger, state, created_at) VALUES ('0123456789ab', 'octo/old', ?, 'refs/heads/main', 'push', 'failure', 1)`)
        .run(SHA);
      raw.prepare(`INSERT INTO deployment_logs (deployment_id, seq, at, line) VALUES ('0123456789ab', 1, 1, '  API | DATABASE_URL=postgres://…')`).run();
    });
    const store = temp.reopen();
    expect(store.deploymentLog("0123456789ab")).toEqual([{ seq: 1, at: 1, line: "  API | DATABASE_URL=postgres://…", private: true }]);
    // Lines written from now on say which they are.
    store.appendLog("0123456789ab", "Deployment failed");
    expect(store.deploymentLog("0123456789ab", 1)).toMatchObject([{ line: "Deployment failed", private: false }]);
  });

  it("files the deployments made before environments existed under production", () => {
    writtenBy(2, (raw) =>
      raw
        .prepare(`INSERT INTO deployments (id, repository, commit_sha, ref, trigger, state, created_at) VALUES ('0123456789ab', 'octo/old', ?, 'refs/heads/main', 'push', 'success', 1)`)
        .run(SHA),
    );
    const store = temp.reopen();
    expect(store.getDeployment("0123456789ab")).toMatchObject({ environment: PRODUCTION, commit: SHA });
    expect(store.deploymentOfCommit("octo/old", PRODUCTION, SHA)?.id).toBe("0123456789ab");
  });
});
