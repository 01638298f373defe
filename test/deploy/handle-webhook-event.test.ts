import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { finalStates, type Deployment } from "../../src/store/deployment-store.js";
import { eventually } from "../support/eventually.js";
import { readFixture } from "../support/fixtures.js";
import { ADMIN_TOKEN } from "../support/start-eserveless.js";
import { useEserveless } from "../support/use-eserveless.js";

// Replayed pushes, through the webhook route, with real builds and containers.

const OWNER = "octo-org";
const REPO = "replayed";
const REPOSITORY = `${OWNER}/${REPO}`;

const stack = useEserveless({ repositories: [{ owner: OWNER, name: REPO }] });

/** A commit of the fixture project whose function answers `version`. */
function commit(version: string): string {
  const files: Record<string, string | Buffer | { content: Buffer; mode: number }> = readFixture("node-hello");
  const source = (files["functions.js"] as { content: Buffer }).content.toString();
  files["functions.js"] = source.replace('const VERSION = "v1"', `const VERSION = "${version}"`);
  return stack.emulator.commit(OWNER, REPO, { files });
}

/** Sends a signed push delivery with a fresh delivery id, as GitHub (or someone replaying its body) would. */
async function deliver(payload: unknown): Promise<{ status: number; body: { action: string; reason?: string; deployment?: { id: string } } }> {
  const response = await stack.server.deliver("push", payload, { id: randomUUID() });
  return { status: response.status, body: (await response.json()) as never };
}

/** Waits for a deployment to end; returns it. */
async function finished(id: string): Promise<Deployment> {
  const deployment = await eventually(`deployment ${id} to end`, async () => {
    const found = stack.server.store.getDeployment(id);
    return found && finalStates.has(found.state) ? found : undefined;
  }, { timeoutMs: 150_000 });
  await stack.server.deployer.idle();
  return deployment;
}

/** The version the live function answers, and the commit it is live from. */
async function live(): Promise<{ version: unknown; commit: string | undefined }> {
  const response = await fetch(`${stack.server.url}/fn/${REPOSITORY}/API`);
  const body = (await response.json()) as { version?: unknown };
  return { version: body.version, commit: stack.server.store.liveFunction(REPOSITORY, "API")?.commit };
}

describe("a push replayed under a new delivery id", () => {
  let older: { sha: string; payload: ReturnType<typeof stack.emulator.pushPayload>; deployment: string };
  let newer: string;

  it("does not roll production back to a commit that already went live", async () => {
    const sha = commit("v1");
    const payload = stack.emulator.pushPayload(OWNER, REPO, { after: sha });
    const first = await deliver(payload);
    expect(first.status).toBe(202);
    expect((await finished(first.body.deployment!.id)).state).toBe("success");
    older = { sha, payload, deployment: first.body.deployment!.id };

    newer = commit("v2");
    const second = await deliver(stack.emulator.pushPayload(OWNER, REPO, { after: newer }));
    expect(second.status).toBe(202);
    expect((await finished(second.body.deployment!.id)).state).toBe("success");
    expect(await live()).toEqual({ version: "v2", commit: newer });
    const deployments = stack.server.store.listDeployments(REPOSITORY).length;

    // The older push's signed body, delivered again under a new id.
    const replay = await deliver(older.payload);
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual({
      action: "ignored",
      reason:
        `commit ${sha.slice(0, 7)} was already deployed to production (deployment ${older.deployment}, success); ` +
        "a push deploys a commit once, so a replayed delivery cannot roll production back. To deploy it again, use /redeploy (eserveless deploy OWNER/REPO --ref SHA) or force-push",
    });
    await stack.server.deployer.idle();
    expect(stack.server.store.listDeployments(REPOSITORY)).toHaveLength(deployments);
    expect(await live()).toEqual({ version: "v2", commit: newer });
  });

  it("is ignored while the first delivery's deployment still runs", async () => {
    const sha = commit("v3");
    const payload = stack.emulator.pushPayload(OWNER, REPO, { after: sha });
    const first = await deliver(payload);
    expect(first.status).toBe(202);
    const replay = await deliver(payload);
    expect(replay.status).toBe(200);
    expect(replay.body.action).toBe("ignored");
    expect(replay.body.reason).toMatch(new RegExp(`^commit ${sha.slice(0, 7)} is already being deployed to production \\(deployment ${first.body.deployment!.id}, (queued|building|starting)\\)`));
    // The first one was not superseded by its own replay.
    expect((await finished(first.body.deployment!.id)).state).toBe("success");
    newer = sha;
  });

  it("deploys the commit again when the push is a force-push: git moved the branch back", async () => {
    const forced = await deliver({ ...older.payload, forced: true });
    expect(forced.status).toBe(202);
    expect(forced.body.action).toBe("deploying");
    expect((await finished(forced.body.deployment!.id)).state).toBe("success");
    expect(await live()).toEqual({ version: "v1", commit: older.sha });
  });

  it("deploys a commit that went live before through /redeploy", async () => {
    const response = await fetch(`${stack.server.url}/redeploy`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ repository: REPOSITORY, ref: newer }),
    });
    expect(response.status).toBe(202);
    const { deployment } = (await response.json()) as { deployment: { id: string; commit: string } };
    expect(deployment.commit).toBe(newer);
    expect((await finished(deployment.id)).state).toBe("success");
    expect(await live()).toEqual({ version: "v3", commit: newer });
  });
});
