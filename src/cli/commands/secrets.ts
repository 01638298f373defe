import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { REPOSITORY_NAME } from "../../contract/repository-name.js";
import {
  MAX_SECRET_VALUE_BYTES,
  SECRET_ENVIRONMENTS,
  secretNameProblem,
  secretValueProblem,
  type SecretChanged,
  type SecretEnvironment,
} from "../../contract/secret.js";
import type { CommandContext } from "../context.js";
import { CliError, UsageError } from "../errors.js";
import { dateTime, table } from "../format.js";

/** The largest env file read: a hundred secrets of 64 KiB would not fit in one function anyway. */
const MAX_ENV_FILE_BYTES = 8 * 1024 * 1024;

/** `eserveless secrets set|ls|rm OWNER/REPO [NAME]`: a project's secrets, whose values are never shown. */
export async function secretsCommand(ctx: CommandContext): Promise<number> {
  const [action, repository, name] = ctx.args.positionals;
  if (action !== "set" && action !== "ls" && action !== "rm") {
    throw new UsageError(`secrets needs set, ls or rm${action === undefined ? "" : `, got "${action}"`}`, "secrets");
  }
  if (repository === undefined || !REPOSITORY_NAME.test(repository)) {
    throw new UsageError(`secrets ${action} needs OWNER/REPO, such as acme/api${repository === undefined ? "" : `, got "${repository}"`}`, "secrets");
  }
  const environment = environmentFlag(ctx.args.flags.env);
  const wait = !ctx.args.flags["no-wait"];
  if (action === "ls") {
    if (name !== undefined) throw new UsageError("secrets ls takes OWNER/REPO only", "secrets");
    const secrets = await ctx.client.secrets(repository);
    if (ctx.args.flags.json) {
      ctx.out(JSON.stringify({ secrets }, null, 2));
      return 0;
    }
    if (secrets.length === 0) {
      ctx.note(`No secrets are set for ${repository}; set one with: printf %s "$VALUE" | eserveless secrets set ${repository} NAME`);
      return 0;
    }
    ctx.out(table(secrets.map((s) => [s.name, s.environment, dateTime(s.updatedAt), s.functions.join(", ") || "-"]), ["NAME", "ENVIRONMENT", "CHANGED", "USED BY"]));
    return 0;
  }
  if (action === "rm") {
    if (name === undefined) throw new UsageError(`secrets rm needs the secret's NAME: eserveless secrets rm ${repository} NAME`, "secrets");
    const changed = await ctx.client.deleteSecret(repository, name, environment, { force: ctx.args.flags.force === true, wait });
    return report(ctx, repository, [changed]);
  }

  const file = ctx.args.flags["from-env-file"];
  if (file !== undefined && name !== undefined) throw new UsageError("secrets set takes a NAME or --from-env-file, not both", "secrets");
  let entries: Array<[string, string]>;
  if (file !== undefined) {
    entries = readEnvFile(resolve(ctx.cwd, file));
  } else {
    if (name === undefined) throw new UsageError(`secrets set needs the secret's NAME: printf %s "$VALUE" | eserveless secrets set ${repository} NAME`, "secrets");
    const nameProblem = secretNameProblem(name);
    if (nameProblem) throw new UsageError(nameProblem, "secrets");
    const value = await ctx.login.readSecret?.(`Value of ${name} (not shown): `, { maxBytes: MAX_SECRET_VALUE_BYTES, whole: true });
    if (value === undefined) throw new CliError(`the value is longer than ${MAX_SECRET_VALUE_BYTES} bytes (64 KiB), the most a secret holds; nothing was set`);
    const valueProblem = secretValueProblem(value);
    if (valueProblem) throw new CliError(`${valueProblem}; nothing was set (pipe the value in: printf %s "$VALUE" | eserveless secrets set ${repository} ${name})`);
    entries = [[name, value]];
  }
  const changes: SecretChanged[] = [];
  for (const [index, [key, value]] of entries.entries()) {
    // Rolls of one project run in turn: waiting for the last waits for them all.
    changes.push(await ctx.client.setSecret(repository, key, value, environment, wait && index === entries.length - 1));
  }
  return report(ctx, repository, changes);
}

function environmentFlag(text: string | undefined): SecretEnvironment {
  if (text === undefined) return "production";
  if ((SECRET_ENVIRONMENTS as readonly string[]).includes(text)) return text as SecretEnvironment;
  throw new UsageError(`--env must be production or preview, got "${text}"`, "secrets");
}

/** Says what changed and where it is live; exits 1 when the new containers could not start. */
function report(ctx: CommandContext, repository: string, changes: SecretChanged[]): number {
  if (ctx.args.flags.json) {
    ctx.out(JSON.stringify(changes.length === 1 ? changes[0] : { changes }, null, 2));
    return changes.some((c) => c.roll.state === "failed") ? 1 : 0;
  }
  for (const { secret } of changes) ctx.out(`${secret.deleted ? "Deleted" : "Set"} ${secret.name} of ${repository} (${secret.environment})`);
  const last = changes.at(-1)!;
  const { roll } = last;
  const functions = [...new Set(changes.flatMap((c) => c.roll.functions))].join(", ");
  if (roll.state === "failed") {
    ctx.note(`error: stored, but not live: ${roll.error ?? "the new containers did not start"}`);
    return 1;
  }
  if (roll.state === "live") ctx.out(`Live: ${functions} now ${last.secret.deleted ? "run without it" : "run with the new value"} (new containers, no rebuild)`);
  else if (roll.state === "rolling") ctx.out(`Rolling: ${functions} get new containers in the background (--no-wait)`);
  else if (last.secret.deleted) return 0;
  else if (last.secret.environment === "production") ctx.out(`No live function declares it yet: list it under secrets: in .eserveless.yaml, then deploy`);
  else ctx.out(`No open preview's function declares it: the next preview deployment gets it`);
  return 0;
}

/**
 * NAME=value lines of a dotenv file: blank lines and # comments skipped,
 * `export ` allowed, "double" (\n, \", \\ escapes) or 'single' quotes taken
 * off. Every name and value is checked before any is sent.
 */
function readEnvFile(path: string): Array<[string, string]> {
  let text: string;
  try {
    const bytes = readFileSync(path);
    if (bytes.length > MAX_ENV_FILE_BYTES) throw new CliError(`${path} is ${bytes.length} bytes; an env file for secrets is at most ${MAX_ENV_FILE_BYTES}`);
    text = bytes.toString("utf8");
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot read ${path}: ${(error as Error).message}`);
  }
  const entries = new Map<string, string>();
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = /^(?:export\s+)?([^=\s]+)\s*=\s*(.*)$/.exec(line);
    if (!match) throw new CliError(`${path} line ${index + 1} is not NAME=value; nothing was set`);
    const [, key, rawValue] = match as unknown as [string, string, string];
    const value = unquote(rawValue);
    const problem = secretNameProblem(key) ?? secretValueProblem(value);
    if (problem) throw new CliError(`${path} line ${index + 1}: ${problem}; nothing was set`);
    entries.set(key, value);
  }
  if (entries.size === 0) throw new CliError(`${path} holds no NAME=value line; nothing was set`);
  return [...entries];
}

function unquote(value: string): string {
  if (value.length >= 2 && value.startsWith("'") && value.endsWith("'")) return value.slice(1, -1);
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    return value.slice(1, -1).replace(/\\([n"\\])/g, (_, char: string) => (char === "n" ? "\n" : char));
  }
  return value;
}
