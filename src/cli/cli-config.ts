import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import * as v from "valibot";
import { CliError } from "./errors.js";

/** What `eserveless login` stores: the server and its admin token. */
export const CliConfigSchema = v.object({ url: v.pipe(v.string(), v.url()), token: v.pipe(v.string(), v.minLength(1)) });
export type CliConfig = v.InferOutput<typeof CliConfigSchema>;

/** `$XDG_CONFIG_HOME/eserveless/config.json`, or `~/.config/eserveless/config.json`; undefined without either variable. */
export function configPath(env: { configHome?: string; home?: string }): string | undefined {
  const base = env.configHome?.trim() || (env.home?.trim() ? join(env.home, ".config") : undefined);
  return base === undefined ? undefined : join(base, "eserveless", "config.json");
}

/** The stored config, undefined when there is none; a file that is not one is an error saying how to fix it. */
export function readCliConfig(path: string | undefined): CliConfig | undefined {
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new CliError(`cannot read ${path}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = v.safeParse(CliConfigSchema, json);
  if (!parsed.success) throw new CliError(`${path} is not an eserveless config ({"url": …, "token": …}); run "eserveless login URL" again, or delete it`);
  return parsed.output;
}

/** Writes the config readable by its owner only (file 0600, folder 0700), replacing any old one at once. */
export function writeCliConfig(path: string, config: CliConfig): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // An existing folder keeps its mode on mkdir: tighten it too.
  chmodSync(dir, 0o700);
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}
