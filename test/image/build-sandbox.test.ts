import Docker from "dockerode";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LABEL } from "../../src/run/sandbox.js";
import { cidrRange } from "../../src/run/subnet-pool.js";
import { readFixture } from "../support/fixtures.js";
import { deployUpload, startUpload } from "../support/deploy-upload.js";
import { startEserveless, type TestEserveless } from "../support/start-eserveless.js";

// An image build runs the project's npm install scripts: a stranger's code.
// Each test pushes a project whose `preinstall` does what an attacker would,
// and reads the deployment's log, as its author would. The preinstall script
// is inline (only package.json is there when it runs) and base64-encoded, so
// no quoting stands between the test and what runs.

const docker = new Docker();

/** A node project with one http function whose package.json's `preinstall` runs `script` (JavaScript). */
function withPreinstall(script: string): Record<string, string> {
  const encoded = Buffer.from(script).toString("base64");
  return {
    ".eserveless.yaml": "runtime: node\nfunctions:\n  - name: Hello\n    type: http\n",
    "functions.js": "module.exports = { Hello: (req, res) => res.end('hello') };\n",
    "package.json": JSON.stringify({
      name: "install-scripts",
      version: "1.0.0",
      private: true,
      scripts: { preinstall: `node -e "eval(Buffer.from('${encoded}', 'base64').toString())"` },
    }),
  };
}

/** What a hostile preinstall reports: who it runs as, its capabilities and its address. */
const WHOAMI = `
  const status = require("fs").readFileSync("/proc/self/status", "utf8");
  const addresses = Object.values(require("os").networkInterfaces()).flat().filter((a) => a.family === "IPv4" && !a.internal);
  console.log("build uid " + process.getuid() + " gid " + process.getgid());
  console.log("build " + status.split("\\n").find((line) => line.startsWith("CapEff:")).replace(/\\s+/, " "));
  console.log("build address " + addresses.map((a) => a.address).join(" "));
  // The limits its cgroup and rlimits hold, cgroup v1 or v2.
  const read = (...paths) => { for (const p of paths) { try { return require("fs").readFileSync(p, "utf8").trim(); } catch {} } return "unknown"; };
  const memory = read("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes");
  const cpu = read("/sys/fs/cgroup/cpu.max").replace(" ", "/") === "unknown"
    ? read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") + "/" + read("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
    : read("/sys/fs/cgroup/cpu.max").replace(" ", "/");
  const nproc = require("fs").readFileSync("/proc/self/limits", "utf8").split("\\n").find((l) => l.startsWith("Max processes")).split(/\\s+/)[2];
  console.log("build limits memory=" + memory + " cpu=" + cpu + " nproc=" + nproc);
`;

/** A preinstall that tries a TCP connection to host:port and says whether anything accepted it. */
const connectTo = (host: string, port: number) => `
  const socket = require("net").connect({ host: ${JSON.stringify(host)}, port: ${port}, timeout: 1500 });
  const say = (what) => { console.log("probe " + ${JSON.stringify(`${host}:${port}`)} + " " + what); socket.destroy(); };
  socket.once("connect", () => say("reached"));
  socket.once("timeout", () => say("unreachable (timeout)"));
  socket.once("error", (error) => say("unreachable (" + error.code + ")"));
`;

/** Lines of the log that the preinstall printed with `prefix`. */
const printed = (log: string[], prefix: string) => log.filter((line) => line.startsWith(prefix));

