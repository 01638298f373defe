import { integerFlag } from "../args.js";
import { REPOSITORY_NAME } from "../../contract/repository-name.js";
import type { CommandContext } from "../context.js";
import { UsageError } from "../errors.js";
import { createProgress } from "../progress.js";
import { followToTheEnd } from "./deploy.js";

/** `eserveless rollback OWNER/REPO [DEPLOYMENT-ID | COMMIT]`: makes an earlier release live again and follows it until it is. */
export async function rollbackCommand(ctx: CommandContext): Promise<number> {
  const [repository, to] = ctx.args.positionals;
  if (repository === undefined || !REPOSITORY_NAME.test(repository)) {
    throw new UsageError(`rollback needs OWNER/REPO, such as octo/app${repository === undefined ? "" : `, got "${repository}"`}`, "rollback");
  }
  if (to !== undefined && !/^[0-9a-f]{7,40}$/i.test(to)) {
    throw new UsageError(`"${to}" is neither a deployment id nor a commit SHA (7 to 40 hex characters)`, "rollback");
  }
  const timeoutMs = integerFlag("timeout", ctx.args.flags.timeout, 900, { min: 1, max: 86_400 }, "rollback") * 1000;
  const progress = createProgress(ctx.stderr, { tty: ctx.tty });
  try {
    progress.status(`asking the server to roll ${repository} back${to ? ` to ${to}` : ""}`);
    const ref = await ctx.client.rollback(repository, to);
    return await followToTheEnd(ctx, { ref, repository, verb: "Rolling back" }, progress, timeoutMs);
  } finally {
    progress.done();
  }
}
