import { describe, expect, it } from "vitest";
import { readFixture } from "../support/fixtures.js";
import { useEserveless } from "../support/use-eserveless.js";

// ESERVELESS_MAX_PREVIEWS is a ceiling on what pull requests can start on the
// host: past it, the oldest preview is removed to make room for the new one.

const OWNER = "octo-org";
const REPO = "preview-limit";

const stack = useEserveless({ repositories: [{ owner: OWNER, name: REPO }], env: { ESERVELESS_MAX_PREVIEWS: "1" } });

const previewUrl = (number: number) => `${stack.server.url}/pr/${OWNER}/${REPO}/${number}/API`;

async function openPullRequest(number: number): Promise<void> {
  const head = stack.emulator.commit(OWNER, REPO, { files: readFixture("node-hello"), branch: `feature-${number}` });
  const opened = await stack.server.deliver("pull_request", stack.emulator.pullRequestPayload(OWNER, REPO, { number, action: "opened", head }));
  expect(opened.status).toBe(202);
  expect((await stack.settled(OWNER, REPO, head)).final.state).toBe("success");
}

describe("the most previews per repository", () => {
  it("removes the oldest preview when a new one passes ESERVELESS_MAX_PREVIEWS, and tells its pull request", async () => {
    await openPullRequest(1);
    expect((await fetch(previewUrl(1))).status).toBe(200);

    await openPullRequest(2);
    expect((await fetch(previewUrl(2))).status).toBe(200);
    await stack.server.previews!.idle();
    const evicted = await fetch(previewUrl(1));
    expect(evicted.status).toBe(410);
    expect(((await evicted.json()) as { error: { message: string } }).error.message).toContain("ESERVELESS_MAX_PREVIEWS");
    expect(stack.emulator.comments(OWNER, REPO, 1).at(-1)!.body).toContain("**Removed**");
    expect(stack.emulator.comments(OWNER, REPO, 2).at(-1)!.body).toContain("**State** success");
  });
});
