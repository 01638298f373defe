import { createHash, timingSafeEqual } from "node:crypto";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { EserveslessError, UnauthorizedError } from "../errors.js";

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

/**
 * For routes that anyone may read, and that show more with the admin token:
 * true when the request carries it, false when it carries no Authorization
 * header (or the server has no token). A wrong token is a 401, not a quiet
 * fall back to the anonymous answer.
 */
export function hasAdminToken(c: Context, token: string | undefined): boolean {
  const header = c.req.header("authorization");
  if (header === undefined || !token) return false;
  if (!isAdminBearer(header, token)) throw refused(c);
  return true;
}

/**
 * Requires `Authorization: Bearer <token>` equal to the admin token. Without
 * a configured token the route is disabled (503) rather than open.
 */
export function bearerAuth(token: string | undefined) {
  return createMiddleware(async (c, next) => {
    if (!token) {
      throw new EserveslessError("This endpoint is disabled: set ESERVELESS_ADMIN_TOKEN on the server to enable it.", {
        status: 503,
        code: "admin_token_unset",
      });
    }
    if (!isAdminBearer(c.req.header("authorization"), token)) throw refused(c);
    await next();
  });
}
