import Database from "better-sqlite3";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { DATABASE_FILE_NAME } from "../src/eserveless.js";
import { prepareDataDir } from "../src/prepare-data-dir.js";
import { unreachableDocker, wireApp, type WiredApp } from "./support/wire-app.js";

const modeOf = (path: string) => (statSync(path).mode & 0o777).toString(8);

const made: string[] = [];
const running: WiredApp[] = [];
afterEach(async () => {
  for (const app of running.splice(0)) await app.close();
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A folder under a fresh temporary one (mkdtemp makes that one 0700 itself). */
function scratch(): string {
  const parent = mkdtempSync(join(tmpdir(), "eserveless-data-"));
  made.push(parent);
  return join(parent, "data");
}

/** A pino logger whose lines the test reads. */
function capturedLog() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString("utf8")) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: "info" }, stream), lines };
}

describe("DATA_DIR", () => {
  it("is created readable by its owner only, with the database, its -wal and -shm files and the instance id 0600", async () => {
    const dataDir = scratch();
    const wired = await wireApp({ docker: unreachableDocker(), env: { DATA_DIR: dataDir } });
    running.push(wired);
    // A write, so the -wal file holds something while the database is open.
    wired.store.upsertRepository({ fullName: "octo/modes", installationId: 1 });
    const database = join(dataDir, DATABASE_FILE_NAME);
    expect(existsSync(`${database}-wal`)).toBe(true);
    expect(existsSync(`${database}-shm`)).toBe(true);
    expect({
      dir: modeOf(dataDir),
      database: modeOf(database),
      wal: modeOf(`${database}-wal`),
      shm: modeOf(`${database}-shm`),
      instanceId: modeOf(join(dataDir, "instance-id")),
    }).toEqual({ dir: "700", database: "600", wal: "600", shm: "600", instanceId: "600" });
  });

  it("is tightened at start when an earlier version left it and its files open to other users", async () => {
    const dataDir = scratch();
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o755);
    // What an earlier version left: a 0644 database and instance id in a 0755 folder.
    const database = join(dataDir, DATABASE_FILE_NAME);
    const old = new Database(database);
    old.pragma("journal_mode = WAL");
    old.close();
    chmodSync(database, 0o644);
    writeFileSync(join(dataDir, "instance-id"), "0123456789abcdef\n", { mode: 0o644 });
    chmodSync(join(dataDir, "instance-id"), 0o644);
    expect([modeOf(dataDir), modeOf(database)]).toEqual(["755", "644"]);

    const wired = await wireApp({ docker: unreachableDocker(), env: { DATA_DIR: dataDir } });
    running.push(wired);
    wired.store.upsertRepository({ fullName: "octo/modes", installationId: 1 });
    expect({
      dir: modeOf(dataDir),
      database: modeOf(database),
      wal: modeOf(`${database}-wal`),
      shm: modeOf(`${database}-shm`),
      instanceId: modeOf(join(dataDir, "instance-id")),
    }).toEqual({ dir: "700", database: "600", wal: "600", shm: "600", instanceId: "600" });
  });

  it("says so in the log when it tightens a folder, and only then", () => {
    const dataDir = scratch();
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o755);
    const first = capturedLog();
    prepareDataDir(dataDir, first.log);
    expect(modeOf(dataDir)).toBe("700");
    expect(first.lines).toEqual([
      expect.objectContaining({ level: 40, dataDir, was: "755", now: "700", msg: "DATA_DIR was open to other users; it is now readable by its owner only (0700)" }),
    ]);
    const again = capturedLog();
    prepareDataDir(dataDir, again.log);
    expect(again.lines).toEqual([]);
  });
});
