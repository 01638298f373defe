import type { IncomingMessage } from "node:http";
import type { Context } from "hono";
import { clientAddressOf, peerOf } from "../forwarded-headers.js";

/** A token bucket: `burst` wrong tokens at once, then one more each `refillMs`. */
export interface Rate {
  burst: number;
  refillMs: number;
}

/**
 * How many wrong admin tokens the sign-in form takes. Per client address:
 * a person who mistypes has room; a guesser gets one try a minute. From
 * everyone together: many addresses cannot guess faster than one try every
 * few seconds. A right token is refused too while a limit holds, or the
 * limit would tell guessers when they found it.
 */
export const SIGN_IN_LIMITS = {
  perAddress: { burst: 10, refillMs: 60_000 } satisfies Rate,
  global: { burst: 100, refillMs: 5_000 } satisfies Rate,
  /** Client addresses remembered at once: the buckets of a flood of addresses must not fill the memory. */
  maxAddresses: 10_000,
};

interface Bucket {
  tokens: number;
  at: number;
}

/** Which limit refused an attempt, and for how long. */
export interface Refusal {
  scope: "address" | "global";
  retryAfterMs: number;
}

/**
 * The client address a sign-in came from, by which its wrong tokens are
 * counted: the socket's peer (node-server's `incoming`), or, when that peer
 * is a trusted proxy (ESERVELESS_TRUSTED_PROXIES), the client it forwards
 * for; "unknown" for a request with no socket (`app.request()`).
 * IPv4-mapped IPv6 addresses become IPv4; IPv6 addresses count by their /64,
 * which one host usually holds whole.
 */
export function clientAddress(c: Context, isTrusted: (address: string | undefined) => boolean = () => false): string {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const remote = clientAddressOf(incoming?.headers ?? {}, peerOf(incoming, isTrusted), isTrusted);
  if (!remote) return "unknown";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remote);
  if (mapped) return mapped[1]!;
  if (!remote.includes(":")) return remote;
  return `${expandIpv6(remote).slice(0, 4).join(":")}::/64`;
}

/** The eight groups of an IPv6 address, `::` expanded. */
function expandIpv6(address: string): string[] {
  const [head = "", tail] = address.split("%")[0]!.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const zeros = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill("0");
  return [...left, ...zeros, ...right].map((group) => group.toLowerCase().replace(/^0+(?=.)/, ""));
}

/**
 * Limits wrong admin tokens at the dashboard's sign-in, per client address
 * and for all clients together (token buckets; {@link SIGN_IN_LIMITS}).
 */
export class SignInLimiter {
  readonly #limits: typeof SIGN_IN_LIMITS;
  readonly #now: () => number;
  readonly #addresses = new Map<string, Bucket>();
  #global: Bucket;

  constructor(options: { now?: () => number; limits?: typeof SIGN_IN_LIMITS } = {}) {
    this.#limits = options.limits ?? SIGN_IN_LIMITS;
    this.#now = options.now ?? Date.now;
    this.#global = { tokens: this.#limits.global.burst, at: this.#now() };
  }

  /** Whether `address` may try a token now; the refusal says which limit holds, and until when. */
  check(address: string): Refusal | undefined {
    const global = this.#waitMs(this.#refill(this.#global, this.#limits.global), this.#limits.global);
    const bucket = this.#addresses.get(address);
    const own = bucket ? this.#waitMs(this.#refill(bucket, this.#limits.perAddress), this.#limits.perAddress) : 0;
    if (own > 0) return { scope: "address", retryAfterMs: Math.max(own, global) };
    if (global > 0) return { scope: "global", retryAfterMs: global };
    return undefined;
  }

  /** Counts a wrong token from `address`. */
  failed(address: string): void {
    const now = this.#now();
    this.#global = this.#refill(this.#global, this.#limits.global);
    this.#global.tokens = Math.max(0, this.#global.tokens - 1);
    const bucket = this.#addresses.get(address);
    const refilled = bucket ? this.#refill(bucket, this.#limits.perAddress) : { tokens: this.#limits.perAddress.burst, at: now };
    refilled.tokens = Math.max(0, refilled.tokens - 1);
    // Re-inserted, so the map's order is the order of last failure: the oldest go first.
    this.#addresses.delete(address);
    this.#addresses.set(address, refilled);
    this.#prune();
  }

  /** How many client addresses are remembered. */
  get size(): number {
    return this.#addresses.size;
  }

  #refill(bucket: Bucket, rate: Rate): Bucket {
    const now = this.#now();
    return { tokens: Math.min(rate.burst, bucket.tokens + (now - bucket.at) / rate.refillMs), at: now };
  }

  #waitMs(bucket: Bucket, rate: Rate): number {
    return bucket.tokens >= 1 ? 0 : Math.ceil((1 - bucket.tokens) * rate.refillMs);
  }

  /** Forgets full buckets (the same as none), then, past the cap, the addresses that failed longest ago. */
  #prune(): void {
    if (this.#addresses.size <= this.#limits.maxAddresses) return;
    for (const [address, bucket] of this.#addresses) {
      if (this.#refill(bucket, this.#limits.perAddress).tokens >= this.#limits.perAddress.burst) this.#addresses.delete(address);
    }
    for (const address of this.#addresses.keys()) {
      if (this.#addresses.size <= this.#limits.maxAddresses) break;
      this.#addresses.delete(address);
    }
  }
}
