import Docker from "dockerode";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readConfig } from "../../src/config.js";
import { LABEL, sandboxedContainer } from "../../src/run/sandbox.js";
import { cidrRange } from "../../src/run/subnet-pool.js";
import { demuxDockerLog } from "../../src/run/run-output.js";
import { readFixture } from "../support/fixtures.js";
import { deployUpload } from "../support/deploy-upload.js";
import { startEserveless, testImages, type TestEserveless } from "../support/start-eserveless.js";
import { testNetworks } from "../support/test-networks.js";

// Each project's containers sit on a Docker network of their own. From a
// function of project A, an attacker tries the containers this test made:
// project B's (another network) must not answer, A's own must. No address
// outside what the test created is ever tried.

const docker = new Docker();
const PROJECT_A = "net-a";
const PROJECT_B = "net-b";

let server: TestEserveless;
let instance: string;
let stopped = false;

beforeAll(async () => {
  // Over tcp: functions then listen on port 8080 on their network, which the probe needs (over unix they listen on no port).
  server = await startEserveless({ env: { ESERVELESS_TRANSPORT: "tcp" } });
  instance = readFileSync(join(server.dataDir, "instance-id"), "utf8").trim();
  for (const project of [PROJECT_A, PROJECT_B]) {
    const { deployment, log } = await deployUpload(server, project, readFixture("node-net-probe"));
    expect(deployment.state, log.join("\n")).toBe("success");
  }
});

afterAll(async () => {
  if (!stopped) await server?.stop();
});

/** The running containers of a project's function, with their networks. */
async function containersOf(project: string, fn: string) {
  return docker.listContainers({ filters: { label: [`${LABEL}.instance=${instance}`, `${LABEL}.repository=local/${project}`, `${LABEL}.function=${fn}`] } });
}

/** This instance's networks, by name. */
async function networksOf() {
  return docker.listNetworks({ filters: { label: [`${LABEL}.instance=${instance}`] } });
}

/** Asks A's Probe function to open a TCP connection to `host:port` from inside its container. */
async function probeFromA(host: string, port: number): Promise<{ reached: boolean; error?: string }> {
  const response = await fetch(`${server.url}/fn/local/${PROJECT_A}/Probe?host=${host}&port=${port}`);
  expect(response.status).toBe(200);
  return (await response.json()) as { reached: boolean; error?: string };
}

/** The one network of the one running container of `project`'s `fn`, and its address there. */
async function addressOf(project: string, fn: string): Promise<{ network: string; ip: string }> {
  // A request makes sure one runs.
  expect((await fetch(`${server.url}/fn/local/${project}/${fn}`)).status).toBe(200);
  const [container] = await containersOf(project, fn);
  const networks = Object.entries(container!.NetworkSettings.Networks);
  expect(networks).toHaveLength(1);
  return { network: networks[0]![0], ip: networks[0]![1].IPAddress };
}

