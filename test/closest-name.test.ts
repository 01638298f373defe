import { describe, expect, it } from "vitest";
import { closestName, editDistance } from "../src/closest-name.js";

// One "did you mean" for the CLI's commands and the manifest's keys.

describe("editDistance", () => {
  it("counts insertions, deletions, substitutions, and a swap of neighbours as one edit", () => {
    expect(editDistance("deploy", "deploy")).toBe(0);
    expect(editDistance("deploy", "deploys")).toBe(1);
    expect(editDistance("deploy", "deply")).toBe(1);
    expect(editDistance("deploy", "deplay")).toBe(1);
    expect(editDistance("depoly", "deploy")).toBe(1);
    expect(editDistance("shcedule", "schedule")).toBe(1);
    expect(editDistance("", "ls")).toBe(2);
  });
});

describe("closestName", () => {
  const commands = ["deploy", "ls", "logs", "status", "help"];

  it("suggests the nearest candidate within two edits by default, whatever the case", () => {
    expect(closestName("depoly", commands)).toBe("deploy");
    expect(closestName("STATSU", commands)).toBe("status");
    expect(closestName("frobnicate", commands)).toBeUndefined();
  });

  it("takes the first of equally near candidates", () => {
    // "lgs" is one edit from both "ls" and "logs".
    expect(closestName("lgs", commands)).toBe("ls");
  });

  it("bounds the distance per candidate", () => {
    const third = (candidate: string) => Math.max(1, Math.floor(candidate.length / 3));
    expect(closestName("enrty", ["entry", "functions"], third)).toBe("entry");
    // Two edits are too many for a five-letter key under that bound, not under the default.
    expect(closestName("enrtyy", ["entry", "functions"], third)).toBeUndefined();
    expect(closestName("enrtyy", ["entry", "functions"])).toBe("entry");
  });
});
