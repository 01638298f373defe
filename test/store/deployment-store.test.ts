import { describe, expect, it } from "vitest";
import { createDeploymentStore, PRODUCTION } from "../../src/store/deployment-store.js";
import { useTempStore } from "../support/temp-store.js";

const SHA_A = "a".repeat(40);
const SHA_B = "b".repeat(40);

const temp = useTempStore(createDeploymentStore);

describe("deployments", () => {
  it("records the lifecycle with the injected clock", () => {
    const created = temp.store.createDeployment({ repository: "octo/hello", commit: SHA_A, ref: "refs/heads/main", trigger: "push" });
    expect(created).toMatchObject({
      repository: "octo/hello",
      commit: SHA_A,
      ref: "refs/heads/main",
      trigger: "push",
      state: "queued",
      description: null,
      image: null,
      warnings: [],
      functions: [],
      createdAt: temp.clock.at,
      startedAt: null,
      finishedAt: null,
      coldStartMs: null,
    });
    expect(created.id).toMatch(/^[0-9a-f]{12}$/);
    const createdAt = temp.clock.at;

    temp.clock.at += 1000;
    temp.store.updateDeployment(created.id, { state: "building" });
    const startedAt = temp.clock.at;
    expect(temp.store.getDeployment(created.id)).toMatchObject({ state: "building", startedAt, finishedAt: null });

    temp.clock.at += 1000;
    temp.store.updateDeployment(created.id, { state: "starting", image: "eserveless/octo-hello:aaaaaaa" });
    temp.clock.at += 1000;
    temp.store.updateDeployment(created.id, { state: "building" }); // a second "building" keeps the first start
    expect(temp.store.getDeployment(created.id)).toMatchObject({ state: "building", startedAt, image: "eserveless/octo-hello:aaaaaaa" });

    temp.clock.at += 5000;
    const functions = [{ name: "hello", type: "http" as const, url: "http://localhost:3000/fn/octo/hello/hello" }];
    temp.store.updateDeployment(created.id, { state: "success", description: "Deployed 1 function", warnings: ["slow build"], functions, coldStartMs: 420 });
    expect(temp.store.getDeployment(created.id)).toEqual({
      ...created,
      state: "success",
      description: "Deployed 1 function",
      image: "eserveless/octo-hello:aaaaaaa",
      warnings: ["slow build"],
      functions,
      createdAt,
      startedAt,
      finishedAt: temp.clock.at,
      coldStartMs: 420,
    });
  });

  it.each(["failure", "error", "superseded", "skipped"] as const)("sets finishedAt when a deployment ends as %s", (state) => {
    const deployment = temp.store.createDeployment({ repository: "octo/hello", commit: SHA_A, ref: null, trigger: "redeploy" });
    temp.clock.at += 250;
    temp.store.updateDeployment(deployment.id, { state, description: "why" });
    expect(temp.store.getDeployment(deployment.id)).toMatchObject({ state, description: "why", startedAt: null, finishedAt: temp.clock.at });
  });

  it("lists deployments newest first, per repository whatever its case, with a limit", () => {
    const first = temp.store.createDeployment({ repository: "Octo/Hello", commit: SHA_A, ref: null, trigger: "push" });
    const second = temp.store.createDeployment({ repository: "octo/hello", commit: SHA_B, ref: null, trigger: "push" }); // same millisecond
    temp.clock.at += 10;
    const other = temp.store.createDeployment({ repository: "octo/other", commit: SHA_A, ref: null, trigger: "local" });
    temp.clock.at += 10;
    const third = temp.store.createDeployment({ repository: "octo/hello", commit: SHA_A, ref: null, trigger: "redeploy" });

    expect(temp.store.listDeployments("OCTO/HELLO").map((d) => d.id)).toEqual([third.id, second.id, first.id]);
    expect(temp.store.listDeployments().map((d) => d.id)).toEqual([third.id, other.id, second.id, first.id]);
    expect(temp.store.listDeployments(undefined, 2).map((d) => d.id)).toEqual([third.id, other.id]);
    expect(temp.store.getDeployment("nope")).toBeUndefined();
  });

  it("finds a commit's latest deployment to an environment, whatever the repository's case", () => {
    const first = temp.store.createDeployment({ repository: "octo/hello", commit: SHA_A, ref: null, trigger: "push" });
    temp.store.updateDeployment(first.id, { state: "success" });
    temp.clock.at += 10;
    const again = temp.store.createDeployment({ repository: "octo/hello", commit: SHA_A, ref: null, trigger: "redeploy" });
    const preview = temp.store.createDeployment({ repository: "octo/hello", commit: SHA_B, ref: null, trigger: "push", environment: "preview-7" });

    expect(first.environment).toBe(PRODUCTION);
    expect(temp.store.deploymentOfCommit("OCTO/Hello", PRODUCTION, SHA_A)?.id).toBe(again.id);
    expect(temp.store.deploymentOfCommit("octo/hello", "preview-7", SHA_B)?.id).toBe(preview.id);
    // Another environment's deployment of a commit is not production's.
    expect(temp.store.deploymentOfCommit("octo/hello", PRODUCTION, SHA_B)).toBeUndefined();
    expect(temp.store.deploymentOfCommit("octo/other", PRODUCTION, SHA_A)).toBeUndefined();
  });
});

