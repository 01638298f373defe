import type Database from "better-sqlite3";
import * as v from "valibot";
import { SECRET_ENVIRONMENTS, secretNameProblem, secretValueProblem, type SecretEnvironment } from "../contract/secret.js";
import { BadRequestError } from "../errors.js";
import { parseRow } from "./parse-row.js";
import { open, seal } from "./secret-box.js";

/** The key values are sealed with, and the one they may still be sealed with (re-encrypted at open). */
export interface SecretKeys {
  key: Buffer;
  /** ESERVELESS_SECRETS_KEY_PREVIOUS: values it opens are sealed again under `key` when the store opens. */
  previous?: Buffer | undefined;
}

/** The key does not open the values stored: the start stops, the database untouched. */
export class SecretsKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SecretsKeyError";
  }
}

/** A secret without its value. */
export interface StoredSecret {
  repository: string;
  environment: SecretEnvironment;
  name: string;
  updatedAt: number;
}

/**
 * The secrets of projects, whatever keeps them. eserveless's own encrypted
 * table is the source of truth (for masking, listing, and because Swarm never
 * gives a value back); a Swarm backend would mirror it into Docker secrets.
 */
export interface SecretStore {
  /** Stores a value (refused with the reason when its name or value breaks a rule); returns when. */
  setSecret(input: { repository: string; environment: SecretEnvironment; name: string; value: string }): { updatedAt: number };
  /** Deletes one; false when it was not set. */
  deleteSecret(repository: string, environment: SecretEnvironment, name: string): boolean;
  /** A project's secrets (names, environment, last change), by name. */
  listSecrets(repository: string): StoredSecret[];
  /** The values of those of `names` that are set in `environment`, by name: for a container being created. */
  secretValues(repository: string, environment: SecretEnvironment, names: readonly string[]): Record<string, string>;
  /** `text` with every known value (and each line of a value of several lines) replaced by `***`. */
  maskSecrets(text: string): string;
}

/** Shorter values are not masked: they would match everywhere, and guard nothing. */
export const MIN_MASKED_CHARS = 4;
export const MASK = "***";

const SecretRow = v.pipe(
  v.object({ repository: v.string(), environment: v.picklist(SECRET_ENVIRONMENTS), name: v.string(), sealed: v.string(), updated_at: v.number() }),
  v.transform((row) => ({ repository: row.repository, environment: row.environment, name: row.name, sealed: row.sealed, updatedAt: row.updated_at })),
);
type Row = v.InferOutput<typeof SecretRow>;
const UNREADABLE = ["a secret", "restore the database from a backup, or delete the secret and set it again"] as const;

/** What a sealed value is bound to: a value copied onto another row (repository, environment, name) does not open. */
const contextOf = (row: { repository: string; environment: string; name: string }) => `${row.repository.toLowerCase()}\0${row.environment}\0${row.name}`;

/**
 * Opens every stored value with `keys.key`; those only `keys.previous` opens
 * are sealed again under `key`, in one transaction. Throws a
 * {@link SecretsKeyError}, changing nothing, when a value opens with neither.
 * Returns how many were sealed again.
 */
