import { expect } from "vitest";
import { readFixture } from "./fixtures.js";
import type { GitHubEmulator } from "./github-emulator.js";
import type { TestEserveless } from "./start-eserveless.js";

/**
 * Pushes a fixture project to owner/repo through the GitHub emulator,
 * delivers the push webhook and waits until the deployment is live.
 * Returns the commit, whose statuses the emulator keeps.
 */
export async function deployFixture(input: { server: TestEserveless; emulator: GitHubEmulator; owner: string; repo: string; fixture: string }): Promise<string> {
  const sha = input.emulator.commit(input.owner, input.repo, { files: readFixture(input.fixture) });
  const response = await input.server.deliver("push", input.emulator.pushPayload(input.owner, input.repo, { after: sha }));
  expect(response.status).toBe(202);
  await input.server.deployer.idle();
  const final = input.emulator.statuses(input.owner, input.repo, sha).filter((s) => s.context === "eserveless").at(-1);
  expect(final?.state, final?.description ?? "").toBe("success");
  return sha;
}
