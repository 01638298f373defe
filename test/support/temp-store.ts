import type Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach } from "vitest";
import { openDatabase } from "../../src/store/open-database.js";

/** A secrets key for stores that tests open (and reopen) with createStore. */
export const TEST_SECRET_KEYS = { key: Buffer.alloc(32, 7) };

/** A clock the test moves by hand (`clock.at += 1000`). */
export interface ManualClock {
  at: number;
  now(): number;
}

export function manualClock(start = 1_700_000_000_000): ManualClock {
  const clock = { at: start, now: () => clock.at };
  return clock;
}

/**
 * For each test, a real SQLite file in a fresh temporary folder, opened (and
 * migrated) as the store opens it, and a slice of the store made by `create`
 * over it, on a clock the test moves by hand. `reopen` closes the file and
 * opens it again, as a restart does.
 */
export function useTempStore<T>(create: (db: Database.Database, clock: ManualClock) => T) {
  let current: { dir: string; path: string; db: Database.Database; store: T; clock: ManualClock } | undefined;
  const get = () => {
    if (!current) throw new Error("useTempStore: used outside a test");
    return current;
  };

  beforeEach(() => {
    const dir = mkdtempSync(join(tmpdir(), "eserveless-store-"));
    const path = join(dir, "eserveless.db");
    const clock = manualClock();
    const db = openDatabase(path);
    current = { dir, path, db, store: create(db, clock), clock };
  });

  afterEach(() => {
    const { db, dir } = get();
    if (db.open) db.close();
    rmSync(dir, { recursive: true, force: true });
    current = undefined;
  });

  return {
    get store(): T {
      return get().store;
    },
    get db(): Database.Database {
      return get().db;
    },
    get path(): string {
      return get().path;
    },
    get clock(): ManualClock {
      return get().clock;
    },
    /** Closes the database and opens the same file again, as a restart does. */
    reopen(): T {
      const state = get();
      state.db.close();
      state.db = openDatabase(state.path);
      state.store = create(state.db, state.clock);
      return state.store;
    },
  };
}
