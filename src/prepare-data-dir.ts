import { chmodSync, mkdirSync, statSync } from "node:fs";
import type { Logger } from "pino";
import { ConfigError } from "./config.js";

/** DATA_DIR holds the database, the instance id and the GitHub App's private key: its owner only. */
export const DATA_DIR_MODE = 0o700;

/**
 * Makes DATA_DIR (and its parents) readable by this user only (0700). A
 * folder that exists with looser rights is tightened, with a warning that
 * says what changed; one that cannot be tightened stops the start with a
 * ConfigError that says how to fix it.
 */
export function prepareDataDir(dataDir: string, log: Pick<Logger, "warn">): void {
  mkdirSync(dataDir, { recursive: true, mode: DATA_DIR_MODE });
  const mode = statSync(dataDir).mode & 0o777;
  if ((mode & ~DATA_DIR_MODE) === 0) return;
  try {
    chmodSync(dataDir, DATA_DIR_MODE);
  } catch (cause) {
    throw new ConfigError([
      `DATA_DIR ${dataDir} is open to other users (mode ${mode.toString(8)}) and cannot be made 0700 (${(cause as Error).message}): ` +
        `run "chmod 700 ${dataDir}" as its owner, or run eserveless as the folder's owner`,
    ]);
  }
  log.warn({ dataDir, was: mode.toString(8), now: DATA_DIR_MODE.toString(8) }, "DATA_DIR was open to other users; it is now readable by its owner only (0700)");
}
