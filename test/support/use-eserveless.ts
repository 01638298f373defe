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
}

/**
 * A GitHub emulator holding `repositories`, and a whole eserveless wired to
 * it with `env`, for the tests of one file: started before them (in a
 * beforeAll, so later hooks see both), stopped after them.
 */
export function useEserveless(
  options: { repositories?: Array<Parameters<GitHubEmulator["addRepository"]>[0]>; env?: Record<string, string> } = {},
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
    server = await startEserveless({ emulator, env: options.env });
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
        server = await startEserveless({ emulator: started("the GitHub emulator", emulator), env: { ...options.env, DATA_DIR: dataDir } });
      }
    },
  };
}
