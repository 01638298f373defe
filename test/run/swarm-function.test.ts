import type Docker from "dockerode";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { Lease } from "../../src/run/function-pool.js";
import { SwarmFunction } from "../../src/run/swarm-function.js";
import type { ServiceTask } from "../../src/run/swarm-services.js";

// Unit tests of one function's service on a swarm, with a hand-driven task
// list and clock. The same behaviours against a real swarm live in
// test/swarm/swarm-mode.test.ts, where they depend on Docker's timing.

const log = pino({ level: "silent" });

/** The service as Swarm would report it: its running tasks, the replicas it was set to, the scale calls it refused. */
class FakeServices {
  tasks: ServiceTask[] = [];
  replicas: number;
  readonly asked: number[] = [];
  refusals = 0;
  /** When set, each scale call waits for it before Docker answers. */
  gate: Promise<void> | undefined;

  constructor(replicas: number) {
    this.replicas = replicas;
  }

  running(): Promise<ServiceTask[]> {
    return Promise.resolve([...this.tasks]);
  }

  async scale(_id: string, replicas: number): Promise<void> {
    this.asked.push(replicas);
    await this.gate;
    if (this.refusals > 0) {
      this.refusals--;
      throw new Error("rpc error: code = Unknown desc = update out of sequence");
    }
    this.replicas = replicas;
  }

  remove(): Promise<void> {
    return Promise.resolve();
  }
}

const task = (n: number): ServiceTask => ({ id: `task-${n}`, address: `10.0.9.${n}`, node: "node-1", containerId: `container-${n}` });

const functions: SwarmFunction[] = [];
afterEach(async () => {
  await Promise.all(functions.splice(0).map((fn) => fn.close()));
});

function setup(scaling: { minReplicas: number; maxReplicas: number; idleTimeoutMs: number }, replicas: number) {
  const clock = { t: 1_000_000 };
  const services = new FakeServices(replicas);
  const fn = new SwarmFunction(
    "dep-1",
    { id: "svc-1", name: "es-app-fn-000000", network: "es-app" },
    { concurrency: 1, ...scaling },
    { readyTimeoutMs: 30_000, queueSize: 100, pauseAfterMs: 0, drainTimeoutMs: 0, scaleUpAfterMs: 0 },
    replicas,
    {
      services,
      docker: { getContainer: (id: string) => ({ id }) } as unknown as Pick<Docker, "getContainer">,
      log,
      now: () => clock.t,
      // Every listed task answers: what is tested is which tasks the function lends, not the probe.
      probe: () => Promise.resolve(true),
    },
  );
  functions.push(fn);
  return { fn, services, clock };
}

/** Lets queued callbacks run, the scale calls' included. */
const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

describe("SwarmFunction", () => {
  it("asks again for the replicas Docker refused to set: a deployment's minReplicas are not lost to one failed update", async () => {
    const { fn, services } = setup({ minReplicas: 3, maxReplicas: 6, idleTimeoutMs: 5_000 }, 1);
    services.tasks = [task(1)];
    services.refusals = 1;
    fn.scaleTo(3);
    await settle();
    expect(services.asked).toEqual([3]);
    expect(services.replicas).toBe(1);
    expect(fn.desired).toBe(1);
    await fn.tick();
    await settle();
    expect(services.asked).toEqual([3, 3]);
    expect(services.replicas).toBe(3);
    expect(fn.desired).toBe(3);
  });

  it("lends no task of a service it scaled to zero: the next request waits for a new task and is told it was a cold start", async () => {
    const { fn, services, clock } = setup({ minReplicas: 0, maxReplicas: 2, idleTimeoutMs: 1_000 }, 1);
    services.tasks = [task(1)];
    await fn.refresh();
    expect(fn.replicas.map((r) => r.host)).toEqual(["10.0.9.1"]);
    // Idle past its timeout: scaled to 0. Swarm still lists the task as running until its orchestrator acts on it.
    clock.t += 1_500;
    await fn.tick();
    await settle();
    expect(services.replicas).toBe(0);
    expect(fn.replicas).toEqual([]);
    await fn.refresh();
    expect(fn.replicas).toEqual([]);
    // Then it is told to stop (listed no more) while its container still answers for a moment: a request now must not go there.
    services.tasks = [];
    const leases: Lease[] = [];
    const waiting = fn.acquire().then((lease) => leases.push(lease));
    await settle();
    expect(leases).toEqual([]);
    expect(services.replicas).toBe(1);
    // The old task is gone and a new one runs: the request goes to it.
    services.tasks = [task(2)];
    clock.t += 600;
    await waiting;
    expect(leases[0]!.replica.host).toBe("10.0.9.2");
    expect(leases[0]!.coldStartMs).toBe(600);
    leases[0]!.release();
  });

  it("serves a request that came while Docker refused the scale to zero from the task the service kept, instead of failing it", async () => {
    const { fn, services, clock } = setup({ minReplicas: 0, maxReplicas: 2, idleTimeoutMs: 1_000 }, 1);
    services.tasks = [task(1)];
    await fn.refresh();
    let answer!: () => void;
    services.gate = new Promise<void>((resolve) => (answer = resolve));
    services.refusals = 1;
    clock.t += 1_500;
    await fn.tick();
    expect(services.asked).toEqual([0]);
    // The request arrives while the scale to 0 is in flight, and Docker then refuses it: the task keeps running.
    const leasing = fn.acquire();
    answer();
    const lease = await leasing;
    expect(services.asked).toEqual([0, 1]);
    expect(services.replicas).toBe(1);
    expect(lease.replica.host).toBe("10.0.9.1");
    lease.release();
  });
});
