import Docker from "dockerode";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LABEL } from "../../src/run/sandbox.js";
import { readFixture } from "../support/fixtures.js";
import { useEserveless } from "../support/use-eserveless.js";

// A pull request's preview runs code nobody reviewed yet. Its containers sit
// on a network of their own: from the preview's function an attacker tries
// production's container of the same project, and from production's the
// preview's; neither answers, while each reaches its own. No address outside
// what the test created is ever tried.

const OWNER = "octo-org";
const REPO = "preview-net";
const NUMBER = 7;
// Over tcp: the probes need functions listening on their network's port
// 8080, which over a Unix socket listen on none.
const stack = useEserveless({ repositories: [{ owner: OWNER, name: REPO }], env: { ESERVELESS_TRANSPORT: "tcp" } });
const docker = new Docker();

const instance = () => readFileSync(join(stack.server.dataDir, "instance-id"), "utf8").trim();
const productionUrl = (fn: string) => `${stack.server.url}/fn/${OWNER}/${REPO}/${fn}`;
const previewUrl = (fn: string) => `${stack.server.url}/pr/${OWNER}/${REPO}/${NUMBER}/${fn}`;

/** The one network of the one running container of `fn` in `environment`, and its address there. */
async function addressOf(environment: string, fn: string): Promise<{ network: string; ip: string }> {
  // A request makes sure one runs.
  const response = await fetch(environment === "production" ? productionUrl(fn) : previewUrl(fn));
  expect(response.status).toBe(200);
  const running = await docker.listContainers({ filters: { label: [`${LABEL}.instance=${instance()}`, `${LABEL}.repository=${OWNER}/${REPO}`, `${LABEL}.function=${fn}`] } });
  const mine = running.filter((c) => (c.Labels[`${LABEL}.environment`] ?? "production") === environment);
  expect(mine).toHaveLength(1);
  const networks = Object.entries(mine[0]!.NetworkSettings.Networks);
  expect(networks).toHaveLength(1);
  return { network: networks[0]![0], ip: networks[0]![1].IPAddress };
}

/** Asks the Probe function of `from` to open a TCP connection to `ip:8080` from inside its container. */
async function probe(from: "production" | "preview", ip: string): Promise<{ reached: boolean; error?: string }> {
  const response = await fetch(`${from === "production" ? productionUrl("Probe") : previewUrl("Probe")}?host=${ip}&port=8080`);
  expect(response.status).toBe(200);
  return (await response.json()) as { reached: boolean; error?: string };
}

const networkNames = async () => (await docker.listNetworks({ filters: { label: [`${LABEL}.instance=${instance()}`] } })).map((n) => n.Name);

describe("preview networks", () => {
  it("keeps a preview's containers and production's of the same project out of each other's reach, and removes the preview's network with it", async () => {
    const main = stack.emulator.commit(OWNER, REPO, { files: readFixture("node-net-probe") });
    await stack.server.deliver("push", stack.emulator.pushPayload(OWNER, REPO, { after: main }));
    expect((await stack.settled(OWNER, REPO, main)).final.state).toBe("success");
    const head = stack.emulator.commit(OWNER, REPO, { files: readFixture("node-net-probe"), branch: "attack" });
    expect((await stack.server.deliver("pull_request", stack.emulator.pullRequestPayload(OWNER, REPO, { number: NUMBER, action: "opened", head }))).status).toBe(202);
    expect((await stack.settled(OWNER, REPO, head)).final.state).toBe("success");

    const production = await addressOf("production", "Hello");
    const preview = await addressOf(`pr-${NUMBER}`, "Hello");
    // Each reaches its own environment's container, so the probes work.
    expect(await probe("preview", preview.ip)).toEqual({ reached: true });
    expect(await probe("production", production.ip)).toEqual({ reached: true });
    // The pull request's code cannot reach production's container, nor production the preview's.
    expect((await probe("preview", production.ip)).reached).toBe(false);
    expect((await probe("production", preview.ip)).reached).toBe(false);
    // Because the preview has a network of its own, labelled as such.
    expect(preview.network).not.toBe(production.network);
    const labels = (await docker.getNetwork(preview.network).inspect()) as Docker.NetworkInspectInfo;
    expect(labels.Labels).toMatchObject({ [`${LABEL}.network`]: "project", [`${LABEL}.repository`]: `${OWNER}/${REPO}`, [`${LABEL}.environment`]: `pr-${NUMBER}` });

    const closed = await stack.server.deliver("pull_request", stack.emulator.pullRequestPayload(OWNER, REPO, { number: NUMBER, action: "closed", head }));
    expect(closed.status).toBe(200);
    // Its removal (containers, then network) is done once the previews are idle.
    await stack.server.previews!.idle();
    expect(await networkNames()).not.toContain(preview.network);
    expect(await networkNames()).toContain(production.network);
    expect((await fetch(productionUrl("Hello"))).status).toBe(200);
  });
});
