import Docker from "dockerode";
import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { adoptContainers } from "../../src/run/adopt-containers.js";
import { ContainerPool } from "../../src/run/container-pool.js";
import { testNetworks } from "../support/test-networks.js";
import { unreachableDocker } from "../support/wire-app.js";

// Taking over containers while Docker answers is test/eserveless.test.ts's
// part (with a relay that starts answering later) and invoke-routes' (a restart).

/** A logger that keeps the messages it is given. */
function capturingLog() {
  const messages: string[] = [];
  const log = pino({ level: "info" }, { write: (line: string) => void messages.push((JSON.parse(line) as { msg: string }).msg) });
  return { log, messages };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("adoptContainers", () => {
  it("tries again while Docker does not answer, asking for the live functions each time, until stopped", async () => {
    const { log, messages } = capturingLog();
    const docker = unreachableDocker();
    const pool = new ContainerPool({ docker, instance: "adopt-unreachable", log, networks: testNetworks(docker, "adopt-unreachable") });
    let asked = 0;
    const live = () => {
      asked++;
      return [];
    };
    const adoption = await adoptContainers({ pool, live, log, retryMs: 20 });
    try {
      // It resolves once the first try failed, and says what to do.
      expect(asked).toBe(1);
      expect(messages[0]).toMatch(/^Docker is not reachable: start the Docker engine or set DOCKER_HOST/);
      const deadline = Date.now() + 5_000;
      while (asked < 3 && Date.now() < deadline) await sleep(10);
      expect(asked).toBeGreaterThanOrEqual(3);
    } finally {
      adoption.stop();
      await pool.close();
    }
    const stoppedAt = asked;
    await sleep(100);
    expect(asked).toBe(stoppedAt);
  });

  it("tries once when Docker answers", async () => {
    const { log, messages } = capturingLog();
    // A new instance id: the engine holds no containers of it.
    const docker = new Docker();
    const instance = randomBytes(8).toString("hex");
    const pool = new ContainerPool({ docker, instance, log, networks: testNetworks(docker, instance) });
    let asked = 0;
    const live = () => {
      asked++;
      return [];
    };
    const adoption = await adoptContainers({ pool, live, log, retryMs: 20 });
    await sleep(100);
    adoption.stop();
    await pool.close();
    expect(asked).toBe(1);
    // Nothing to take over, nothing to say.
    expect(messages).toEqual([]);
  });
});
