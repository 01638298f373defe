import type { ParsedArgs } from "./args.js";
import type { EserveslessClient } from "./client.js";
import type { ProgressStream } from "./progress.js";
import type { ReadSecretOptions } from "./read-secret.js";

/** What a command runs with: its arguments, the client, and where to write. */
export interface CommandContext {
  args: ParsedArgs;
  client: EserveslessClient;
  /** What `login` needs: where the config lives, how to read a token, a client for another server. */
  login: {
    configPath: string | undefined;
    readSecret: ((prompt: string, options?: ReadSecretOptions) => Promise<string | undefined>) | undefined;
    connect: (url: string, token: string | undefined) => EserveslessClient;
  };
  /** Asks the user for a line on a terminal; undefined (or absent) when there is nobody to ask. */
  ask?: (prompt: string) => Promise<string | undefined>;
  /** A line of the command's output (stdout): the result, or JSON with --json. */
  out: (text: string) => void;
  /** Raw bytes of the command's output (stdout), as they come (a function's body). */
  write: (chunk: Uint8Array | string) => void;
  /** A line of progress, a warning or an error (stderr). */
  note: (text: string) => void;
  stderr: ProgressStream;
  /** stderr is a terminal: progress may redraw a status line. */
  tty: boolean;
  cwd: string;
  signal?: AbortSignal;
}
