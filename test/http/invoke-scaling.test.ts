import Docker from "dockerode";
import { beforeAll, describe, expect, it } from "vitest";
import { deployFixture } from "../support/deploy-fixture.js";
import { useEserveless } from "../support/use-eserveless.js";

// Scaling on measured queueing, against real containers, with every queue at
// its default size: in invoke-routes.test.ts a queue of 2 makes any burst
// grow at once (a full queue starts a container), whatever its requests wait.

const OWNER = "octo-org";
const REPO = "bursts";
const docker = new Docker();

const stack = useEserveless({
  repositories: [{ owner: OWNER, name: REPO }],
  // Scaling on queueing alone: whether the shared test host has idle CPU is not what this is about (test/run/router-saturation.test.ts is).
  env: { ESERVELESS_SCALE_UP_IDLE_CPUS: "0" },
});

beforeAll(() => deployFixture({ server: stack.server, emulator: stack.emulator, owner: OWNER, repo: REPO, fixture: "node-behaviours" }));

async function call(name: string, path = "/") {
  const response = await fetch(`${stack.server.url}/fn/${OWNER}/${REPO}/${name}${path}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const containersOf = (name: string) =>
  docker.listContainers({ all: true, filters: { label: [`dev.eserveless.repository=${OWNER}/${REPO}`, `dev.eserveless.function=${name}`] } });

describe("scaling on measured queueing", () => {
  it("keeps a fast function on one container under a burst, and gives a slow one whose requests queue more", async () => {
    // Crash answers at once (concurrency 10): 30 at once queue for a few milliseconds only.
    const fast = await Promise.all(Array.from({ length: 30 }, () => call("Crash")));
    expect(fast.map((a) => a.status)).toEqual(Array(30).fill(200));
    expect(await containersOf("Crash")).toHaveLength(1);
    // Slow takes 20 at once; 20 more wait 800 ms for a slot, past ESERVELESS_SCALE_UP_AFTER_MS (50): another container starts for them.
    const slow = await Promise.all(Array.from({ length: 40 }, () => call("Slow", "/?ms=800")));
    expect(slow.map((a) => a.status)).toEqual(Array(40).fill(200));
    // Answered by more than one container (each reports when it started).
    expect(new Set(slow.map((a) => a.body.started)).size).toBeGreaterThan(1);
    expect((await containersOf("Slow")).length).toBeGreaterThan(1);
  });
});
