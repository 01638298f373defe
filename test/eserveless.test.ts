import Docker from "dockerode";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readFixture } from "./support/fixtures.js";
import { startGitHubEmulator } from "./support/github-emulator.js";
import { startEserveless } from "./support/start-eserveless.js";
import { testImages, wireApp } from "./support/wire-app.js";

const dir = mkdtempSync(join(tmpdir(), "eserveless-adopt-"));
let relay: Server | undefined;

afterAll(() => {
  relay?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("createEserveless", () => {
  it("keeps trying to take over its containers while Docker does not answer at start", async () => {
    // A Docker socket that nothing serves yet; later it relays to the real engine.
    const socketPath = join(dir, "docker.sock");
    const eserveless = await wireApp({ docker: new Docker({ socketPath }), env: { DATA_DIR: join(dir, "data") } });
    try {
      const instance = readFileSync(join(dir, "data", "instance-id"), "utf8").trim();
      const real = new Docker();
      // A container of this instance that no live deployment owns: adoption removes it.
      const orphan = await real.createContainer({
        Image: testImages.ESERVELESS_NODE_IMAGE,
        Cmd: ["node", "-e", "setInterval(() => {}, 1000)"],
        Labels: { "dev.eserveless.managed": "true", "dev.eserveless.instance": instance, "dev.eserveless.deployment": "gone" },
      });
      await orphan.start();
      relay = createServer((client) => {
        const engine = connect("/var/run/docker.sock");
        client.pipe(engine).pipe(client);
        engine.on("error", () => client.destroy());
        client.on("error", () => engine.destroy());
      });
      await new Promise<void>((resolve) => relay!.listen(socketPath, resolve));

      const deadline = Date.now() + 15_000;
      let gone = false;
      while (!gone && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        gone = await orphan.inspect().then(
          () => false,
          (error: { statusCode?: number }) => error.statusCode === 404,
        );
      }
      expect(gone).toBe(true);
    } finally {
      await eserveless.close();
    }
  });

  it("deploys a push through the GitHub App /setup created, without a restart", async () => {
    const emulator = await startGitHubEmulator();
    emulator.addRepository({ owner: "octo-org", name: "set-up" });
    // A fresh install: the GitHub API, no App.
    const server = await startEserveless({ env: { GITHUB_API_URL: emulator.url } });
    try {
      const { action } = (await (await fetch(`${server.url}/setup`)).json()) as { action: string };
      emulator.addManifestCode("fresh-code", { slug: "eserveless-set-up", name: "eserveless set-up" });
      const state = new URL(action).searchParams.get("state")!;
      const callback = await fetch(`${server.url}/setup/callback?${new URLSearchParams({ code: "fresh-code", state })}`, { redirect: "manual" });
      expect(callback.status).toBe(302);

      const sha = emulator.commit("octo-org", "set-up", { files: readFixture("node-hello") });
      const push = await server.deliver("push", emulator.pushPayload("octo-org", "set-up", { after: sha }), { secret: emulator.webhookSecret });
      expect(push.status).toBe(202);
      await server.deployer.idle();
      const final = emulator.statuses("octo-org", "set-up", sha).filter((s) => s.context === "eserveless").at(-1);
      expect(final?.state, final?.description ?? "").toBe("success");
      const answer = await fetch(`${server.url}/fn/octo-org/set-up/API`);
      expect(answer.status).toBe(200);
      expect(await answer.json()).toMatchObject({ greeting: "hello" });
    } finally {
      await server.stop();
      await emulator.close();
    }
  });
});
