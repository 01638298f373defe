import { EserveslessError } from "../errors.js";

/** An IPv4 range as two unsigned 32-bit numbers, both ends included. */
interface Range {
  first: number;
  last: number;
}

const IPV4_CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

/** The range of an IPv4 CIDR such as `10.207.0.0/16`; undefined for anything else (IPv6 included). */
export function cidrRange(cidr: string): Range | undefined {
  const match = IPV4_CIDR.exec(cidr.trim());
  if (!match) return undefined;
  const octets = match.slice(1, 5).map(Number);
  const prefix = Number(match[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return undefined;
  const address = octets.reduce((sum, octet) => sum * 256 + octet, 0);
  const size = 2 ** (32 - prefix);
  const first = address - (address % size);
  return { first, last: first + size - 1 };
}

/** Why `cidr` is not a pool of subnets of `/size`, or undefined when it is. */
export function subnetPoolProblem(cidr: string, size: number): string | undefined {
  const match = IPV4_CIDR.exec(cidr.trim());
  const range = cidrRange(cidr);
  if (!match || !range) return "must be an IPv4 range in CIDR notation, such as 10.207.0.0/16";
  if (range.first !== match.slice(1, 5).map(Number).reduce((sum, octet) => sum * 256 + octet, 0)) {
    return `has host bits set; did you mean ${formatCidr(range.first, Number(match[5]))}?`;
  }
  if (size < Number(match[5])) return `is smaller than one network of ESERVELESS_NETWORK_SIZE /${size}`;
  return undefined;
}

function formatCidr(address: number, prefix: number): string {
  return `${[24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256).join(".")}/${prefix}`;
}

/**
 * The subnets eserveless gives its Docker networks: `/size` blocks of one
 * IPv4 range (`ESERVELESS_NETWORK_POOL`), handed out first-free. Docker's own
 * default pools hold about 31 bridge networks, too few for a network per
 * project, so each network gets an explicit subnet from here.
 */
export class SubnetPool {
  readonly #range: Range;
  readonly #blockSize: number;

  constructor(
    readonly cidr: string,
    /** The prefix length of each network, e.g. 26 for 64 addresses. */
    readonly size: number,
  ) {
    const problem = subnetPoolProblem(cidr, size);
    if (problem) throw new TypeError(`ESERVELESS_NETWORK_POOL ${cidr} ${problem}`);
    this.#range = cidrRange(cidr)!;
    this.#blockSize = 2 ** (32 - size);
  }

  /** How many networks the pool holds. */
  get capacity(): number {
    return (this.#range.last - this.#range.first + 1) / this.#blockSize;
  }

  /**
   * The first subnet of the pool that overlaps none of `taken` (the subnets
   * of the Docker networks that exist, in CIDR notation; IPv6 ones are
   * ignored). Throws an {@link EserveslessError} naming the setting when
   * every one is taken.
   */
  next(taken: Iterable<string>): string {
    const used = [...taken].flatMap((cidr) => cidrRange(cidr) ?? []);
    let first = this.#range.first;
    while (first <= this.#range.last) {
      const last = first + this.#blockSize - 1;
      const clash = used.find((range) => range.first <= last && first <= range.last);
      if (!clash) return formatCidr(first, this.size);
      // On to the first block past the clash: a /16 inside the pool is one step, not 1,024.
      first += Math.ceil((clash.last + 1 - first) / this.#blockSize) * this.#blockSize;
    }
    throw new EserveslessError(
      `No free /${this.size} network is left in ESERVELESS_NETWORK_POOL=${this.cidr} (it holds ${this.capacity}, all overlapping Docker networks that exist): ` +
        `give it a larger or another free range (e.g. a /15), or a smaller ESERVELESS_NETWORK_SIZE; networks of removed projects are freed at the next start`,
      { status: 503, code: "network_pool_exhausted" },
    );
  }
}
