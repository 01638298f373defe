import { accessSync, constants } from "node:fs";
import Docker from "dockerode";
import { describe, expect, it } from "vitest";
import { prepareTestMachine } from "./prepare-test-machine.js";

// What `npm test` does first on a fresh machine: the real scripts, against the real engine.
describe("prepareTestMachine", () => {
  it("makes or finds the base image stand-ins and Chromium, and names the images when the environment does not", async () => {
    const warnings: string[] = [];
    const found = prepareTestMachine({}, (text) => warnings.push(text));
    expect(warnings).toEqual([]);
    expect(Object.keys(found).sort()).toEqual(["ESERVELESS_GO_IMAGE", "ESERVELESS_NODE_IMAGE"]);
    const docker = new Docker();
    for (const image of Object.values(found)) expect((await docker.getImage(image).inspect()).Id).toMatch(/^sha256:/);
    expect(() => accessSync("/usr/bin/chromium", constants.X_OK)).not.toThrow();
  });

  it("keeps the images the environment names", () => {
    const env = { ESERVELESS_NODE_IMAGE: "registry.example/node:20", ESERVELESS_GO_IMAGE: "registry.example/go:1.22" };
    expect(prepareTestMachine(env, () => undefined)).toEqual({});
  });
});
