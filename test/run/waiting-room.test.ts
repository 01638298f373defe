import Docker from "dockerode";
import { setTimeout as sleep } from "node:timers/promises";
import { beforeAll, describe, expect, it } from "vitest";
import { deployFixture } from "../support/deploy-fixture.js";
import { eventually } from "../support/eventually.js";
import { useEserveless } from "../support/use-eserveless.js";

// The server-wide ceiling on waiting requests, against a real server and real
// containers: a stranger who floods one function is turned away past it, and
// cannot keep another function's callers, or its cold start, out.

const OWNER = "octo-org";
const REPO = "crowded";
const docker = new Docker();

const stack = useEserveless({
  repositories: [{ owner: OWNER, name: REPO }],
  // Scaling on queueing alone: whether the shared test host has idle CPU is not what this is about.
  env: { ESERVELESS_MAX_WAITING: "4", ESERVELESS_SCALE_UP_IDLE_CPUS: "0" },
});

beforeAll(() => deployFixture({ server: stack.server, emulator: stack.emulator, owner: OWNER, repo: REPO, fixture: "node-behaviours" }));

async function call(name: string) {
  const response = await fetch(`${stack.server.url}/fn/${OWNER}/${REPO}/${name}/`);
  const text = await response.text();
  return { status: response.status, headers: response.headers, text };
}

describe("the server's waiting room (ESERVELESS_MAX_WAITING)", () => {
  it("turns a flood on one function away past the ceiling, with 503 and Retry-After, while another function's cold start is served", async () => {
    // Brief's container goes after one idle second: its next request waits for a cold start.
    await eventually("Brief's container to be reaped", async () => {
      const containers = await docker.listContainers({ filters: { label: [`dev.eserveless.repository=${OWNER}/${REPO}`, "dev.eserveless.function=Brief"] } });
      return containers.length === 0 ? true : undefined;
    });
    // The attack: Single answers one request at a time, after a second each; its own queue holds 100.
    const flood = Array.from({ length: 7 }, (_, i) => sleep(i * 30).then(() => call("Single")));
    await sleep(500);

    const cold = await call("Brief");
    expect(cold.status).toBe(200);
    expect(cold.headers.get("server-timing")).toMatch(/^cold-start;dur=\d+/);

    const answers = await Promise.all(flood);
    // One in its container, four waiting (the ceiling), two refused at once; Brief's cold start took the newest place.
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 503, 503, 503]);
    for (const refused of answers.filter((a) => a.status === 503)) {
      expect(refused.headers.get("retry-after")).toBe("1");
      expect(JSON.parse(refused.text)).toMatchObject({ error: { code: "server_busy", message: expect.stringContaining("ESERVELESS_MAX_WAITING") } });
    }

    // Once the flood drained, Single queues again.
    expect((await Promise.all([call("Single"), call("Single")])).map((a) => a.status)).toEqual([200, 200]);
  });
});
