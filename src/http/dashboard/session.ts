import { hkdfSync, randomBytes } from "node:crypto";
import type { Context } from "hono";
import { deleteCookie, getSignedCookie, setSignedCookie } from "hono/cookie";
import type { RevokedSessionStore } from "../../store/revoked-session-store.js";
import { safeEqual } from "../bearer-auth.js";

/** How long a dashboard sign-in lasts. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
const COOKIE_NAME = "eserveless_session";
/** Every name the session cookie goes by: plain over http, with hono's `__Host-` prefix over https. */
export const SESSION_COOKIE_NAMES: readonly string[] = [COOKIE_NAME, `__Host-${COOKIE_NAME}`];
const lowerCaseNames = new Set(SESSION_COOKIE_NAMES.map((name) => name.toLowerCase()));
const anyName = new RegExp(SESSION_COOKIE_NAMES.map((name) => name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "i");

/** Whether a header value could name one of eserveless' cookies: a cheap test before parsing it. */
export function mentionsSessionCookie(text: string): boolean {
  return anyName.test(text);
}

/**
 * Whether a cookie name is one of eserveless' own. Compared case-insensitively
 * and trimmed: browsers treat `__host-` as the prefix too, and a function must
 * not get near the name under any spelling.
 */
export function isSessionCookieName(name: string): boolean {
  return lowerCaseNames.has(name.trim().toLowerCase());
}
type CookieOptions = NonNullable<Parameters<typeof setSignedCookie>[4]>;

export interface Session {
  id: string;
  expiresAt: number;
}

/**
 * Dashboard sign-ins. The cookie holds a random session id and its expiry,
 * signed (HMAC-SHA256, hono's signed cookies) with a key derived from the
 * admin token: it never carries the token, a new admin token voids every
 * session, and a forged or edited cookie fails the signature. Signing out
 * revokes the id in the store (so a restart does not revive the cookie) until
 * it would have expired anyway.
 */
export function createSessions(options: {
  adminToken: string | undefined;
  publicUrl: string;
  /** Where sign-outs are kept. */
  store: RevokedSessionStore;
  now?: () => number;
  ttlMs?: number;
}) {
  const { store } = options;
  const now = options.now ?? Date.now;
  const ttlMs = options.ttlMs ?? SESSION_TTL_MS;
  const key = options.adminToken
    ? new Uint8Array(hkdfSync("sha256", options.adminToken, "eserveless", "dashboard session cookie v1", 32))
    : undefined;
  // Served over https, the cookie takes the __Host- prefix: Secure, Path=/, no Domain.
  const secure = new URL(options.publicUrl).protocol === "https:";
  const cookieOptions: CookieOptions = { httpOnly: true, sameSite: "Strict", path: "/", ...(secure ? { secure: true, prefix: "host" } : {}) };

  return {
    /** False when no admin token is configured: the dashboard is then disabled. */
    enabled: key !== undefined,

    /** Whether `given` is the admin token, compared in constant time. */
    checkToken(given: string): boolean {
      return options.adminToken !== undefined && safeEqual(given, options.adminToken);
    },

    /** Starts a session: sets its signed cookie on the response. */
    async start(c: Context): Promise<Session> {
      if (!key) throw new Error("sessions are disabled without an admin token");
      const session = { id: randomBytes(18).toString("base64url"), expiresAt: now() + ttlMs };
      await setSignedCookie(c, COOKIE_NAME, `${session.id}.${session.expiresAt}`, key, {
        ...cookieOptions,
        maxAge: Math.floor(ttlMs / 1000),
        expires: new Date(session.expiresAt),
      });
      return session;
    },

    /** The request's session, when its cookie is signed by us, unexpired and not signed out. */
    async current(c: Context): Promise<Session | undefined> {
      if (!key) return undefined;
      const value = await getSignedCookie(c, key, COOKIE_NAME, secure ? "host" : undefined);
      if (!value) return undefined;
      const match = /^([A-Za-z0-9_-]{24})\.(\d{1,16})$/.exec(value);
      if (!match) return undefined;
      const session = { id: match[1]!, expiresAt: Number(match[2]) };
      if (session.expiresAt <= now() || store.isSessionRevoked(session.id)) return undefined;
      return session;
    },

    /** Ends the request's session, if any, and clears its cookie. */
    async end(c: Context): Promise<void> {
      const session = await this.current(c);
      if (session) store.revokeSession(session.id, session.expiresAt);
      deleteCookie(c, COOKIE_NAME, cookieOptions);
    },
  };
}

export type Sessions = ReturnType<typeof createSessions>;
