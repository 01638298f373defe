import { describe, expect, it } from "vitest";
import { createLiveFunctionStore } from "../../src/store/live-function-store.js";
import { useTempStore } from "../support/temp-store.js";

const SHA_A = "a".repeat(40);
const SHA_B = "b".repeat(40);

const temp = useTempStore(createLiveFunctionStore);

describe("live functions", () => {
  const spec = (path: string) => ({ path, memory: "128m" });

  it("replaces a repository's functions as a whole and leaves other repositories alone", () => {
    temp.store.setLiveFunctions("octo/hello", { id: "dep1", commit: SHA_A, image: "img:1" }, [
      { name: "hello", type: "http", spec: spec("/hello") },
      { name: "nightly", type: "cron", spec: { schedule: "0 3 * * *" } },
    ]);
    temp.store.setLiveFunctions("octo/other", { id: "dep9", commit: SHA_B, image: "img:9" }, [{ name: "hello", type: "http", spec: spec("/x") }]);

    expect(temp.store.liveFunctions("octo/hello")).toEqual([
      { repository: "octo/hello", name: "hello", type: "http", deploymentId: "dep1", commit: SHA_A, image: "img:1", spec: spec("/hello") },
      { repository: "octo/hello", name: "nightly", type: "cron", deploymentId: "dep1", commit: SHA_A, image: "img:1", spec: { schedule: "0 3 * * *" } },
    ]);

    temp.store.setLiveFunctions("octo/hello", { id: "dep2", commit: SHA_B, image: "img:2" }, [{ name: "bye", type: "http", spec: spec("/bye") }]);
    expect(temp.store.liveFunctions("octo/hello").map((f) => [f.name, f.deploymentId])).toEqual([["bye", "dep2"]]);
    expect(temp.store.liveFunction("octo/hello", "hello")).toBeUndefined();
    expect(temp.store.liveFunction("octo/other", "hello")?.deploymentId).toBe("dep9");
    expect(temp.store.liveFunctions().map((f) => `${f.repository}/${f.name}`)).toEqual(["octo/hello/bye", "octo/other/hello"]);

    temp.store.setLiveFunctions("octo/hello", { id: "dep3", commit: SHA_A, image: "img:3" }, []);
    expect(temp.store.liveFunctions("octo/hello")).toEqual([]);
  });

  it("looks functions up whatever the case of the repository and the name", () => {
    temp.store.setLiveFunctions("Octo/Hello", { id: "dep1", commit: SHA_A, image: "img:1" }, [{ name: "Hello", type: "http", spec: {} }]);
    expect(temp.store.liveFunction("octo/hello", "hello")?.name).toBe("Hello");
    expect(temp.store.liveFunction("OCTO/HELLO", "HELLO")?.deploymentId).toBe("dep1");
    // A new deployment spelled in another case replaces, rather than adds to, the old functions.
    temp.store.setLiveFunctions("octo/hello", { id: "dep2", commit: SHA_B, image: "img:2" }, [{ name: "hello", type: "http", spec: {} }]);
    expect(temp.store.liveFunctions("OCTO/hello")).toHaveLength(1);
    expect(temp.store.liveFunction("octo/HELLO", "HeLLo")?.deploymentId).toBe("dep2");
  });

  it("keeps the previous functions when a switch fails half-way", () => {
    temp.store.setLiveFunctions("octo/hello", { id: "dep1", commit: SHA_A, image: "img:1" }, [{ name: "hello", type: "http", spec: {} }]);
    // Two functions that differ only in case collide on the (case-insensitive) key after the first insert.
    expect(() =>
      temp.store.setLiveFunctions("octo/hello", { id: "dep2", commit: SHA_B, image: "img:2" }, [
        { name: "api", type: "http", spec: {} },
        { name: "API", type: "http", spec: {} },
      ]),
    ).toThrow();
    expect(temp.store.liveFunctions("octo/hello").map((f) => [f.name, f.deploymentId])).toEqual([["hello", "dep1"]]);
  });

  it("survives a restart", () => {
    temp.store.setLiveFunctions("octo/hello", { id: "dep1", commit: SHA_A, image: "img:1" }, [{ name: "hello", type: "http", spec: spec("/") }]);
    temp.reopen();
    expect(temp.store.liveFunction("octo/hello", "hello")).toMatchObject({ deploymentId: "dep1", image: "img:1", spec: spec("/") });
  });
});