async function waitForLine(server: TestEserveless, deploymentId: string, pattern: RegExp, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = server.store.deploymentLog(deploymentId).find((l) => pattern.test(l.line));
    if (line) return line.line;
    if (Date.now() > deadline) throw new Error(`no line matching ${pattern} in ${deploymentId}: ${server.store.deploymentLog(deploymentId).map((l) => l.line).join("\n")}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("image builds, sandboxed", () => {
  let server: TestEserveless;

  beforeAll(async () => {
    // Over tcp: the target function then listens on port 8080 of its network, which the build must not reach (over unix it listens on no port).
    server = await startEserveless({ env: { ESERVELESS_MAX_CONCURRENT_BUILDS: "2", ESERVELESS_TRANSPORT: "tcp" } });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it("run install scripts as a non-root user without capabilities, on the build network, away from functions", async () => {
    // A function of another project, made by this test: the preinstall tries its network address.
    const target = await deployUpload(server, "build-target", readFixture("node-net-probe"));
    expect(target.deployment.state, target.log.join("\n")).toBe("success");
    expect((await fetch(`${server.url}/fn/local/build-target/Hello`)).status).toBe(200);
    const instance = readFileSync(join(server.dataDir, "instance-id"), "utf8").trim();
    const [fn] = await docker.listContainers({ filters: { label: [`${LABEL}.instance=${instance}`, `${LABEL}.repository=local/build-target`, `${LABEL}.function=Hello`] } });
    const targetIp = Object.values(fn!.NetworkSettings.Networks)[0]!.IPAddress;

    const { deployment, log } = await deployUpload(server, "build-whoami", withPreinstall(WHOAMI + connectTo(targetIp, 8080)));
    expect(deployment.state, log.join("\n")).toBe("success");
    expect(printed(log, "build uid ")).toEqual(["build uid 65500 gid 65500"]);
    // No effective capability: no raw sockets (NET_RAW), no chown, no setuid.
    expect(printed(log, "build CapEff: ")).toEqual(["build CapEff: 0000000000000000"]);
    expect(printed(log, "probe ")).toEqual([expect.stringMatching(new RegExp(`^probe ${targetIp.replace(/\./g, "\\.")}:8080 unreachable`))]);
    // The defaults: 2 GiB, one CPU, and 1024 processes per build slot (two here).
    expect(printed(log, "build limits ")).toEqual([`build limits memory=${2 * 1024 ** 3} cpu=100000/100000 nproc=2048`]);

    const buildNetwork = (await docker.getNetwork(await server.networks.forBuilds()).inspect()) as Docker.NetworkInspectInfo;
    const subnet = cidrRange(buildNetwork.IPAM!.Config![0]!.Subnet!)!;
    const address = printed(log, "build address ")[0]!.slice("build address ".length);
    const ip = cidrRange(`${address}/32`)!;
    expect(ip.first >= subnet.first && ip.first <= subnet.last, `${address} in the build network ${buildNetwork.IPAM!.Config![0]!.Subnet}`).toBe(true);
    expect(buildNetwork.Options!["com.docker.network.bridge.enable_icc"]).toBe("false");

    // The function runs as before: as nobody, not as the build user.
    expect(await (await fetch(`${server.url}/fn/local/build-whoami/Hello`)).text()).toBe("hello");
  });

  it("keep two builds that run at once from reaching each other", async () => {
    // The first build listens and reports its address; the second, started once it has, tries it.
    const listener = await startUpload(
      server,
      "build-listener",
      withPreinstall(`
        const server = require("net").createServer((socket) => { console.log("listener got a connection"); socket.end(); });
        server.listen(7000, () => {
          const addresses = Object.values(require("os").networkInterfaces()).flat().filter((a) => a.family === "IPv4" && !a.internal);
          console.log("listener at " + addresses[0].address);
        });
        setTimeout(() => server.close(), 8000);
      `),
    );
    const at = (await waitForLine(server, listener, /^listener at /)).slice("listener at ".length);
    const { deployment, log } = await deployUpload(server, "build-prober", withPreinstall(connectTo(at, 7000)));
    expect(deployment.state, log.join("\n")).toBe("success");
    expect(printed(log, "probe ")).toEqual([expect.stringMatching(/ unreachable/)]);
    await server.deployer.idle();
    const listenerLog = server.store.deploymentLog(listener).map((l) => l.line);
    expect(server.store.getDeployment(listener)!.state, listenerLog.join("\n")).toBe("success");
    expect(printed(listenerLog, "listener got")).toEqual([]);
  });
});

describe("image build limits", () => {
  let server: TestEserveless;

  beforeAll(async () => {
    server = await startEserveless({ env: { ESERVELESS_BUILD_MEMORY: "256m", ESERVELESS_BUILD_TIMEOUT: "15" } });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it("fails a build that uses more than ESERVELESS_BUILD_MEMORY, saying so", async () => {
    const { deployment, log } = await deployUpload(
      server,
      "build-hog",
      withPreinstall(`
        const hoard = [];
        setInterval(() => {
          hoard.push(Buffer.alloc(16 * 1024 * 1024, 1));
          console.log("holding " + hoard.length * 16 + " MiB");
          // Without a limit the test fails here instead of filling the host.
          if (hoard.length * 16 >= 1024) process.exit(0);
        }, 10);
      `),
    );
    expect(deployment.state, log.join("\n")).toBe("failure");
    expect(deployment.description).toMatch(/^The build ran out of memory at RUN \["sh", "\/opt\/eserveless\/install-deps.sh"\]: it may use 256 MiB \(ESERVELESS_BUILD_MEMORY\)/);
    // It held at most the limit, less what npm itself takes.
    const held = printed(log, "holding ").map((line) => Number(/\d+/.exec(line)![0]));
    expect(Math.max(...held)).toBeLessThanOrEqual(256);
  });

  it("stops a build past ESERVELESS_BUILD_TIMEOUT and fails the deployment with the reason", async () => {
    const started = performance.now();
    const { deployment, log } = await deployUpload(server, "build-forever", withPreinstall(`setInterval(() => console.log("still installing"), 500); setTimeout(() => process.exit(0), 60_000);`));
    const seconds = (performance.now() - started) / 1000;
    expect(deployment.state, log.join("\n")).toBe("failure");
    expect(deployment.description).toBe(
      'The build did not finish within 15 s and was stopped at RUN ["sh", "/opt/eserveless/install-deps.sh"] (the limit is ESERVELESS_BUILD_TIMEOUT): make the install faster, or ask the operator to raise it',
    );
    expect(seconds).toBeGreaterThanOrEqual(15);
    expect(seconds).toBeLessThan(40);
    // The step's container was stopped and removed, not left running.
    const container = /---> Running in ([0-9a-f]{12})/.exec(log.findLast((line) => line.includes("---> Running in"))!)![1]!;
    const state = await docker.getContainer(container).inspect().then(
      (info) => info.State.Status,
      (error: { statusCode?: number }) => error.statusCode,
    );
    expect(state).toBe(404);
  });

});

describe("concurrent image builds", () => {
  let server: TestEserveless;

  beforeAll(async () => {
    server = await startEserveless({ env: { ESERVELESS_MAX_CONCURRENT_BUILDS: "1" } });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it("wait beyond ESERVELESS_MAX_CONCURRENT_BUILDS, and say so in their log", async () => {
    const slow = (name: string) =>
      withPreinstall(`
        console.log("${name} starts at " + Date.now());
        setTimeout(() => console.log("${name} ends at " + Date.now()), 2000);
      `);
    const first = await startUpload(server, "build-first", slow("first"));
    await waitForLine(server, first, /^first starts at /);
    const second = await startUpload(server, "build-second", slow("second"));
    await server.deployer.idle();
    const logOf = (id: string) => server.store.deploymentLog(id).map((l) => l.line);
    for (const id of [first, second]) expect(server.store.getDeployment(id)!.state, logOf(id).join("\n")).toBe("success");

    expect(logOf(first).filter((line) => line.startsWith("Waiting for a build slot"))).toEqual([]);
    expect(logOf(second).filter((line) => line.startsWith("Waiting for a build slot"))).toEqual([
      "Waiting for a build slot: 1 of 1 builds running, 0 waiting before this one (ESERVELESS_MAX_CONCURRENT_BUILDS)",
    ]);
    const time = (id: string, what: string) => Number(/\d+$/.exec(logOf(id).find((line) => line.includes(what))!)![0]);
    expect(time(second, "second starts at")).toBeGreaterThanOrEqual(time(first, "first ends at"));
  });
});
