import { BlockList, isIP } from "node:net";

/** One ESERVELESS_TRUSTED_PROXIES entry: an address, or a CIDR range such as `10.0.0.0/8` or `fd00::/8`. */
export interface ProxyRange {
  address: string;
  prefix: number;
  family: "ipv4" | "ipv6";
}

/** Parses one entry; undefined when it is neither an IP address nor a CIDR range. */
export function parseProxyRange(entry: string): ProxyRange | undefined {
  const [address = "", prefixText, extra] = entry.trim().split("/");
  const version = isIP(address);
  if (version === 0 || extra !== undefined) return undefined;
  const bits = version === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (prefix > bits) return undefined;
  return { address, prefix, family: version === 4 ? "ipv4" : "ipv6" };
}

/**
 * Whether a peer address is one of the reverse proxies whose forwarded
 * headers (`X-Forwarded-*`, `Forwarded`, `X-Real-IP`) eserveless believes.
 * IPv4 peers seen as IPv4-mapped IPv6 (`::ffff:10.0.0.1`) match IPv4 ranges.
 */
export function trustedProxies(ranges: readonly ProxyRange[]): (address: string | undefined) => boolean {
  if (ranges.length === 0) return () => false;
  const list = new BlockList();
  for (const range of ranges) list.addSubnet(range.address, range.prefix, range.family);
  return (address) => {
    if (!address) return false;
    const version = isIP(address);
    return version !== 0 && list.check(address, version === 4 ? "ipv4" : "ipv6");
  };
}
