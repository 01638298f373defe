import { describe, expect, it } from "vitest";
import { EserveslessError } from "../../src/errors.js";
import { SubnetPool, cidrRange, subnetPoolProblem } from "../../src/run/subnet-pool.js";

describe("SubnetPool", () => {
  it("hands out the first /26 that overlaps no existing network, in order", () => {
    const pool = new SubnetPool("10.207.0.0/16", 26);
    expect(pool.capacity).toBe(1024);
    expect(pool.next([])).toBe("10.207.0.0/26");
    expect(pool.next(["10.207.0.0/26"])).toBe("10.207.0.64/26");
    // A gap left by a removed network is reused.
    expect(pool.next(["10.207.0.0/26", "10.207.0.128/26"])).toBe("10.207.0.64/26");
    // Networks outside the pool, and IPv6 ones, do not count.
    expect(pool.next(["172.17.0.0/16", "fd00::/64", "192.168.0.0/20"])).toBe("10.207.0.0/26");
  });

  it("skips every block a larger network overlaps, and a smaller one inside a block", () => {
    const pool = new SubnetPool("10.207.0.0/16", 26);
    // A /24 made by someone else covers four /26 blocks.
    expect(pool.next(["10.207.0.0/24"])).toBe("10.207.1.0/26");
    // A /30 in the middle of the first block makes that whole block unusable.
    expect(pool.next(["10.207.0.12/30"])).toBe("10.207.0.64/26");
    // A /8 around the whole pool leaves nothing.
    expect(() => pool.next(["10.0.0.0/8"])).toThrow(EserveslessError);
  });

  it("fails with the setting's name and how to fix it once every subnet is taken", () => {
    const pool = new SubnetPool("10.99.0.0/24", 26);
    expect(pool.capacity).toBe(4);
    const taken = ["10.99.0.0/26", "10.99.0.64/26", "10.99.0.128/26"];
    expect(pool.next(taken)).toBe("10.99.0.192/26");
    let error: unknown;
    try {
      pool.next([...taken, "10.99.0.192/26"]);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(EserveslessError);
    expect((error as EserveslessError).status).toBe(503);
    expect((error as EserveslessError).code).toBe("network_pool_exhausted");
    expect((error as Error).message).toMatch(/^No free \/26 network is left in ESERVELESS_NETWORK_POOL=10\.99\.0\.0\/24 \(it holds 4, .*give it a larger or another free range/);
  });

  it("checks the pool's notation", () => {
    expect(subnetPoolProblem("10.207.0.0/16", 26)).toBeUndefined();
    expect(subnetPoolProblem("10.207.0.0", 26)).toMatch(/CIDR notation/);
    expect(subnetPoolProblem("10.300.0.0/16", 26)).toMatch(/CIDR notation/);
    expect(subnetPoolProblem("fd00::/48", 26)).toMatch(/IPv4/);
    expect(subnetPoolProblem("10.207.3.0/16", 26)).toBe("has host bits set; did you mean 10.207.0.0/16?");
    expect(subnetPoolProblem("10.207.0.0/28", 26)).toMatch(/smaller than one network/);
    expect(() => new SubnetPool("10.207.0.0/28", 26)).toThrow(/ESERVELESS_NETWORK_POOL/);
    expect(cidrRange("10.0.0.0/8")).toEqual({ first: 10 * 2 ** 24, last: 11 * 2 ** 24 - 1 });
  });
});