describe("project networks", () => {
  it("put each project on a network of its own, with a /26 from the pool, and nothing on Docker's shared bridge", async () => {
    const a = await addressOf(PROJECT_A, "Hello");
    const b = await addressOf(PROJECT_B, "Hello");
    const probe = await addressOf(PROJECT_A, "Probe");
    expect(probe.network).toBe(a.network);
    expect(b.network).not.toBe(a.network);
    expect([a.network, b.network]).not.toContain("bridge");

    const pool = cidrRange(readConfig({}).networks.pool)!;
    const networks = await networksOf();
    for (const name of [a.network, b.network]) {
      const network = networks.find((n) => n.Name === name)!;
      expect(network.Labels).toMatchObject({ [`${LABEL}.managed`]: "true", [`${LABEL}.network`]: "project" });
      const subnet = network.IPAM!.Config![0]!.Subnet!;
      expect(subnet).toMatch(/\/26$/);
      const range = cidrRange(subnet)!;
      expect(range.first >= pool.first && range.last <= pool.last, `${subnet} inside the pool`).toBe(true);
      expect(network.Options!["com.docker.network.bridge.name"]).toMatch(/^es[0-9a-f]{13}$/);
    }
    expect(networks.find((n) => n.Name === a.network)!.Labels![`${LABEL}.repository`]).toBe(`local/${PROJECT_A}`);
  });

  it("keeps another project's containers out of reach of a function, and its own project's within", async () => {
    const b = await addressOf(PROJECT_B, "Hello");
    const a = await addressOf(PROJECT_A, "Hello");
    // Same project: reachable, so the probe itself works.
    expect(await probeFromA(a.ip, 8080)).toEqual({ reached: true });
    // Another project's container, on its network address: nothing answers.
    const across = await probeFromA(b.ip, 8080);
    expect(across.reached).toBe(false);
  });

  it("runs cron runs on the project's network too, the same for every spelling of the repository", async () => {
    const network = await server.networks.forProject(`local/${PROJECT_A}`);
    expect(await server.networks.forProject(`Local/${PROJECT_A.toUpperCase()}`)).toBe(network);
    const subnet = cidrRange(((await docker.getNetwork(network).inspect()) as Docker.NetworkInspectInfo).IPAM!.Config![0]!.Subnet!)!;
    const run = server.scheduler.runNow(`local/${PROJECT_A}`, "Where");
    await server.scheduler.idle();
    const finished = server.store.getRun(run.id)!;
    expect(finished.state, finished.error ?? "").toBe("succeeded");
    // Its first line is what it printed, then the runtime's own.
    const printed = finished.output.split("\n")[0]!;
    const address = cidrRange(`${printed}/32`);
    expect(address, finished.output).toBeDefined();
    expect(address!.first >= subnet.first && address!.first <= subnet.last, `${printed} in ${network}`).toBe(true);
  });

  it("keeps the networks of live projects across a restart and removes those of projects and previews with nothing live", async () => {
    const gone = await server.networks.forProject("local/never-deployed");
    const a = await server.networks.forProject(`local/${PROJECT_A}`);
    // A preview of a live project whose preview has nothing live (closed while eserveless was down).
    const goneA = await server.networks.forProject(`local/${PROJECT_A}`, "pr-3");
    expect(goneA).not.toBe(a);
    await server.stop({ restart: true });
    expect((await networksOf()).map((n) => n.Name)).toEqual(expect.arrayContaining([gone, a, goneA]));

    server = await startEserveless({ env: { DATA_DIR: server.dataDir } });
    const names = (await networksOf()).map((n) => n.Name);
    expect(names).toContain(a);
    expect(names).not.toContain(gone);
    expect(names).not.toContain(goneA);
    // The adopted containers answer at once, on their network.
    expect((await fetch(`${server.url}/fn/local/${PROJECT_A}/Hello`)).status).toBe(200);
  });

  it("removes every network of the instance when it stops without keeping its containers", async () => {
    expect((await networksOf()).length).toBeGreaterThan(0);
    stopped = true;
    await server.stop();
    expect(await networksOf()).toEqual([]);
  });
});

describe("eserveless in a container", () => {
  it("connects its own container to each project's and preview's network, reaches the functions there by name, and leaves with the network", async () => {
    const image = testImages.ESERVELESS_NODE_IMAGE;
    const id = `es-test-self-${randomBytes(3).toString("hex")}`;
    // A stand-in for eserveless's container; its id is what ESERVELESS_CONTAINER=auto reads from HOSTNAME.
    const self = await docker.createContainer({ Image: image, name: id, Cmd: ["node", "-e", "setInterval(() => {}, 1 << 30)"], Labels: { "dev.eserveless.test": id } });
    const networks = testNetworks(docker, id, { self: (await self.inspect()).Config.Hostname });
    const fn = await docker.createContainer(
      sandboxedContainer({
        image,
        name: `${id}-fn`,
        env: {},
        labels: { "dev.eserveless.test": id },
        network: await networks.forProject("octo/in-container"),
        cmd: ["node", "-e", "require('http').createServer((q, s) => s.end('by name')).listen(8080)"],
      }),
    );
    try {
      await self.start();
      await fn.start();
      const network = await networks.forProject("octo/in-container");
      const preview = await networks.forProject("octo/in-container", "pr-3");
      const joined = Object.keys((await self.inspect()).NetworkSettings.Networks);
      expect(joined).toEqual(expect.arrayContaining([network, preview]));
      expect(preview).not.toBe(network);

      const exec = await self.exec({
        Cmd: ["node", "-e", `setTimeout(async () => console.log(await (await fetch("http://${id}-fn:8080/")).text()), 300)`],
        AttachStdout: true,
        AttachStderr: true,
      });
      const stream = await exec.start({ hijack: true, stdin: false });
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      await new Promise((resolve) => stream.on("end", resolve));
      expect(demuxDockerLog(Buffer.concat(chunks)).toString().trim()).toBe("by name");

      await fn.remove({ force: true });
      // A closed preview's network goes alone; the project's with all of its previews'.
      await networks.removeEnvironment("octo/in-container", "pr-3");
      expect(Object.keys((await self.inspect()).NetworkSettings.Networks)).toEqual(expect.arrayContaining([network]));
      expect(Object.keys((await self.inspect()).NetworkSettings.Networks)).not.toContain(preview);
      await networks.forProject("octo/in-container", "pr-4");
      await networks.removeProject("octo/in-container");
      expect(Object.keys((await self.inspect()).NetworkSettings.Networks).filter((name) => name !== "bridge")).toEqual([]);
      expect((await docker.listNetworks({ filters: { name: [network] } })).filter((n) => n.Name === network)).toEqual([]);
    } finally {
      await fn.remove({ force: true }).catch(() => undefined);
      await self.remove({ force: true });
      await networks.removeAll();
    }
  });
});
