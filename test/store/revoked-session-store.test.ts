import { describe, expect, it } from "vitest";
import { createRevokedSessionStore } from "../../src/store/revoked-session-store.js";
import { useTempStore } from "../support/temp-store.js";

const temp = useTempStore(createRevokedSessionStore);

const rows = () => (temp.db.prepare(`SELECT session_hash, expires_at FROM revoked_sessions`).all() as Array<{ session_hash: string; expires_at: number }>);

describe("revoked sessions", () => {
  it("are kept across a reopen until the session would have expired, then forgotten", () => {
    const ttl = 60_000;
    temp.store.revokeSession("session-one-0123456789ab", temp.clock.at + ttl);
    expect(temp.store.isSessionRevoked("session-one-0123456789ab")).toBe(true);
    expect(temp.store.isSessionRevoked("session-two-0123456789ab")).toBe(false);

    const reopened = temp.reopen();
    expect(reopened.isSessionRevoked("session-one-0123456789ab")).toBe(true);
    // The table holds no session id, only its hash.
    expect(JSON.stringify(rows())).not.toContain("session-one");

    temp.clock.at += ttl;
    // Expired, the cookie is refused for that alone; the next sign-out prunes the row.
    reopened.revokeSession("session-two-0123456789ab", temp.clock.at + ttl);
    expect(rows()).toEqual([{ session_hash: expect.any(String), expires_at: temp.clock.at + ttl }]);
    expect(reopened.isSessionRevoked("session-two-0123456789ab")).toBe(true);
  });
});
