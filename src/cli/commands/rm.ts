import { REPOSITORY_NAME } from "../../contract/repository-name.js";
import { plural } from "../../format.js";
import type { CommandContext } from "../context.js";
import { CliError, UsageError } from "../errors.js";

/** `eserveless rm OWNER/REPO [--yes]`: takes a project down, after the user typed its name (or --yes). */
export async function rmCommand(ctx: CommandContext): Promise<number> {
  const repository = ctx.args.positionals[0];
  if (repository === undefined || !REPOSITORY_NAME.test(repository)) {
    throw new UsageError(`rm needs OWNER/REPO, such as local/hello${repository === undefined ? "" : `, got "${repository}"`}`, "rm");
  }
  if (!ctx.args.flags.yes) {
    const typed = await ctx.ask?.(`This removes ${repository} from ${ctx.client.url}: its functions, containers, schedules, images and network.\nType the repository name to confirm: `);
    if (typed === undefined) throw new UsageError(`rm asks for confirmation on a terminal; elsewhere pass --yes: eserveless rm ${repository} --yes`, "rm");
    if (typed.trim().toLowerCase() !== repository.toLowerCase()) throw new CliError(`"${typed.trim()}" is not ${repository}; nothing was removed`);
  }
  const removed = await ctx.client.removeProject(repository);
  if (ctx.args.flags.json) {
    ctx.out(JSON.stringify({ removed }, null, 2));
    return 0;
  }
  ctx.out(`Removed ${removed.repository} from ${ctx.client.url}:`);
  ctx.out(`  ${plural(removed.functions.length, "function")}${removed.functions.length ? ` (${removed.functions.join(", ")})` : ""}: their URLs now answer 404`);
  ctx.out(`  ${plural(removed.containers, "container")}, ${plural(removed.schedules, "schedule")}, ${plural(removed.images.length, "image")}`);
  ctx.out(`  network: ${removed.network ? "removed" : "still in use; the next start removes it"}`);
  return 0;
}
