import type { IncomingMessage } from "node:http";
import { createMiddleware } from "hono/factory";
import { NotFoundError } from "../errors.js";
import { FUNCTIONS_PATH, PREVIEWS_PATH } from "../urls.js";
import { hostnameOf, peerOf, requestHost, type Peer } from "./forwarded-headers.js";
import { trustedProxies, type ProxyRange } from "./trusted-proxies.js";

type Headers = Record<string, string | string[] | undefined>;

/** Options of the split between the functions host and the others. */
export interface SplitHostsOptions {
  functionsUrl: string;
  publicUrl: string;
  trustedProxies?: readonly ProxyRange[];
}

/**
 * The rule of {@link splitHosts} on its own: the error a request answers with
 * on the host it came to, or undefined when it is served there. The function
 * router, which answers before hono, applies it too.
 */
export function hostSplit(options: SplitHostsOptions): (headers: Headers, peer: Peer, path: string) => NotFoundError | undefined {
  const functionsHostname = hostnameOf(new URL(options.functionsUrl).host);
  return (headers, peer, path) => {
    const onFunctionsHost = hostnameOf(requestHost(headers, peer)) === functionsHostname;
    const functionPath = path.startsWith(`${FUNCTIONS_PATH}/`) || path.startsWith(`${PREVIEWS_PATH}/`);
    if (functionPath && !onFunctionsHost) {
      return new NotFoundError(`Functions are served on ${options.functionsUrl}${path} (ESERVELESS_FUNCTIONS_URL), not on this host.`, { code: "not_found" });
    }
    if (!functionPath && onFunctionsHost) {
      return new NotFoundError(`This host serves function URLs only (${options.functionsUrl}${FUNCTIONS_PATH}/<owner>/<repo>/<function>); the rest is on ${options.publicUrl}.`, { code: "not_found" });
    }
    return undefined;
  };
}

/**
 * With ESERVELESS_FUNCTIONS_URL, function URLs answer only on its host and
 * everything else (dashboard, API, webhooks) only on the other hosts: a
 * function's page never shares an origin with the dashboard, so the browser
 * neither sends it the dashboard's cookie nor lets it read the dashboard.
 * The host is the Host header, or a trusted proxy's X-Forwarded-Host.
 */
export function splitHosts(options: SplitHostsOptions) {
  const check = hostSplit(options);
  const isTrusted = trustedProxies(options.trustedProxies ?? []);
  return createMiddleware(async (c, next) => {
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    const problem = check(incoming?.headers ?? Object.fromEntries(c.req.raw.headers), peerOf(incoming, isTrusted), c.req.path);
    if (problem) throw problem;
    await next();
  });
}
