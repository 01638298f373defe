import type { IncomingHttpHeaders } from "node:http";
import { endToEndHeaders } from "../run/proxy.js";
import { PROBE_HEADER } from "../run/readiness.js";
import { isAdminBearer } from "./bearer-auth.js";
import { isSessionCookieName, mentionsSessionCookie } from "./dashboard/session.js";
import { forwardedHeaders, isForwardingHeader, type Peer } from "./forwarded-headers.js";

/** A Cookie header without eserveless' session cookie; undefined when nothing else is left. */
export function withoutSessionCookies(cookie: string): string | undefined {
  if (!mentionsSessionCookie(cookie)) return cookie;
  const kept = cookie
    .split(";")
    .map((pair) => pair.trim())
    .filter((pair) => pair !== "" && !isSessionCookieName(pair.split("=", 1)[0]!));
  return kept.length > 0 ? kept.join("; ") : undefined;
}

/**
 * The headers a function receives for a caller's request: end-to-end headers
 * only, never eserveless' own credentials (its session cookie, a bearer
 * admin token) nor the readiness probe header, and X-Forwarded-* from what
 * this server saw (see {@link forwardedHeaders}). Any other Authorization
 * header stays: a function may have callers of its own to authenticate.
 */
export function functionRequestHeaders(
  incoming: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
  context: { peer: Peer; adminToken: string | undefined },
): Record<string, string | string[]> {
  const trusted = context.peer.trusted;
  // What X-Forwarded-* a caller sent is dropped unless it is a trusted proxy; ours are added below.
  // Expect was answered here (node sends the 100 Continue), and the proxy's client cannot send it.
  const headers = endToEndHeaders(incoming, (name) => name === PROBE_HEADER || name === "expect" || (!trusted && isForwardingHeader(name)));
  const cookie = headers.cookie;
  if (cookie !== undefined) {
    const kept = withoutSessionCookies(Array.isArray(cookie) ? cookie.join("; ") : cookie);
    if (kept === undefined) delete headers.cookie;
    else headers.cookie = kept;
  }
  if (headers.authorization !== undefined && isAdminBearer(String(headers.authorization), context.adminToken)) delete headers.authorization;
  return Object.assign(headers, forwardedHeaders(incoming, context.peer));
}
