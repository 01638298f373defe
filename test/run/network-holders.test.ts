import Docker from "dockerode";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ContainerPool, type FunctionTarget } from "../../src/run/container-pool.js";
import type { Replica } from "../../src/run/function-pool.js";
import { HOLDER_LABEL } from "../../src/run/network-holders.js";
import type { ProjectNetworks } from "../../src/run/project-networks.js";
import { LABEL } from "../../src/run/sandbox.js";
import { SocketDirs } from "../../src/run/socket-dirs.js";
import { deploymentTestbed } from "../support/deployment-testbed.js";
import { buildTestImage, getThrough } from "../support/pool-replicas.js";
import { testImages } from "../support/start-eserveless.js";
import { testNetworks } from "../support/test-networks.js";

// Functions reached over their socket need no address of their own: a
// project's containers join the namespace of one idle holder on the
// project's network. From a function of project A, an attacker tries a
// listener in project B's namespace, on the address this test's holder got:
// it must not answer. No address outside what the test created is tried.

const testbed = deploymentTestbed();
const INSTANCE = "test-network-holders";
const docker = new Docker();
const networks = testNetworks(docker, INSTANCE);
const silent = pino({ level: "silent" });
const LISTEN_PORT = 9000;

const FUNCTIONS = String.raw`
const net = require("node:net");
// Listen opens a TCP listener in its namespace as it loads: what another project must not reach.
if (process.env.ESERVELESS_FUNCTION === "Listen") net.createServer((socket) => socket.end("listener")).listen(${LISTEN_PORT});

module.exports = {
  Listen: (req, res) => res.end("ok"),
  Probe: (req, res) => {
    const url = new URL(req.url, "http://x");
    const socket = net.connect({ host: url.searchParams.get("host"), port: Number(url.searchParams.get("port")) });
    const answer = (body) => {
      socket.destroy();
      res.end(JSON.stringify(body));
    };
    socket.setTimeout(1500, () => answer({ reached: false, error: "timeout" }));
    socket.on("data", (data) => answer({ reached: true, said: String(data) }));
    socket.on("error", (error) => answer({ reached: false, error: error.code }));
  },
};
`;


let image: string;
let root: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "eserveless-holders-"));
  image = await buildTestImage({
    docker,
    instance: INSTANCE,
    networks,
    testbed,
    files: {
      ".eserveless.yaml": "runtime: node\nfunctions:\n  - { name: Listen, type: http }\n  - { name: Probe, type: http }\n",
      "package.json": '{ "name": "network-holders", "private": true }\n',
      "functions.js": FUNCTIONS,
    },
  });
}, 180_000);

/** What each test started; removed after it. */
const started: Replica[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((replica) => replica.container.remove({ force: true }).catch(() => undefined)));
});

afterAll(async () => {
  if (image) await docker.getImage(image).remove({ force: true }).catch(() => undefined);
  await networks.removeAll();
  await testNetworks(docker, INSTANCE, { holderImages: [] }).removeAll();
  if (root) rmSync(root, { recursive: true, force: true });
});

function target(repository: string, name: "Listen" | "Probe", environment?: string): FunctionTarget {
  return {
    repository,
    name,
    ...(environment === undefined ? {} : { environment }),
    image,
    commit: "0123456789abcdef0123456789abcdef01234567",
    deploymentId: `d-${repository}`,
    env: {},
    scaling: { concurrency: 10, minReplicas: 0, maxReplicas: 2, idleTimeoutMs: 600_000 },
  };
}

function poolOn(on: ProjectNetworks = networks): ContainerPool {
  return new ContainerPool({ docker, instance: INSTANCE, log: silent, networks: on, sockets: new SocketDirs(mkdtempSync(join(root, "sockets-"))), reapIntervalMs: 3_600_000 });
}

async function start(pool: ContainerPool, repository: string, name: "Listen" | "Probe", environment?: string): Promise<Replica> {
  const replica = await pool.start(target(repository, name, environment));
  started.push(replica);
  return replica;
}

