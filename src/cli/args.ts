import { parseArgs } from "node:util";
import { closestName } from "../closest-name.js";
import { UsageError } from "./errors.js";

/** Every flag of every command (one table, so global flags may come before or after the command). */
const OPTIONS = {
  url: { type: "string" },
  token: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "v" },
  ref: { type: "string" },
  name: { type: "string" },
  quiet: { type: "boolean", short: "q" },
  timeout: { type: "string" },
  follow: { type: "boolean", short: "f" },
  runs: { type: "string" },
  data: { type: "string", short: "d" },
  request: { type: "string", short: "X" },
  header: { type: "string", short: "H", multiple: true },
  runtime: { type: "string" },
  yes: { type: "boolean", short: "y" },
  build: { type: "boolean" },
  requests: { type: "boolean" },
  env: { type: "string" },
  "from-env-file": { type: "string" },
  force: { type: "boolean" },
  "no-wait": { type: "boolean" },
} as const;

type OptionName = keyof typeof OPTIONS;
const GLOBAL: OptionName[] = ["url", "token", "json", "help"];

export const COMMANDS = {
  deploy: {
    summary: "Deploy a local folder or a GitHub repository, and follow it to the end",
    options: ["ref", "name", "quiet", "timeout"],
    maxPositionals: 1,
    help: `Usage: eserveless deploy [DIR] [--name NAME]
       eserveless deploy OWNER/REPO [--ref REF]

Deploys, follows the deployment's log until it ends, and prints the function
URLs. Exits 1 when the deployment fails, with the reason.

  DIR           A project folder (default: the current one). It is packed in
                memory, leaving out .git, node_modules and whatever .gitignore
                and .dockerignore exclude, and deployed as local/NAME.
  OWNER/REPO    A GitHub repository the server's App is installed on (also
                https://github.com/OWNER/REPO). Write ./OWNER/REPO for a folder.

Options:
  --name NAME       Project name of a folder (default: the folder's name)
  --ref REF         Branch, tag or commit of a repository (default: its default branch)
  --timeout SECS    Stop following after this long (default: 900)
  -q, --quiet       Show no build log, only the outcome
  --json            Print the final deployment as JSON on stdout`,
  },
  ls: {
    summary: "List live projects, their functions and URLs",
    options: [],
    maxPositionals: 1,
    help: `Usage: eserveless ls [OWNER/REPO] [--json]

Lists the projects that have a live deployment: each function, its type, its
URL (http) or schedule (cron), and the live commit. Folders deployed with
"eserveless deploy DIR" are local/NAME.

Options:
  --json    Print the server's answer (GET /api/projects) on stdout`,
  },
  logs: {
    summary: "Show a function's output (all replicas), or a deployment's log",
    options: ["follow", "runs", "build", "requests"],
    maxPositionals: 1,
    help: `Usage: eserveless logs OWNER/REPO/FUNCTION [--follow] [--build] [--requests]
       eserveless logs OWNER/REPO/FUNCTION [--runs N]
       eserveless logs DEPLOYMENT-ID [--follow]

OWNER/REPO/FUNCTION
                An http function: the log of its live deployment, its latest
                requests, then what its replicas printed (console.log, crash
                traces), each line with its time and replica, kept after the
                containers are gone. A cron function: its latest runs with
                their output.
DEPLOYMENT-ID   The build and start log of one deployment.

Options:
  -f, --follow   Keep printing: a function's new output until Ctrl-C, a
                 running deployment's log until it ends
  --build        Only the function's build and start log
  --requests     Only the function's latest requests
  --runs N       Cron runs to show, newest first (default: 5, at most 100)
  --json         Print the server's answers as JSON on stdout`,
  },
  status: {
    summary: "Show the server: its URL, GitHub, Docker, containers, projects",
    options: [],
    maxPositionals: 0,
    help: `Usage: eserveless status [--json]

Shows the server's public URL, whether its GitHub App is configured, whether
Docker answers, its containers by state and how many projects are live.

Options:
  --json    Print the server's answer (GET /api/status plus docker) on stdout`,
  },
  invoke: {
    summary: "Call an http function and print its answer",
    options: ["data", "request", "header", "timeout"],
    maxPositionals: 1,
    help: `Usage: eserveless invoke OWNER/REPO/FUNCTION[/PATH][?QUERY] [--data @FILE|TEXT] [-X METHOD] [-H 'NAME: VALUE' ...]

Calls the function's URL and prints the body it answers on stdout, and the
status line on stderr. Exits 1 when the function answers 4xx or 5xx (saying
which), 0 otherwise. With a token the URL is the one the server lists (its
functions host, if it has one); without, it is built from the server URL.

Options:
  -d, --data @FILE|TEXT   The request body: TEXT as is, or the bytes of FILE
  -X, --request METHOD    The method (default: GET, or POST with --data)
  -H, --header 'N: V'     A request header; repeat for more
  --timeout SECS          Give up waiting for the answer after this long (default: 300)
  --json                  Print {status, headers, body} as JSON on stdout`,
  },
  run: {
    summary: "Run a cron function now and print its output when it ends",
    options: ["timeout", "env"],
    maxPositionals: 1,
    help: `Usage: eserveless run OWNER/REPO/FUNCTION [--env pr-NUMBER] [--timeout SECS] [--json]

Starts a run of a cron function now (as its schedule would), waits for it to
end, and prints its output on stdout and how it ended on stderr. Exits 0 when
the run succeeded, 1 when it failed, timed out or could not start.

Options:
  --env ENV        production (default), or pr-NUMBER: the function of that pull
                   request's preview, which never runs on its schedule; it runs
                   the preview's image with preview secrets
  --timeout SECS   Stop waiting after this long; the run goes on (default: 900)
  --json           Print the finished run as JSON on stdout`,
  },
  new: {
    summary: "Write a starter project into a new folder",
    options: ["runtime"],
    maxPositionals: 1,
    help: `Usage: eserveless new DIR [--runtime node|golang]

Writes a starter project into DIR (created; refused when it is not empty): an
.eserveless.yaml with one http function (API) and one cron function, and the
module that exports them. Then deploy it with "eserveless deploy DIR".

Options:
  --runtime node|golang   The language of the functions (default: node)
  --json                  Print the folder, project name and files as JSON`,
  },
  login: {
    summary: "Check a server's admin token and store both for the next commands",
    options: [],
    maxPositionals: 1,
    help: `Usage: eserveless login [URL]
       echo "$TOKEN" | eserveless login [URL]

Reads the admin token from standard input, or asks for it without echo on a
terminal, checks it against the server (GET /api/status), and stores the URL
and the token in $XDG_CONFIG_HOME/eserveless/config.json (default
~/.config/eserveless/config.json), readable by you only (mode 0600).

Every command then finds the server there: --url and --token win, then
ESERVELESS_URL and ESERVELESS_ADMIN_TOKEN, then that file. The stored token
is sent only to the stored URL.

  URL    The server (default: --url, ESERVELESS_URL, the stored one, or
         http://localhost:3000)`,
  },
  rm: {
    summary: "Remove a project: its functions, containers, schedules, images, network",
    options: ["yes"],
    maxPositionals: 1,
    help: `Usage: eserveless rm OWNER/REPO [--yes]

Takes a live project down: its function URLs answer 404 at once, its cron
schedules stop, its containers are removed once their requests in flight
finish, and its images and network are removed. Its deployments and run
history stay. On a terminal it asks you to type the repository name;
elsewhere it needs --yes. A later push or deploy brings it back.

Options:
  -y, --yes   Remove without asking
  --json      Print what was removed as JSON on stdout`,
  },
  secrets: {
    summary: "Set, list and delete a project's secrets (never shown)",
    options: ["env", "from-env-file", "force", "no-wait"],
    maxPositionals: 3,
    help: `Usage: printf %s "$VALUE" | eserveless secrets set OWNER/REPO NAME [--env production|preview] [--no-wait]
       eserveless secrets set OWNER/REPO --from-env-file FILE [--env …] [--no-wait]
       eserveless secrets ls OWNER/REPO [--json]
       eserveless secrets rm OWNER/REPO NAME [--env …] [--force]

Secrets reach the functions that declare them in .eserveless.yaml
(secrets: [STRIPE_KEY, DB_URL]) as environment variables of the same name,
given when a container is created: never in the repository, an image or a log.
Values are stored encrypted and no command or page shows them again.

  set   Reads the value from standard input (all of it, less one final
        newline), or asks for it without echo on a terminal: never as an
        argument, so it stays out of your shell history. The live functions
        that declare it get new containers with the value, ready before they
        take requests; set waits until they serve it.
  ls    Names, environment, last change and the live functions using each.
  rm    Deletes one; refused while a live function declares it, unless --force.

Names: A-Z, 0-9 and _, not starting with a digit (at most 64); PORT, HOME,
PATH and ESERVELESS_* are reserved. Values: at most 64 KiB, no NUL.

Options:
  --env ENV              production (default) or preview (pull-request deployments)
  --from-env-file FILE   Set every NAME=value line of FILE (# comments, quotes and
                         "export " are understood)
  --force                rm: delete even though live functions declare it
  --no-wait              set, rm: return once stored, while containers roll
  --json                 Print the server's answer as JSON on stdout`,
  },
  rollback: {
    summary: "Go back to an earlier release of a project, without a build",
    options: ["quiet", "timeout"],
    maxPositionals: 2,
    help: `Usage: eserveless rollback OWNER/REPO [DEPLOYMENT-ID | COMMIT]

Makes an earlier release of a project live again: its kept image starts,
answers HTTP, and takes the traffic while the current containers drain. No
build runs. Follows the rollback until it is live and prints the function URLs.
The next push deploys as usual.

  OWNER/REPO      The project (local/NAME for a deployed folder)
  DEPLOYMENT-ID   A deployment that went live (see eserveless logs, the dashboard)
  COMMIT          A commit that went live: 7 or more characters of its SHA
                  Default: the previous release, the one before the live one

The images of the last ESERVELESS_KEEP_RELEASES releases (default 5) are
kept; to an older one, the commit is rebuilt, and the log says so.

Options:
  --timeout SECS    Stop following after this long (default: 900)
  -q, --quiet       Show no log, only the outcome
  --json            Print the final deployment as JSON on stdout`,
  },
  help: {
    summary: "Show the help of a command",
    options: [],
    maxPositionals: 1,
    help: `Usage: eserveless help [COMMAND]`,
  },
} as const satisfies Record<string, { summary: string; options: OptionName[]; maxPositionals: number; help: string }>;

