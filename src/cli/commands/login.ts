import { writeCliConfig } from "../cli-config.js";
import type { CommandContext } from "../context.js";
import { ApiError, CliError, UsageError } from "../errors.js";
import { serverUrl } from "../server-url.js";

/** `eserveless login [URL]`: reads the admin token, checks it against the server, stores both. */
export async function loginCommand(ctx: CommandContext): Promise<number> {
  const path = ctx.login.configPath;
  if (path === undefined) throw new UsageError("neither XDG_CONFIG_HOME nor HOME is set: set one, so login knows where to store the token", "login");
  const url = ctx.args.positionals[0] === undefined ? ctx.client.url : serverUrl(ctx.args.positionals[0]);
  let token = ctx.args.flags.token;
  if (token === undefined) {
    if (!ctx.login.readSecret) throw new UsageError("login reads the token from standard input; pass --token instead", "login");
    const read = await ctx.login.readSecret(`Admin token of ${url}: `);
    if (read === undefined) throw new UsageError("the token on standard input is too long: give the admin token alone", "login");
    token = read;
  }
  token = token.trim();
  if (token === "") throw new UsageError(`no token: pipe the admin token in, such as: echo "$ESERVELESS_ADMIN_TOKEN" | eserveless login ${url}`, "login");

  const status = await ctx.login.connect(url, token).status().catch((error: unknown) => {
    if (error instanceof ApiError && error.status === 401) throw new CliError(`${url} refused that token; nothing was stored. Give the server's ESERVELESS_ADMIN_TOKEN`);
    throw error;
  });
  writeCliConfig(path, { url, token });
  if (ctx.args.flags.json) ctx.out(JSON.stringify({ url, configPath: path, publicUrl: status.publicUrl }, null, 2));
  else ctx.out(`Logged in to ${url} (${status.projects} live ${status.projects === 1 ? "project" : "projects"}); stored in ${path}`);
  return 0;
}
