import type { IncomingHttpHeaders } from "node:http";
import { endToEndHeaders } from "../run/proxy.js";
import { isSessionCookieName, mentionsSessionCookie } from "./dashboard/session.js";

/**
 * The policy of function responses served on the dashboard's origin: an
 * opaque origin, so a function's page gets no cookies of that origin and its
 * requests to the dashboard are cross-origin, while scripts, forms and popups
 * still work.
 */
export const FUNCTION_SANDBOX = "sandbox allow-scripts allow-forms allow-popups";

/**
 * Whether a Set-Cookie value sets one of eserveless' own cookies. A nameless
 * cookie (`=eserveless_session=…`) counts too: browsers send it back as its
 * bare value, which reads as that name.
 */
export function setsSessionCookie(setCookie: string): boolean {
  if (!mentionsSessionCookie(setCookie)) return false;
  const pair = setCookie.split(";", 1)[0]!.replace(/^[\s=]+/, "");
  return isSessionCookieName(pair.split("=", 1)[0]!);
}

/**
 * The headers a caller gets from a function: end-to-end headers, without
 * Set-Cookie for eserveless' session cookie nor Service-Worker-Allowed (a
 * worker of one function must not take over other paths). With `sandbox`,
 * when functions share the dashboard's origin, {@link FUNCTION_SANDBOX} is
 * added beside any policy of the function's own (browsers enforce both), and
 * Clear-Site-Data goes: it acts on the whole origin, and would sign the
 * operator out of the dashboard.
 */
export function functionResponseHeaders(upstream: IncomingHttpHeaders, options: { sandbox: boolean }): Record<string, string | string[]> {
  const headers = endToEndHeaders(upstream, options.sandbox ? notOnSharedOrigin : notServed);
  const cookies = headers["set-cookie"];
  if (cookies !== undefined) {
    const kept = [cookies].flat().filter((cookie) => !setsSessionCookie(cookie));
    if (kept.length > 0) headers["set-cookie"] = kept;
    else delete headers["set-cookie"];
  }
  if (options.sandbox) {
    const own = headers["content-security-policy"];
    headers["content-security-policy"] = own === undefined ? FUNCTION_SANDBOX : [...[own].flat(), FUNCTION_SANDBOX];
  }
  return headers;
}

/** A function's headers no caller gets. */
const notServed = (name: string) => name === "service-worker-allowed";
/** …nor, on the dashboard's origin, Clear-Site-Data. */
const notOnSharedOrigin = (name: string) => name === "service-worker-allowed" || name === "clear-site-data";