function checkKeys(db: Database.Database, keys: SecretKeys): number {
  const rows = db.prepare(`SELECT * FROM secrets`).all().map((row) => parseRow(SecretRow, row, ...UNREADABLE));
  const reseal: Array<{ row: Row; value: string }> = [];
  let unopened = 0;
  for (const row of rows) {
    if (open(keys.key, row.sealed, contextOf(row)) !== undefined) continue;
    const value = keys.previous ? open(keys.previous, row.sealed, contextOf(row)) : undefined;
    if (value === undefined) unopened++;
    else reseal.push({ row, value });
  }
  if (unopened > 0) {
    throw new SecretsKeyError(
      `The secrets key does not open ${unopened} of the ${rows.length} secrets in the database: ESERVELESS_SECRETS_KEY (or DATA_DIR/secrets.key when it is unset) ` +
        `is not the key they were stored with${keys.previous ? ", nor is ESERVELESS_SECRETS_KEY_PREVIOUS" : ""}. Nothing was changed. ` +
        "Set the key they were stored with (restore DATA_DIR/secrets.key from your backup); to move to a new key, set the old one as ESERVELESS_SECRETS_KEY_PREVIOUS and the new one as ESERVELESS_SECRETS_KEY.",
    );
  }
  const update = db.prepare(`UPDATE secrets SET sealed = ? WHERE repository = ? AND environment = ? AND name = ?`);
  db.transaction(() => {
    for (const { row, value } of reseal) update.run(seal(keys.key, value, contextOf(row)), row.repository, row.environment, row.name);
  })();
  return reseal.length;
}

/**
 * The secrets table of `db`, values sealed with AES-256-GCM under
 * `keys.key` (see secret-box.ts). Opening checks the key against what is
 * stored (see {@link checkKeys}); `reencrypted` says how many values moved
 * from the previous key.
 */
export function createSecretStore(db: Database.Database, options: { now: () => number; keys: SecretKeys }): SecretStore & { reencrypted: number } {
  const { now, keys } = options;
  const reencrypted = checkKeys(db, keys);
  // Every value, opened once and kept in memory: containers are created and output is masked often.
  let values: Map<string, string> | undefined;
  let masks: string[] | undefined;
  const opened = () => {
    if (values) return values;
    values = new Map();
    for (const raw of db.prepare(`SELECT * FROM secrets`).all()) {
      const row = parseRow(SecretRow, raw, ...UNREADABLE);
      const value = open(keys.key, row.sealed, contextOf(row));
      if (value === undefined) throw new SecretsKeyError(`The secret ${row.name} of ${row.repository} does not open with the secrets key: the database was changed while eserveless ran; restore it from a backup`);
      values.set(contextOf(row), value);
    }
    return values;
  };
  const changed = () => {
    values = undefined;
    masks = undefined;
  };

  return {
    reencrypted,

    setSecret(input) {
      const problem = secretNameProblem(input.name) ?? secretValueProblem(input.value);
      if (problem) throw new BadRequestError(`Secret not set: ${problem}`, { code: "invalid_secret" });
      const updatedAt = now();
      db.prepare(
        `INSERT INTO secrets (repository, environment, name, sealed, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (repository, environment, name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at`,
      ).run(input.repository, input.environment, input.name, seal(keys.key, input.value, contextOf(input)), updatedAt);
      changed();
      return { updatedAt };
    },

    deleteSecret(repository, environment, name) {
      const { changes } = db.prepare(`DELETE FROM secrets WHERE repository = ? AND environment = ? AND name = ?`).run(repository, environment, name);
      changed();
      return changes > 0;
    },

    listSecrets(repository) {
      return db
        .prepare(`SELECT * FROM secrets WHERE repository = ? ORDER BY name, environment`)
        .all(repository)
        .map((raw) => {
          const { sealed: _sealed, ...secret } = parseRow(SecretRow, raw, ...UNREADABLE);
          return secret;
        });
    },

    secretValues(repository, environment, names) {
      const all = opened();
      const found: Record<string, string> = {};
      for (const name of names) {
        const value = all.get(contextOf({ repository, environment, name }));
        if (value !== undefined) found[name] = value;
      }
      return found;
    },

    maskSecrets(text) {
      masks ??= [...new Set([...opened().values()].flatMap((value) => [value, ...value.split(/\r?\n/)]))]
        .filter((value) => value.length >= MIN_MASKED_CHARS)
        // The longest first, so a value that contains another is masked whole.
        .sort((a, b) => b.length - a.length);
      let masked = text;
      for (const value of masks) if (masked.includes(value)) masked = masked.replaceAll(value, MASK);
      return masked;
    },
  };
}
