import { createHash, timingSafeEqual } from "node:crypto";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { EserveslessError, UnauthorizedError } from "../errors.js";
import { clientAddress, type SignInLimiter } from "./dashboard/sign-in-limiter.js";

/**
 * The limit on wrong admin tokens that the API shares with the dashboard's
 * sign-in form: a guesser gets the same few tries a minute whichever door it
 * knocks on.
 */
export interface TokenGuard {
  limiter: SignInLimiter;
  /** Whether an address is a trusted proxy, whose X-Forwarded-For names the client. */
  isTrusted: (address: string | undefined) => boolean;
}

// Hashing first gives equal lengths, so the comparison leaks neither content nor length.
const digest = (text: string) => createHash("sha256").update(text).digest();

/** Compares two secrets in constant time. */
export function safeEqual(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** Whether an Authorization header is `Bearer <token>` with the admin token: eserveless' own credential. */
export function isAdminBearer(header: string | undefined, token: string | undefined): boolean {
  if (!token || !header) return false;
  const match = /^Bearer\s+(.+)$/i.exec(header);
  return match !== null && safeEqual(match[1]!.trim(), token);
}

const refused = (c: Context) => {
  c.header("WWW-Authenticate", 'Bearer realm="eserveless"');
  return new UnauthorizedError("Missing or wrong admin token: send Authorization: Bearer $ESERVELESS_ADMIN_TOKEN.");
};

/** Refuses a request from a client past its share of wrong tokens (429, Retry-After), before its token is compared. */
function checkLimit(c: Context, guard: TokenGuard | undefined): string | undefined {
  if (!guard) return undefined;
  const address = clientAddress(c, guard.isTrusted);
  const refusal = guard.limiter.check(address);
  if (refusal) {
    const seconds = Math.ceil(refusal.retryAfterMs / 1000);
    const who = refusal.scope === "address" ? "from your address" : "to this server from many addresses";
    throw new EserveslessError(`Too many wrong admin tokens were sent ${who}: wait ${seconds} s, then send the right one (ESERVELESS_ADMIN_TOKEN).`, {
      status: 429,
      code: "too_many_wrong_tokens",
      headers: { "Retry-After": String(seconds) },
    });
  }
  return address;
}

/**
 * Whether the request's bearer token is the admin token; a wrong one counts
 * against the client's limit. A request with no Authorization header guesses
 * nothing, so it is refused without counting: anonymous visitors behind one
 * proxy address must not lock the operator out.
 */
function verify(c: Context, token: string, guard: TokenGuard | undefined): boolean {
  if (c.req.header("authorization") === undefined) return false;
  const address = checkLimit(c, guard);
  if (isAdminBearer(c.req.header("authorization"), token)) return true;
  if (address !== undefined) guard!.limiter.failed(address);
  return false;
}

/**
 * For routes that anyone may read, and that show more with the admin token:
 * true when the request carries it, false when it carries no Authorization
 * header (or the server has no token). A wrong token is a 401, not a quiet
 * fall back to the anonymous answer.
 */
export function hasAdminToken(c: Context, token: string | undefined, guard?: TokenGuard): boolean {
  if (c.req.header("authorization") === undefined || !token) return false;
  if (!verify(c, token, guard)) throw refused(c);
  return true;
}

/**
 * Requires `Authorization: Bearer <token>` equal to the admin token. Without
 * a configured token the route is disabled (503) rather than open.
 */
export function bearerAuth(token: string | undefined, guard?: TokenGuard) {
  return createMiddleware(async (c, next) => {
    if (!token) {
      throw new EserveslessError("This endpoint is disabled: set ESERVELESS_ADMIN_TOKEN on the server to enable it.", {
        status: 503,
        code: "admin_token_unset",
      });
    }
    if (!verify(c, token, guard)) throw refused(c);
    await next();
  });
}
