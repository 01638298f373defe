import type { IncomingMessage } from "node:http";
import { isIP } from "node:net";
import type { TLSSocket } from "node:tls";

/** The other end of a request's connection, as this server saw it. */
export interface Peer {
  /** Its address; absent without a socket (`app.request()`). */
  address: string | undefined;
  /** Whether the connection to this server is TLS. */
  encrypted: boolean;
  /** Whether it is a trusted reverse proxy (ESERVELESS_TRUSTED_PROXIES), whose forwarded headers are believed. */
  trusted: boolean;
}

type Headers = Record<string, string | string[] | undefined>;

/** The headers a reverse proxy uses to tell who the client was; a caller could forge every one. */
export function isForwardingHeader(name: string): boolean {
  return name.startsWith("x-forwarded-") || name === "forwarded" || name === "x-real-ip";
}

/** The peer of a request served by the node adapter. */
export function peerOf(incoming: IncomingMessage | undefined, isTrusted: (address: string | undefined) => boolean): Peer {
  const address = incoming?.socket.remoteAddress;
  return { address, encrypted: (incoming?.socket as TLSSocket | undefined)?.encrypted === true, trusted: isTrusted(address) };
}

const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::\d{1,5})?$/;
const one = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join(", ") : value);

/** A Host-style value that names a host (and a port) and nothing else; undefined otherwise. */
function validHost(value: string | undefined): string | undefined {
  const host = value?.trim();
  return host && HOST.test(host) ? host : undefined;
}

/**
 * The host the client asked for, as `Host`, unless a trusted proxy says
 * otherwise with X-Forwarded-Host (the entry it added, the last one). Never
 * the authority of an absolute-form request line, which nothing in front of
 * this server checked.
 */
export function requestHost(headers: Headers, peer: Peer): string | undefined {
  if (peer.trusted) {
    const forwarded = validHost(one(headers["x-forwarded-host"])?.split(",").at(-1));
    if (forwarded) return forwarded;
  }
  return validHost(one(headers.host));
}

/** The hostname of a host value, lower-cased, without port or trailing dot: what cookies and origins go by. */
export function hostnameOf(host: string | undefined): string | undefined {
  if (!host) return undefined;
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.replace(/:\d+$/, "");
  return name.toLowerCase().replace(/\.$/, "");
}

/**
 * X-Forwarded-For, -Host and -Proto for a function, from what this server saw:
 * the peer's address, the Host header and whether the connection is TLS. A
 * trusted proxy's own values are kept, and its address appended to its
 * X-Forwarded-For; anyone else's are replaced.
 */
export function forwardedHeaders(headers: Headers, peer: Peer): Record<string, string> {
  const out: Record<string, string> = {};
  const forwardedFor = peer.trusted ? one(headers["x-forwarded-for"])?.trim() : undefined;
  const chain = [forwardedFor, peer.address].filter(Boolean).join(", ");
  if (chain) out["x-forwarded-for"] = chain;
  const host = requestHost(headers, peer);
  if (host) out["x-forwarded-host"] = host;
  const forwardedProto = peer.trusted ? one(headers["x-forwarded-proto"])?.split(",").at(-1)?.trim().toLowerCase() : undefined;
  out["x-forwarded-proto"] = forwardedProto === "http" || forwardedProto === "https" ? forwardedProto : peer.encrypted ? "https" : "http";
  return out;
}

/**
 * The address of the client behind the request: the peer's own, unless the
 * peer is a trusted proxy; then the nearest X-Forwarded-For entry that is not
 * itself a trusted proxy (entries left of it could be forged by the client).
 * A trusted proxy that names no valid address counts as the client.
 */
export function clientAddressOf(headers: Headers, peer: Peer, isTrusted: (address: string | undefined) => boolean): string | undefined {
  if (!peer.trusted) return peer.address;
  const chain = (one(headers["x-forwarded-for"]) ?? "").split(",").map((entry) => entry.trim());
  for (let i = chain.length - 1; i >= 0; i--) {
    const entry = chain[i]!;
    if (isIP(entry) === 0) return peer.address;
    if (!isTrusted(entry)) return entry;
  }
  return chain[0] && isIP(chain[0]) ? chain[0] : peer.address;
}
