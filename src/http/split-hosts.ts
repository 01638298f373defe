import type { IncomingMessage } from "node:http";
import { createMiddleware } from "hono/factory";
import { NotFoundError } from "../errors.js";
import { FUNCTIONS_PATH, PREVIEWS_PATH } from "../urls.js";
import { hostnameOf, peerOf, requestHost } from "./forwarded-headers.js";
import { trustedProxies, type ProxyRange } from "./trusted-proxies.js";

/**
 * With ESERVELESS_FUNCTIONS_URL, function URLs answer only on its host and
 * everything else (dashboard, API, webhooks) only on the other hosts: a
 * function's page never shares an origin with the dashboard, so the browser
 * neither sends it the dashboard's cookie nor lets it read the dashboard.
 * The host is the Host header, or a trusted proxy's X-Forwarded-Host.
 */
export function splitHosts(options: { functionsUrl: string; publicUrl: string; trustedProxies?: readonly ProxyRange[] }) {
  const functionsHostname = hostnameOf(new URL(options.functionsUrl).host);
  const isTrusted = trustedProxies(options.trustedProxies ?? []);
  return createMiddleware(async (c, next) => {
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    const headers = incoming?.headers ?? Object.fromEntries(c.req.raw.headers);
    const onFunctionsHost = hostnameOf(requestHost(headers, peerOf(incoming, isTrusted))) === functionsHostname;
    const functionPath = c.req.path.startsWith(`${FUNCTIONS_PATH}/`) || c.req.path.startsWith(`${PREVIEWS_PATH}/`);
    if (functionPath && !onFunctionsHost) {
      throw new NotFoundError(`Functions are served on ${options.functionsUrl}${c.req.path} (ESERVELESS_FUNCTIONS_URL), not on this host.`, { code: "not_found" });
    }
    if (!functionPath && onFunctionsHost) {
      throw new NotFoundError(`This host serves function URLs only (${options.functionsUrl}${FUNCTIONS_PATH}/<owner>/<repo>/<function>); the rest is on ${options.publicUrl}.`, { code: "not_found" });
    }
    await next();
  });
}
