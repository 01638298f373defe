import { readFileSync } from "node:fs";
import { COMMANDS, MAIN_HELP, parseCommandLine, type CommandName } from "./args.js";
import { EserveslessClient } from "./client.js";
import { deployCommand } from "./commands/deploy.js";
import { invokeCommand } from "./commands/invoke.js";
import { newCommand } from "./commands/new.js";
import { rmCommand } from "./commands/rm.js";
import { rollbackCommand } from "./commands/rollback.js";
import { runCommand } from "./commands/run.js";
import { logsCommand, lsCommand, statusCommand } from "./commands/inspect.js";
import type { CommandContext } from "./context.js";
import { CliError, UsageError } from "./errors.js";
import type { ProgressStream } from "./progress.js";
import { serverUrl } from "./server-url.js";
import { configPath, readCliConfig } from "./cli-config.js";
import { loginCommand } from "./commands/login.js";
import { secretsCommand } from "./commands/secrets.js";
import type { ReadSecretOptions } from "./read-secret.js";

/** Everything the CLI touches of its process, passed in by `main.ts` (and by tests). */
export interface CliIO {
  argv: string[];
  /** ESERVELESS_URL and ESERVELESS_ADMIN_TOKEN, XDG_CONFIG_HOME and HOME (where `login` stores them), as the environment has them. */
  env: { url?: string; token?: string; configHome?: string; home?: string };
  /** Reads the token for `login`: a prompt without echo on a terminal, else standard input. Undefined when it is too long. */
  readSecret?: (prompt: string, options?: ReadSecretOptions) => Promise<string | undefined>;
  /** Asks for a typed line when stdin is a terminal; undefined when there is nobody to ask. */
  ask?: (prompt: string) => Promise<string | undefined>;
  stdout: { write(chunk: Uint8Array | string): unknown };
  stderr: ProgressStream;
  /** stderr is an interactive terminal. */
  tty: boolean;
  cwd: string;
  fetch?: typeof fetch;
  /** Aborted on Ctrl-C. */
  signal?: AbortSignal;
}

const runners: Record<Exclude<CommandName, "help">, (ctx: CommandContext) => Promise<number>> = {
  deploy: deployCommand,
  ls: lsCommand,
  logs: logsCommand,
  status: statusCommand,
  invoke: invokeCommand,
  run: runCommand,
  new: newCommand,
  login: loginCommand,
  rm: rmCommand,
  secrets: secretsCommand,
  rollback: rollbackCommand,
};

/** Runs one command line; resolves to the exit code (0 done, 1 failed, 2 usage error, 130 interrupted). */
export async function runCli(io: CliIO): Promise<number> {
  const out = (text: string) => void io.stdout.write(`${text}\n`);
  const note = (text: string) => void io.stderr.write(`${text}\n`);
  let command: string | undefined;
  try {
    const args = parseCommandLine(io.argv);
    command = args.command;
    if (args.flags.version) {
      out(version());
      return 0;
    }
    if (args.command === undefined) {
      if (args.flags.help) {
        out(MAIN_HELP);
        return 0;
      }
      note(MAIN_HELP);
      return 2;
    }
    if (args.flags.help) {
      out(COMMANDS[args.command].help);
      return 0;
    }
    if (args.command === "help") {
      const topic = args.positionals[0];
      if (topic === undefined) out(MAIN_HELP);
      else if (topic in COMMANDS) out(COMMANDS[topic as CommandName].help);
      else throw new UsageError(`no command "${topic}"`);
      return 0;
    }
    // Precedence: flags, then the environment, then what `login` stored.
    const storedAt = configPath(io.env);
    const stored = args.command === "login" ? undefined : readCliConfig(storedAt);
    const url = serverUrl(args.flags.url ?? (io.env.url?.trim() || stored?.url));
    // The stored token goes only to the server it was stored for, never to another --url.
    const storedToken = stored && serverUrl(stored.url) === url ? stored.token : undefined;
    const connect = (to: string, token: string | undefined) => new EserveslessClient({ url: to, token, fetch: io.fetch, signal: io.signal });
    const client = connect(url, (args.flags.token ?? io.env.token) || storedToken);
    const login = { configPath: storedAt, readSecret: io.readSecret, connect };
    return await runners[args.command]({ args, client, login, ask: io.ask, out, write: (chunk) => void io.stdout.write(chunk), note, stderr: io.stderr, tty: io.tty, cwd: io.cwd, signal: io.signal });
  } catch (error) {
    if (error instanceof UsageError) {
      note(`error: ${error.message}`);
      const about = error.command ?? command;
      note(`Run "eserveless ${about && about !== "help" ? `${about} ` : ""}--help" for usage.`);
      return 2;
    }
    if (error instanceof CliError) {
      note(`error: ${error.message}`);
      return error.exitCode;
    }
    note(`error: unexpected failure, please report it: ${(error as Error).stack ?? String(error)}`);
    return 1;
  }
}

/** The CLI's version: package.json is two folders up, from src/cli/ and dist/cli/ alike. */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}
