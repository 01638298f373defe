import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { parseSecretsKey } from "./secret-box.js";
import { SecretsKeyError, type SecretKeys } from "./secrets-store.js";

/** The key file under DATA_DIR, when ESERVELESS_SECRETS_KEY is unset. */
export const SECRETS_KEY_FILE_NAME = "secrets.key";

/**
 * The keys secrets are sealed with: ESERVELESS_SECRETS_KEY when set, else
 * DATA_DIR/secrets.key, made once (32 random bytes, base64, mode 0600) and
 * read at each start after. `previous` is ESERVELESS_SECRETS_KEY_PREVIOUS.
 * Throws a {@link SecretsKeyError} when the file holds no key.
 */
export function loadSecretKeys(input: {
  key: Buffer | undefined;
  previous: Buffer | undefined;
  dataDir: string;
  fs: { readFile(path: string): string; writeFile(path: string, data: string, options: { mode: number; flag: string }): void; chmod(path: string, mode: number): void };
}): { keys: SecretKeys; source: "environment" | "file" | "new file" } {
  const keys = (key: Buffer) => ({ key, ...(input.previous ? { previous: input.previous } : {}) });
  if (input.key) return { keys: keys(input.key), source: "environment" };
  const file = join(input.dataDir, SECRETS_KEY_FILE_NAME);
  let created = true;
  try {
    input.fs.writeFile(file, `${randomBytes(32).toString("base64")}\n`, { flag: "wx", mode: 0o600 });
  } catch (error) {
    // Made by an earlier start: the values stored are sealed with it.
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    created = false;
  }
  input.fs.chmod(file, 0o600);
  const key = parseSecretsKey(input.fs.readFile(file));
  if (!key) throw new SecretsKeyError(`${file} does not hold a secrets key (32 bytes, base64 or hex): restore it from your backup, or set ESERVELESS_SECRETS_KEY`);
  return { keys: keys(key), source: created ? "new file" : "file" };
}