export type CommandName = keyof typeof COMMANDS;

export const MAIN_HELP = `eserveless: deploy and inspect functions on an eserveless server.

Usage: eserveless COMMAND [ARGS] [--url URL] [--token TOKEN] [--json]

Commands:
${Object.entries(COMMANDS)
  .map(([name, command]) => `  ${name.padEnd(8)}${command.summary}`)
  .join("\n")}

Settings (flags win over the environment, which wins over "eserveless login"):
  --url URL        ESERVELESS_URL: the server (default: http://localhost:3000)
  --token TOKEN    ESERVELESS_ADMIN_TOKEN: the server's admin token
  --json           Machine-readable output on stdout; progress goes to stderr
  -h, --help       Help of eserveless or of a command
  -v, --version    The CLI's version

Exit codes: 0 done, 1 the command or the deployment failed, 2 usage error.
Run "eserveless COMMAND --help" for a command's arguments.`;

export interface ParsedArgs {
  /** Undefined when no command was given. */
  command: CommandName | undefined;
  positionals: string[];
  flags: {
    url?: string;
    token?: string;
    json: boolean;
    help: boolean;
    version: boolean;
    ref?: string;
    name?: string;
    quiet: boolean;
    timeout?: string;
    follow: boolean;
    runs?: string;
    data?: string;
    request?: string;
    header?: string[];
    runtime?: string;
    yes?: boolean;
    build: boolean;
    requests: boolean;
    env?: string;
    "from-env-file"?: string;
    force?: boolean;
    "no-wait"?: boolean;
  };
}

