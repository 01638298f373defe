import { describe, expect, it } from "vitest";
import { parseProxyRange, trustedProxies } from "../../src/http/trusted-proxies.js";

describe("trustedProxies", () => {
  const ranges = ["127.0.0.2", "10.1.0.0/16", "fd00::/8"].map((entry) => parseProxyRange(entry)!);
  const isTrusted = trustedProxies(ranges);

  it("trusts the listed addresses and ranges, IPv4-mapped IPv6 peers included", () => {
    for (const address of ["127.0.0.2", "::ffff:127.0.0.2", "10.1.255.3", "fd12::1"]) expect(isTrusted(address), address).toBe(true);
  });

  it("trusts nothing else, and no peer without an address", () => {
    for (const address of ["127.0.0.1", "10.2.0.1", "fe80::1", "::1", "", undefined, "not-an-ip"]) expect(isTrusted(address), String(address)).toBe(false);
    expect(trustedProxies([])("127.0.0.1")).toBe(false);
  });

  it("parses only addresses and CIDR ranges", () => {
    expect(parseProxyRange(" 192.0.2.0/24 ")).toEqual({ address: "192.0.2.0", prefix: 24, family: "ipv4" });
    for (const entry of ["192.0.2.0/33", "::/129", "192.0.2.0/", "192.0.2.0/8/8", "localhost", "192.0.2.0/-1", "1.2.3"]) expect(parseProxyRange(entry), entry).toBeUndefined();
  });
});
