import { afterAll, beforeAll } from "vitest";
import { startGitHubEmulator, type GitHubEmulator } from "./github-emulator.js";
import { startEserveless, type TestEserveless } from "./start-eserveless.js";

/** What {@link useEserveless} starts for a test file. */
export interface EserveslessStack {
  /** The GitHub emulator the server's App talks to. */
  readonly emulator: GitHubEmulator;
  /** The running eserveless; a new one after {@link EserveslessStack.restart}. */
  readonly server: TestEserveless;
  /**
   * Stops the server as a restart would (containers and data kept), runs
   * `whileStopped`, then starts a new server on the same data and settings.
   */
  restart(whileStopped?: () => unknown): Promise<void>;
  /**
   * Waits until the `eserveless` status of a pushed commit leaves pending and
   * the deployer is idle (the per-function statuses follow the main one);
   * returns the final status and every status of the commit.
   */
  settled(owner: string, repo: string, sha: string, timeoutMs?: number): Promise<{ final: CommitStatus; statuses: CommitStatus[] }>;
}

type CommitStatus = ReturnType<GitHubEmulator["statuses"]>[number];

/**
 * A GitHub emulator holding `repositories`, and a whole eserveless wired to
 * it with `env`, for the tests of one file: started before them (in a
 * beforeAll, so later hooks see both), stopped after them.
 */
export function useEserveless(
  options: { repositories?: Array<Parameters<GitHubEmulator["addRepository"]>[0]>; env?: Record<string, string>; logTo?: NodeJS.WritableStream } = {},
): EserveslessStack {
  let emulator: GitHubEmulator | undefined;
  let server: TestEserveless | undefined;
  const started = <T>(what: string, value: T | undefined): T => {
    if (value === undefined) throw new Error(`${what} is not running: use it in a test or a hook after useEserveless()'s beforeAll`);
    return value;
  };

  beforeAll(async () => {
    emulator = await startGitHubEmulator();
    for (const repository of options.repositories ?? []) emulator.addRepository(repository);
    server = await startEserveless({ emulator, env: options.env, logTo: options.logTo });
  });

  afterAll(async () => {
    await server?.stop();
    await emulator?.close();
  });

  return {
    get emulator() {
      return started("the GitHub emulator", emulator);
    },
    get server() {
      return started("eserveless", server);
    },
    async restart(whileStopped) {
      const { dataDir } = started("eserveless", server);
      await server!.stop({ restart: true });
      server = undefined;
      try {
        await whileStopped?.();
      } finally {
        // Started even when a check failed, so afterAll cleans up what the stopped one kept.
        server = await startEserveless({ emulator: started("the GitHub emulator", emulator), env: { ...options.env, DATA_DIR: dataDir }, logTo: options.logTo });
      }
    },
    async settled(owner, repo, sha, timeoutMs = 150_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const statuses = started("the GitHub emulator", emulator).statuses(owner, repo, sha);
        const final = statuses.filter((s) => s.context === "eserveless").at(-1);
        if (final && final.state !== "pending") {
          await started("eserveless", server).deployer.idle();
          return { final, statuses: emulator!.statuses(owner, repo, sha) };
        }
        if (Date.now() > deadline) throw new Error(`${owner}/${repo}@${sha.slice(0, 7)} did not settle within ${timeoutMs / 1000} s: ${JSON.stringify(statuses)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
  };
}
