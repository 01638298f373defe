import { UsageError } from "./errors.js";

/** Where the CLI goes without --url, ESERVELESS_URL or a login. */
export const DEFAULT_URL = "http://localhost:3000";

/** The server's base URL from --url or ESERVELESS_URL, checked; a trailing slash is dropped. */
export function serverUrl(text: string | undefined): string {
  const raw = text?.trim() || DEFAULT_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`ESERVELESS_URL (or --url) must be a URL such as ${DEFAULT_URL}, got "${raw}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`ESERVELESS_URL (or --url) must start with http:// or https://, got "${raw}"`);
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, "");
}
