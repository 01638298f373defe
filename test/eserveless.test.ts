import Docker from "dockerode";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
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
});