/** Splits argv into the command, its positionals and its flags; a flag the command does not take is a usage error. */
export function parseCommandLine(argv: string[]): ParsedArgs {
  const parsed = (() => {
    try {
      return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true, tokens: true });
    } catch (error) {
      throw new UsageError(parseErrorMessage(error as Error & { code?: string }), commandIn(argv));
    }
  })();
  const [first, ...positionals] = parsed.positionals;
  const { values } = parsed;
  const flags: ParsedArgs["flags"] = {
    ...values,
    json: values.json ?? false,
    help: values.help ?? false,
    version: values.version ?? false,
    quiet: values.quiet ?? false,
    follow: values.follow ?? false,
    build: values.build ?? false,
    requests: values.requests ?? false,
  };
  if (first === undefined) return { command: undefined, positionals: [], flags };
  if (!(first in COMMANDS)) {
    const suggestion = closestName(first, Object.keys(COMMANDS));
    throw new UsageError(`unknown command "${first}"${suggestion ? `; did you mean "${suggestion}"?` : ""}`);
  }
  const command = first as CommandName;
  if (flags.help) return { command, positionals, flags };
  const allowed = new Set<string>([...GLOBAL, ...COMMANDS[command].options]);
  for (const token of parsed.tokens) {
    if (token.kind === "option" && !allowed.has(token.name)) throw new UsageError(`${command} does not take ${token.rawName}`, command);
  }
  if (positionals.length > COMMANDS[command].maxPositionals) {
    const most = COMMANDS[command].maxPositionals;
    throw new UsageError(`${command} takes ${most === 0 ? "no arguments" : most === 1 ? "one argument" : `at most ${most} arguments`}, got: ${positionals.join(" ")}`, command);
  }
  return { command, positionals, flags };
}

function parseErrorMessage(error: Error & { code?: string }): string {
  const option = /'(-{1,2}[^']+)'/.exec(error.message)?.[1];
  switch (error.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${option ?? error.message}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return option ? `${option.split(" ")[0]} needs a value` : error.message;
    default:
      return error.message;
  }
}

/** The command named in argv, for the help hint of a usage error found before it was parsed. */
function commandIn(argv: string[]): string | undefined {
  return argv.find((arg) => arg in COMMANDS);
}

/** A whole number within bounds, from a flag's text. */
export function integerFlag(name: string, text: string | undefined, fallback: number, bounds: { min: number; max: number }, command: string): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < bounds.min || value > bounds.max) {
    throw new UsageError(`--${name} must be a whole number from ${bounds.min} to ${bounds.max}, got "${text}"`, command);
  }
  return value;
}
