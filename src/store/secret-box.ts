import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

/** AES-256-GCM: a 32-byte key, a 12-byte nonce of its own for each value, a 16-byte tag. */
const ALGORITHM = "aes-256-gcm";
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** The version of the sealed format, so that another can be told apart later. */
const PREFIX = "v1:";

/**
 * `value` encrypted under `key` with a fresh random nonce, bound to `context`
 * (its repository, environment and name): a sealed value copied onto another
 * row does not open. The result is text for a TEXT column.
 */
export function seal(key: Buffer, value: string, context: string): string {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(context));
  const encrypted = Buffer.concat([cipher.update(value, "utf8"), cipher.final()]);
  return PREFIX + Buffer.concat([nonce, cipher.getAuthTag(), encrypted]).toString("base64");
}

/** The value {@link seal} sealed, or undefined when `key` (or `context`) is not the one it was sealed with. */
export function open(key: Buffer, sealed: string, context: string): string | undefined {
  if (!sealed.startsWith(PREFIX)) return undefined;
  const bytes = Buffer.from(sealed.slice(PREFIX.length), "base64");
  if (bytes.length < NONCE_BYTES + TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv(ALGORITHM, key, bytes.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(bytes.subarray(NONCE_BYTES, NONCE_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(bytes.subarray(NONCE_BYTES + TAG_BYTES)), decipher.final()]).toString("utf8");
  } catch {
    // The tag does not match: another key, or the row was altered.
    return undefined;
  }
}

/** A key as ESERVELESS_SECRETS_KEY or DATA_DIR/secrets.key write it: 64 hex digits or base64 of 32 bytes; undefined otherwise. */
export function parseSecretsKey(text: string): Buffer | undefined {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, "hex");
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) return undefined;
  const key = Buffer.from(trimmed, trimmed.includes("-") || trimmed.includes("_") ? "base64url" : "base64");
  return key.length === 32 ? key : undefined;
}
