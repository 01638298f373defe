import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { integerFlag } from "../args.js";
import type { CommandContext } from "../context.js";
import { CliError, UsageError } from "../errors.js";
import { findFunction, functionTarget } from "../find-function.js";
import { FUNCTIONS_PATH } from "../../urls.js";

/** `eserveless invoke OWNER/REPO/FUNCTION[/PATH] [--data @FILE|TEXT] [-X METHOD] [-H 'N: V']`: the body on stdout, the status line on stderr. */
export async function invokeCommand(ctx: CommandContext): Promise<number> {
  const { flags } = ctx.args;
  const target = functionTarget(ctx.args.positionals[0], "invoke", { rest: true });
  const timeoutMs = integerFlag("timeout", flags.timeout, 300, { min: 1, max: 86_400 }, "invoke") * 1000;
  const headers = new Headers();
  for (const header of flags.header ?? []) {
    const colon = header.indexOf(":");
    const name = colon === -1 ? "" : header.slice(0, colon).trim();
    try {
      headers.append(name, header.slice(colon + 1).trim());
    } catch {
      throw new UsageError(`-H needs 'NAME: VALUE', such as -H 'content-type: application/json', got "${header}"`, "invoke");
    }
  }
  const body = flags.data === undefined ? undefined : requestBody(ctx, flags.data);
  const method = (flags.request ?? (body ? "POST" : "GET")).toUpperCase();
  if (!/^[A-Z]+$/.test(method)) throw new UsageError(`-X needs a method such as GET or POST, got "${flags.request}"`, "invoke");
  if (body && (method === "GET" || method === "HEAD")) throw new UsageError(`a ${method} request carries no body: drop --data or pass -X POST`, "invoke");
  if (body && typeof flags.data === "string" && !flags.data.startsWith("@") && !headers.has("content-type")) headers.set("content-type", "text/plain;charset=utf-8");

  const url = `${await baseUrl(ctx, target)}${target.rest}`;
  const response = await ctx.client.send(url, { method, headers, body, timeoutMs });
  const status = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;

  if (flags.json) {
    const text = await ctx.client.read(response.text(), timeoutMs);
    ctx.out(JSON.stringify({ status: response.status, headers: Object.fromEntries(response.headers), body: text }, null, 2));
  } else {
    ctx.note(status);
    // Streamed as it comes: a function may answer more than fits in memory, or slowly.
    if (response.body) {
      await ctx.client.read(
        (async () => {
          for await (const chunk of response.body as AsyncIterable<Uint8Array>) ctx.write(chunk);
        })(),
        timeoutMs,
      );
    }
  }
  if (response.status >= 500) {
    ctx.note(`error: ${target.repository}/${target.name} failed: ${status} (a server error: see "eserveless logs ${target.repository}/${target.name}")`);
    return 1;
  }
  if (response.status >= 400) {
    ctx.note(`error: ${target.repository}/${target.name} refused the request: ${status} (a client error: check the path, method, headers and body)`);
    return 1;
  }
  return 0;
}

/** `@FILE` reads the file (relative to the working folder); anything else is the body itself. */
function requestBody(ctx: CommandContext, data: string): Buffer {
  if (!data.startsWith("@")) return Buffer.from(data);
  const path = resolve(ctx.cwd, data.slice(1));
  try {
    return readFileSync(path);
  } catch (error) {
    throw new UsageError(`--data ${data}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, "invoke");
  }
}

/** The function's URL as the server lists it (on its functions host), or, without a token, built from the server URL. */
async function baseUrl(ctx: CommandContext, target: { repository: string; name: string }): Promise<string> {
  if (!ctx.client.hasToken) return `${ctx.client.url}${FUNCTIONS_PATH}/${target.repository}/${target.name}`;
  const { project, fn } = findFunction(ctx, await ctx.client.projects(), target);
  if (fn.type !== "http" || fn.url === undefined) {
    throw new CliError(`${project.repository}/${fn.name} is a cron function: it has no URL; run it now with "eserveless run ${project.repository}/${fn.name}"`);
  }
  return fn.url;
}
