import { readFileSync } from "node:fs";
import semver from "semver";
import { describe, expect, it } from "vitest";

// package.json promises Node >= 20: every installed package must run there,
// or npm warns (EBADENGINE) on every install and the package may not work.
// .npmrc's engine-strict turns such a warning into a failed install.

const root = new URL("../", import.meta.url);
const manifest = JSON.parse(readFileSync(new URL("package.json", root), "utf8")) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(new URL("package-lock.json", root), "utf8")) as { packages: Record<string, { engines?: { node?: string } | string[] }> };

describe("the packages installed", () => {
  it("all run on the oldest Node that package.json admits, and npm refuses one that does not", () => {
    const oldest = semver.minVersion(manifest.engines.node)!.version;
    const refusing = Object.entries(lock.packages)
      .filter(([, pkg]) => !Array.isArray(pkg.engines) && pkg.engines?.node && !semver.satisfies(oldest, pkg.engines.node, { includePrerelease: true }))
      .map(([path, pkg]) => `${path} wants node ${(pkg.engines as { node: string }).node}`);
    expect(refusing).toEqual([]);
    expect(readFileSync(new URL(".npmrc", root), "utf8")).toMatch(/^engine-strict=true$/m);
  });
});
