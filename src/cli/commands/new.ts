import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import type { CommandContext } from "../context.js";
import { CliError, UsageError } from "../errors.js";
import { projectName } from "../deploy-target.js";
import { STARTER_RUNTIMES, starterFiles, type StarterRuntime } from "../starter-files.js";

/** `eserveless new DIR --runtime node|golang`: writes a starter project into a new or empty folder. */
export async function newCommand(ctx: CommandContext): Promise<number> {
  const arg = ctx.args.positionals[0];
  if (arg === undefined) throw new UsageError("new needs a folder, such as: eserveless new my-app --runtime node", "new");
  const runtime = ctx.args.flags.runtime ?? "node";
  if (!(STARTER_RUNTIMES as readonly string[]).includes(runtime)) {
    throw new UsageError(`--runtime must be ${STARTER_RUNTIMES.join(" or ")}, got "${runtime}"`, "new");
  }
  const dir = resolve(ctx.cwd, arg);
  const name = projectName(basename(dir));
  if (name === undefined) throw new UsageError(`"${basename(dir)}" makes no project name: name the folder with letters or digits, such as my-app`, "new");
  const stat = statSync(dir, { throwIfNoEntry: false });
  if (stat && !stat.isDirectory()) throw new CliError(`${arg} exists and is not a folder; pick another name`);
  if (stat && readdirSync(dir).length > 0) throw new CliError(`${arg} is not empty; pick a new folder, or deploy what is there with "eserveless deploy ${arg}"`);

  const files = starterFiles(runtime as StarterRuntime, name);
  mkdirSync(dir, { recursive: true });
  // "wx": never overwrite, even a file that appeared since the check.
  for (const [path, content] of Object.entries(files)) writeFileSync(join(dir, path), content, { flag: "wx" });

  const shown = relative(ctx.cwd, dir).startsWith("..") ? dir : `./${relative(ctx.cwd, dir)}`;
  if (ctx.args.flags.json) {
    ctx.out(JSON.stringify({ dir, project: `local/${name}`, runtime, files: Object.keys(files) }, null, 2));
    return 0;
  }
  ctx.out(`Created ${shown} (${runtime}): ${Object.keys(files).join(", ")}`);
  ctx.out("");
  ctx.out("Next:");
  ctx.out(`  eserveless deploy ${shown}`);
  ctx.out(`  eserveless invoke local/${name}/API`);
  ctx.out(`  eserveless run local/${name}/${runtime === "node" ? "Report" : "Cleanup"}`);
  return 0;
}
