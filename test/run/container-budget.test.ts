import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContainerBudget, ContainerBudgetError } from "../../src/run/container-budget.js";
import { readFixture } from "../support/fixtures.js";
import { startGitHubEmulator, type GitHubEmulator } from "../support/github-emulator.js";
import { startEserveless, type TestEserveless } from "../support/start-eserveless.js";

const MIB = 1024 ** 2;

/** Runs `fn`, which must throw a ContainerBudgetError, and returns it. */
function refusal(fn: () => unknown): ContainerBudgetError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ContainerBudgetError);
    return error as ContainerBudgetError;
  }
  throw new Error("the budget did not refuse");
}

describe("ContainerBudget", () => {
  it("refuses the container past ESERVELESS_MAX_CONTAINERS with a 503, its reason and Retry-After", () => {
    const budget = new ContainerBudget({ maxContainers: 2, memoryBytes: 1024 * MIB });
    budget.reserve(64 * MIB);
    budget.reserve(64 * MIB);
    const error = refusal(() => budget.reserve(64 * MIB));
    expect(error.status).toBe(503);
    expect(error.blame).toBe("system");
    expect(error.code).toBe("container_budget");
    expect(Number(error.headers["retry-after"])).toBeGreaterThan(0);
    expect(error.message).toMatch(/^No room for another container: this server runs 2 function containers, its maximum \(ESERVELESS_MAX_CONTAINERS=2\)/);
    expect(budget.used).toEqual({ containers: 2, memoryBytes: 128 * MIB });
  });

  it("refuses a container whose memory limit would pass ESERVELESS_MEMORY_BUDGET", () => {
    const budget = new ContainerBudget({ maxContainers: 10, memoryBytes: 512 * MIB });
    budget.reserve(256 * MIB);
    budget.reserve(128 * MIB);
    expect(refusal(() => budget.reserve(256 * MIB)).message).toMatch(
      /^No room for another container: it needs 256 MiB and the function containers already hold 384 of the 512 MiB this server allows \(ESERVELESS_MEMORY_BUDGET\)/,
    );
    // What still fits is taken.
    budget.reserve(128 * MIB);
    expect(budget.used).toEqual({ containers: 3, memoryBytes: 512 * MIB });
  });

  it("gets its room back once, however often a reservation is released", () => {
    const budget = new ContainerBudget({ maxContainers: 1, memoryBytes: 1024 * MIB });
    const first = budget.reserve(100 * MIB);
    refusal(() => budget.reserve(100 * MIB));
    first.release();
    first.release();
    expect(budget.used).toEqual({ containers: 0, memoryBytes: 0 });
    budget.reserve(100 * MIB);
    refusal(() => budget.reserve(100 * MIB));
  });

  it("counts containers that already run whatever it holds (force), and refuses the next", () => {
    const budget = new ContainerBudget({ maxContainers: 1, memoryBytes: 128 * MIB });
    budget.reserve(128 * MIB);
    budget.reserve(256 * MIB, { force: true });
    expect(budget.used).toEqual({ containers: 2, memoryBytes: 384 * MIB });
    refusal(() => budget.reserve(16 * MIB));
  });
});

describe("the container budget on a running server (Docker)", () => {
  const OWNER = "octo-org";
  const docker = new Docker();
  let emulator: GitHubEmulator;
  let server: TestEserveless;

  /** The hello fixture with one http function that stops after a second idle, down to `minReplicas`. */
  const project = (minReplicas: number) => ({
    ...readFixture("node-hello"),
    ".eserveless.yaml": `runtime: node\nfunctions:\n  - name: API\n    type: http\n    idleTimeout: 1\n    minReplicas: ${minReplicas}\n    meta:\n      GREETING: hello\n`,
  });

  /** Deploys the hello project to `repo`; the second project keeps its container, so the budget stays full. */
  async function deploy(repo: string) {
    const sha = emulator.commit(OWNER, repo, { files: project(repo === "second" ? 1 : 0) });
    expect((await server.deliver("push", emulator.pushPayload(OWNER, repo, { after: sha }))).status).toBe(202);
    await server.deployer.idle();
    return emulator.statuses(OWNER, repo, sha).filter((s) => s.context === "eserveless").at(-1)!;
  }

  /** The repository's function containers (not its network's holder, which the budget does not count). */
  const containersOf = (repo: string) => docker.listContainers({ all: true, filters: { label: [`dev.eserveless.repository=${OWNER}/${repo}`, "dev.eserveless.function"] } });

  beforeAll(async () => {
    emulator = await startGitHubEmulator();
    for (const name of ["first", "second", "third"]) emulator.addRepository({ owner: OWNER, name });
    // Room for one function container on the whole server, of half a CPU.
    server = await startEserveless({ emulator, env: { ESERVELESS_MAX_CONTAINERS: "1", ESERVELESS_MAX_CPUS: "0.5" } });
  });

  afterAll(async () => {
    await server?.stop();
    await emulator?.close();
  });

  it("fails a deployment that cannot get its container, and refuses a cold start with 503 and the reason", async () => {
    expect((await deploy("first")).state).toBe("success");
    // ESERVELESS_MAX_CPUS is each container's CPU limit: the manifest has no key for it.
    const [container] = await containersOf("first");
    expect((await docker.getContainer(container!.Id).inspect()).HostConfig.NanoCpus).toBe(0.5e9);

    // The only slot is taken: the second project's deployment cannot start its container.
    const refused = await deploy("second");
    expect(refused.state).toBe("error");
    expect(refused.description).toMatch(/^API: No room for another container: this server runs 1 function containers, its maximum \(ESERVELESS_MAX_CONTAINERS=1\)/);
    expect(await containersOf("second")).toEqual([]);

    // Once the first project's container went idle and was removed, the second deploys into its slot.
    for (const deadline = Date.now() + 20_000; (await containersOf("first")).length > 0; ) {
      if (Date.now() > deadline) throw new Error("the idle container of the first project was not removed");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect((await deploy("second")).state).toBe("success");

    // The first project now needs a cold start, and there is no room for it.
    const started = Date.now();
    const response = await fetch(`${server.url}/fn/${OWNER}/first/API/`);
    expect(response.status).toBe(503);
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("container_budget");
    expect(body.error.message).toContain("(ESERVELESS_MAX_CONTAINERS=1)");
    // At once, not after the cold-start timeout, and without creating a container.
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await containersOf("first")).toEqual([]);
    expect((await fetch(`${server.url}/fn/${OWNER}/second/API/`)).status).toBe(200);
  });

  it("fails a cron run that finds no room, with the reason, starting no container", async () => {
    const sha = emulator.commit(OWNER, "third", {
      files: { ...readFixture("node-hello"), ".eserveless.yaml": 'runtime: node\nfunctions:\n  - name: Ticker\n    type: cron\n    schedule: "0 0 1 1 *"\n' },
    });
    await server.deliver("push", emulator.pushPayload(OWNER, "third", { after: sha }));
    await server.deployer.idle();
    expect(emulator.statuses(OWNER, "third", sha).filter((s) => s.context === "eserveless").at(-1)?.state).toBe("success");

    // The second project's container (minReplicas 1) still holds the only slot.
    expect(await containersOf("second")).toHaveLength(1);
    const run = server.scheduler.runNow(`${OWNER}/third`, "Ticker");
    await server.scheduler.idle();
    const ended = server.store.getRun(run.id)!;
    expect(ended.state).toBe("failed");
    expect(ended.error).toMatch(/^Could not run the container: No room for another container: .*\(ESERVELESS_MAX_CONTAINERS=1\)/);
    expect(await containersOf("third")).toEqual([]);
  });
});