/** Asks a Probe replica to open a TCP connection to `host:port` from inside its container. */
async function probe(replica: Replica, host: string, port = LISTEN_PORT): Promise<{ reached: boolean; said?: string; error?: string }> {
  return JSON.parse(await getThrough(replica, `/?host=${host}&port=${port}`)) as { reached: boolean; said?: string; error?: string };
}

const networkModeOf = async (replica: Replica) => (await docker.getContainer(replica.container.id).inspect()).HostConfig.NetworkMode;

/** The holder whose namespace `replica` shares, inspected. */
async function holderOf(replica: Replica): Promise<Docker.ContainerInspectInfo> {
  const mode = await networkModeOf(replica);
  expect(mode).toMatch(/^container:[0-9a-f]{64}$/);
  return docker.getContainer(mode!.slice("container:".length)).inspect();
}

/** The holder's address on its one network, and that network's name. */
function addressOf(holder: Docker.ContainerInspectInfo): { network: string; ip: string } {
  const networks = Object.entries(holder.NetworkSettings.Networks);
  expect(networks).toHaveLength(1);
  return { network: networks[0]![0], ip: networks[0]![1].IPAddress };
}

describe("network holders", () => {
  it("start a project's function containers in the namespace of one confined, idle holder on the project's network", async () => {
    const pool = poolOn();
    try {
      const [listen, probeA, probeB] = [await start(pool, "octo/a", "Listen"), await start(pool, "octo/a", "Probe"), await start(pool, "octo/a", "Probe")];
      const holder = await holderOf(listen);
      for (const replica of [probeA, probeB]) expect(await networkModeOf(replica)).toBe(`container:${holder.Id}`);
      const { network, ip } = addressOf(holder);
      expect(network).toBe(await networks.forProject("octo/a"));
      expect(holder.Config.Labels).toMatchObject({ [HOLDER_LABEL]: network, [`${LABEL}.instance`]: INSTANCE, [`${LABEL}.repository`]: "octo/a" });
      expect(holder.Config.Labels[`${LABEL}.function`]).toBeUndefined();
      // It runs nothing of the project, as nobody, with nothing it could use.
      expect(holder.Config.Image).toBe(testImages.ESERVELESS_NODE_IMAGE);
      expect([...(holder.Config.Entrypoint as string[]), ...holder.Config.Cmd]).toEqual(["sleep", "2147483647"]);
      expect(holder.Config.User).toBe("65534:65534");
      expect(holder.HostConfig).toMatchObject({ CapDrop: ["ALL"], ReadonlyRootfs: true, SecurityOpt: ["no-new-privileges:true"], Memory: 16 * 1024 * 1024, PidsLimit: 8 });
      expect(holder.State.Running).toBe(true);
      // The functions use the holder's interface: one project's Probe reaches its Listen there, and on the loopback they share.
      expect(await probe(probeA, ip)).toEqual({ reached: true, said: "listener" });
      expect(await probe(probeB, "127.0.0.1")).toEqual({ reached: true, said: "listener" });
    } finally {
      await pool.close();
    }
  });

  it("keep another project's namespace out of reach of a function", async () => {
    const pool = poolOn();
    try {
      const b = addressOf(await holderOf(await start(pool, "octo/b", "Listen")));
      const own = addressOf(await holderOf(await start(pool, "octo/a", "Listen")));
      const attacker = await start(pool, "octo/a", "Probe");
      expect(own.network).not.toBe(b.network);
      // Its own project's listener answers, so the probe works; project B's, on B's address, does not.
      expect(await probe(attacker, own.ip)).toEqual({ reached: true, said: "listener" });
      expect((await probe(attacker, b.ip)).reached).toBe(false);
    } finally {
      await pool.close();
    }
  });

  it("keep a pull request's preview and its project's production in namespaces of their own", async () => {
    const pool = poolOn();
    try {
      const production = await start(pool, "octo/p", "Listen");
      const productionHolder = await holderOf(production);
      const preview = await start(pool, "octo/p", "Probe", "pr-7");
      const previewHolder = await holderOf(preview);
      expect(previewHolder.Id).not.toBe(productionHolder.Id);
      expect(previewHolder.Config.Labels).toMatchObject({ [`${LABEL}.environment`]: "pr-7", [`${LABEL}.repository`]: "octo/p" });
      expect(addressOf(previewHolder).network).toBe(await networks.forProject("octo/p", "pr-7"));
      // The preview's code cannot reach production's listener, on its address nor on a loopback it does not share.
      expect((await probe(preview, addressOf(productionHolder).ip)).reached).toBe(false);
      expect((await probe(preview, "127.0.0.1")).reached).toBe(false);
    } finally {
      await pool.close();
    }
  });

  it("are removed with their network once no container shares them, and not before", async () => {
    const pool = poolOn();
    try {
      const replica = await start(pool, "octo/c", "Listen");
      const holder = await holderOf(replica);
      const { network } = addressOf(holder);
      expect(await networks.removeProject("octo/c")).toBe(false);
      expect((await docker.getContainer(holder.Id).inspect()).State.Running).toBe(true);
      expect(await getThrough(replica)).toBe("ok");
      await pool.discard([replica]);
      expect(await networks.removeProject("octo/c")).toBe(true);
      await expect(docker.getContainer(holder.Id).inspect()).rejects.toMatchObject({ statusCode: 404 });
      await expect(docker.getNetwork(network).inspect()).rejects.toMatchObject({ statusCode: 404 });
    } finally {
      await pool.close();
    }
  });

  it("are started again when removed from outside, and the container that found it gone joins the new one", async () => {
    const pool = poolOn();
    try {
      const first = await holderOf(await start(pool, "octo/d", "Listen"));
      await docker.getContainer(first.Id).remove({ force: true });
      // Docker refuses the join; the start tries once more, with a new holder.
      const replica = await start(pool, "octo/d", "Probe");
      const second = await holderOf(replica);
      expect(second.Id).not.toBe(first.Id);
      expect(second.State.Running).toBe(true);
      expect(JSON.parse(await getThrough(replica, `/?host=127.0.0.1&port=1`))).toMatchObject({ reached: false });
    } finally {
      await pool.close();
    }
  });

  it("are started again when stopped from outside, and starts that find one gone together all join the one new holder", async () => {
    const pool = poolOn();
    try {
      const first = await holderOf(await start(pool, "octo/f", "Listen"));
      // Stopped: Docker refuses the join with a 409 (cannot join a container that does not run).
      await docker.getContainer(first.Id).kill();
      const second = await holderOf(await start(pool, "octo/f", "Probe"));
      expect(second.Id).not.toBe(first.Id);
      // Removed, then six starts at once: each that fails forgets only the holder it tried, not the one replacing it.
      await docker.getContainer(second.Id).remove({ force: true });
      const replicas = await Promise.all(Array.from({ length: 6 }, () => start(pool, "octo/f", "Probe")));
      const modes = new Set(await Promise.all(replicas.map(networkModeOf)));
      expect(modes.size).toBe(1);
      const third = await holderOf(replicas[0]!);
      expect([first.Id, second.Id]).not.toContain(third.Id);
      const holders = await docker.listContainers({ filters: { label: [`${LABEL}.instance=${INSTANCE}`, `${HOLDER_LABEL}=${addressOf(third).network}`] } });
      expect(holders.map((h) => h.Id)).toEqual([third.Id]);
      // And the next start still joins it: the failures did not leave the network without a holder.
      expect(await networkModeOf(await start(pool, "octo/f", "Listen"))).toBe(`container:${third.Id}`);
    } finally {
      await pool.close();
    }
  });

  it("leave functions on their network when no base image here can hold one", async () => {
    const without = testNetworks(docker, INSTANCE, { holderImages: ["eserveless-test/no-such-image:0"] });
    const pool = poolOn(without);
    try {
      const replica = await start(pool, "octo/e", "Listen");
      expect(await networkModeOf(replica)).toBe(await without.forProject("octo/e"));
      expect(await getThrough(replica)).toBe("ok");
    } finally {
      await pool.close();
    }
  });
});