describe("deployment logs", () => {
  it("numbers lines per deployment and follows them with afterSeq", () => {
    const a = temp.store.createDeployment({ repository: "octo/a", commit: SHA_A, ref: null, trigger: "push" });
    const b = temp.store.createDeployment({ repository: "octo/b", commit: SHA_B, ref: null, trigger: "push" });
    expect(temp.store.appendLog(a.id, "one")).toBe(1);
    temp.clock.at += 5;
    expect(temp.store.appendLog(a.id, "two")).toBe(2);
    expect(temp.store.appendLog(b.id, "b one")).toBe(1);
    temp.clock.at += 5;
    expect(temp.store.appendLog(a.id, "three")).toBe(3);

    expect(temp.store.deploymentLog(a.id)).toEqual([
      { seq: 1, at: temp.clock.at - 10, line: "one", private: false },
      { seq: 2, at: temp.clock.at - 5, line: "two", private: false },
      { seq: 3, at: temp.clock.at, line: "three", private: false },
    ]);
    expect(temp.store.deploymentLog(a.id, 2)).toEqual([{ seq: 3, at: temp.clock.at, line: "three", private: false }]);
    expect(temp.store.deploymentLog(a.id, 3)).toEqual([]);
    expect(temp.store.deploymentLog(b.id).map((l) => l.line)).toEqual(["b one"]);
  });

  it("marks the lines that quote the project's output private, in one numbering with the others", () => {
    const deployment = temp.store.createDeployment({ repository: "octo/private", commit: SHA_A, ref: null, trigger: "push" });
    temp.store.appendLog(deployment.id, "Starting API…");
    temp.store.appendLog(deployment.id, "  API | DATABASE_URL=postgres://…", { private: true });
    temp.store.appendLog(deployment.id, "Deployment failed: API: …");
    expect(temp.store.deploymentLog(deployment.id).map(({ seq, line, private: hidden }) => ({ seq, line, hidden }))).toEqual([
      { seq: 1, line: "Starting API…", hidden: false },
      { seq: 2, line: "  API | DATABASE_URL=postgres://…", hidden: true },
      { seq: 3, line: "Deployment failed: API: …", hidden: false },
    ]);
  });

  it("keeps only the newest 5000 lines, and keeps numbering after the cap", () => {
    const deployment = temp.store.createDeployment({ repository: "octo/chatty", commit: SHA_A, ref: null, trigger: "push" });
    const total = 5003;
    for (let i = 1; i <= total; i++) temp.store.appendLog(deployment.id, `line ${i}`);

    const log = temp.store.deploymentLog(deployment.id);
    expect(log).toHaveLength(5000);
    expect(log[0]).toMatchObject({ seq: 4, line: "line 4" });
    expect(log.at(-1)).toMatchObject({ seq: total, line: `line ${total}` });
    expect(temp.store.deploymentLog(deployment.id, total - 2).map((l) => l.line)).toEqual([`line ${total - 1}`, `line ${total}`]);

    expect(temp.store.appendLog(deployment.id, "after the cap")).toBe(total + 1);
    const trimmed = temp.store.deploymentLog(deployment.id);
    expect(trimmed).toHaveLength(5000);
    expect(trimmed[0]?.seq).toBe(5);
  });
});

describe("interrupted deployments", () => {
  it("ends as error the deployments a previous process left unfinished, and only those", () => {
    const states = ["queued", "building", "starting", "success", "failure"] as const;
    const byState = Object.fromEntries(
      states.map((state) => {
        const deployment = temp.store.createDeployment({ repository: `octo/${state}`, commit: SHA_A, ref: null, trigger: "push" });
        if (state !== "queued") temp.store.updateDeployment(deployment.id, { state });
        return [state, deployment.id];
      }),
    );
    temp.clock.at += 1000;
    const ended = temp.store.failInterruptedDeployments("Interrupted");
    expect(ended.map((d) => d.id).sort()).toEqual([byState.queued, byState.building, byState.starting].sort());
    expect(ended.every((d) => d.state === "error" && d.description === "Interrupted" && d.finishedAt === temp.clock.at)).toBe(true);
    expect(temp.store.getDeployment(byState.success!)?.state).toBe("success");
    expect(temp.store.failInterruptedDeployments("Interrupted")).toEqual([]);
  });
});
