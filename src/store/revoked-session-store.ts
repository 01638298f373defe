import type Database from "better-sqlite3";
import { createHash } from "node:crypto";

// Only a hash of the id is kept: the table never holds a session's secret, even a dead one.
const hashOf = (sessionId: string) => createHash("sha256").update(sessionId).digest("base64url");

/** The dashboard sessions that were signed out. */
export type RevokedSessionStore = ReturnType<typeof createRevokedSessionStore>;

/**
 * The revoked_sessions table of `db`: dashboard sign-outs, kept across
 * restarts until the session would have expired anyway, then forgotten.
 * `now` is the clock, in milliseconds.
 */
export function createRevokedSessionStore(db: Database.Database, options: { now: () => number }) {
  const { now } = options;
  const prune = db.prepare(`DELETE FROM revoked_sessions WHERE expires_at <= ?`);
  const insert = db.prepare(`INSERT OR REPLACE INTO revoked_sessions (session_hash, expires_at) VALUES (?, ?)`);
  const find = db.prepare(`SELECT 1 FROM revoked_sessions WHERE session_hash = ? AND expires_at > ?`);
  return {
    /** Revokes a session until `expiresAt`, its cookie's end; forgets the revocations past theirs. */
    revokeSession(sessionId: string, expiresAt: number): void {
      db.transaction(() => {
        prune.run(now());
        insert.run(hashOf(sessionId), expiresAt);
      })();
    },

    /** Whether a session was signed out (and has not expired since). */
    isSessionRevoked(sessionId: string): boolean {
      return find.get(hashOf(sessionId), now()) !== undefined;
    },
  };
}
