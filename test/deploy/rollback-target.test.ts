import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { StoredSpecSchema } from "../../src/manifest/manifest-schema.js";
import { rollbackTarget } from "../../src/deploy/rollback-target.js";
import { createDeploymentStore } from "../../src/store/deployment-store.js";
import { createLiveFunctionStore } from "../../src/store/live-function-store.js";
import { useTempStore } from "../support/temp-store.js";

const REPO = "octo/app";
const SPECS = [v.parse(StoredSpecSchema, { type: "http", name: "api", runtime: "node" })];
const temp = useTempStore((db, clock) => ({ ...createDeploymentStore(db, clock), ...createLiveFunctionStore(db) }));

/** Records a deployment of `commit` that ended `state`; a success becomes the live one. */
function release(commit: string, state: "success" | "failure" = "success") {
  temp.clock.at += 1000;
  const d = temp.store.createDeployment({ repository: REPO, commit, ref: "refs/heads/main", trigger: "push" });
  const image = `eserveless/octo/app:${commit.slice(0, 12)}-${d.id}`;
  temp.store.updateDeployment(d.id, { state, image });
  if (state === "success") temp.store.setLiveFunctions(REPO, { id: d.id, commit, image }, SPECS);
  return temp.store.getDeployment(d.id)!;
}

const message = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("no error");
};

describe("rollbackTarget", () => {
  it("goes back to the previous release by default, then forward again (an undo)", () => {
    const v1 = release("1".repeat(40));
    const v2 = release("2".repeat(40));
    release("3".repeat(40), "failure");
    expect(rollbackTarget(temp.store, REPO, undefined).id).toBe(v1.id);
    // Rolled back to v1 (a deployment of its own with v1's image): the default is now v2.
    const back = temp.store.createDeployment({ repository: REPO, commit: v1.commit, ref: null, trigger: "rollback" });
    temp.store.updateDeployment(back.id, { state: "success", image: v1.image! });
    temp.store.setLiveFunctions(REPO, { id: back.id, commit: v1.commit, image: v1.image! }, SPECS);
    expect(rollbackTarget(temp.store, REPO, undefined).id).toBe(v2.id);
  });

  it("takes a deployment id first, then a commit prefix of 7 or more", () => {
    const v1 = release("abcdef1".padEnd(40, "0"));
    release("9".repeat(40));
    expect(rollbackTarget(temp.store, REPO, v1.id).id).toBe(v1.id);
    expect(rollbackTarget(temp.store, REPO, "abcdef1").id).toBe(v1.id);
    expect(rollbackTarget(temp.store, REPO, "ABCDEF1").id).toBe(v1.id);
  });

  it("refuses an ambiguous prefix, listing the candidates", () => {
    const a = release("abcdef1a".padEnd(40, "0"));
    const b = release("abcdef1b".padEnd(40, "0"));
    release("9".repeat(40));
    const text = message(() => rollbackTarget(temp.store, REPO, "abcdef1"));
    expect(text).toContain("ambiguous");
    expect(text).toContain(a.commit.slice(0, 12));
    expect(text).toContain(b.commit.slice(0, 12));
    expect(text).toContain(a.id);
    expect(rollbackTarget(temp.store, REPO, "abcdef1b").id).toBe(b.id);
  });

  it("refuses a failed deployment, the live one, an unknown target, and another repository's deployment", () => {
    release("1".repeat(40));
    const failed = release("2".repeat(40), "failure");
    const live = release("3".repeat(40));
    expect(message(() => rollbackTarget(temp.store, REPO, failed.id))).toMatch(/ended failure/);
    expect(message(() => rollbackTarget(temp.store, REPO, "2222222"))).toMatch(/no commit starting with 2222222 went live/);
    expect(message(() => rollbackTarget(temp.store, REPO, live.id))).toMatch(/live one already/);
    const other = temp.store.createDeployment({ repository: "octo/other", commit: "4".repeat(40), ref: null, trigger: "push" });
    temp.store.updateDeployment(other.id, { state: "success" });
    expect(message(() => rollbackTarget(temp.store, REPO, other.id))).toMatch(/No deployment/);
    expect(message(() => rollbackTarget(temp.store, "octo/none", undefined))).toMatch(/no deployment that went live/);
  });
});
