import { existsSync, realpathSync, statSync } from "node:fs";
import { basename, isAbsolute, join, relative, resolve } from "node:path";
import { integerFlag } from "../args.js";
import type { Deployment, DeploymentRef } from "../../contract/deployment.js";
import { MANIFEST_FILES } from "../../contract/manifest-files.js";
import { PROJECT_NAME } from "../../contract/repository-name.js";
import type { CommandContext } from "../context.js";
import { deployTarget, projectName } from "../deploy-target.js";
import { ApiError, CliError, UsageError } from "../errors.js";
import { followDeployment } from "../follow.js";
import { plural, shortSha } from "../../format.js";
import { size, table } from "../format.js";
import { packFolder } from "../pack-folder.js";
import { createProgress, type Progress } from "../progress.js";
import { LOCAL_OWNER } from "../../urls.js";

/** `eserveless deploy [DIR | OWNER/REPO]`: starts a deployment, follows it to its end, prints the function URLs. */
export async function deployCommand(ctx: CommandContext): Promise<number> {
  const { args, client } = ctx;
  const isDirectory = (path: string) => statSync(resolve(ctx.cwd, path), { throwIfNoEntry: false })?.isDirectory() ?? false;
  const target = deployTarget(args.positionals[0], isDirectory);
  if (target.kind === "folder" && args.flags.ref !== undefined) {
    throw new UsageError("--ref is for a GitHub repository; a folder deploys as it is on disk", "deploy");
  }
  if (target.kind === "github" && args.flags.name !== undefined) {
    throw new UsageError("--name is for a folder; a GitHub repository deploys under its own name", "deploy");
  }
  const timeoutMs = integerFlag("timeout", args.flags.timeout, 900, { min: 1, max: 86_400 }, "deploy") * 1000;

  const progress = createProgress(ctx.stderr, { tty: ctx.tty });
  try {
    let started: { ref: DeploymentRef; repository: string };
    if (target.kind === "folder") {
      started = await uploadFolder(ctx, target.dir, progress);
    } else {
      progress.status(`asking the server to deploy ${target.repository}${args.flags.ref ? `@${args.flags.ref}` : ""}`);
      const ref = await client.redeploy(target.repository, args.flags.ref).catch((error: unknown) => {
        // "owner/repo" typed as such may have been meant as a folder path that does not exist.
        throw error instanceof ApiError && error.status === 404 && args.positionals[0] === target.repository && args.flags.ref === undefined
          ? new CliError(`${error.message}\nhint: no folder ${target.repository} exists here; to deploy a folder, write its path, such as ./${target.repository}`)
          : error;
      });
      started = { ref, repository: target.repository };
    }
    return await followToTheEnd(ctx, started, progress, timeoutMs);
  } finally {
    progress.done();
  }
}

/** Follows a started deployment's log until it ends, then prints how it ended; 0 when it is live, 1 otherwise. */
export async function followToTheEnd(
  ctx: CommandContext,
  started: { ref: DeploymentRef; repository: string; verb?: string },
  progress: Progress,
  timeoutMs: number,
): Promise<number> {
  const { args, client } = ctx;
  const { ref, repository } = started;
  progress.line(`${started.verb ?? "Deploying"} ${repository} @ ${shortSha(ref.commit)}: ${ref.url}`);

  // The log's closing "Deployment failed: why" is held back: the summary below says why, once.
  let closing: string | undefined;
  const deployment = await followDeployment(client, ref.id, {
    onLine: (line) => {
      if (args.flags.quiet) return;
      if (closing !== undefined) progress.line(closing);
      closing = undefined;
      if (/^Deployment (failed|errored): /.test(line.line)) closing = line.line;
      else progress.line(line.line);
    },
    onUpdate: (d) => progress.status(`${repository}: ${d.state}`),
    timeoutMs,
    signal: ctx.signal,
  }).catch((error: unknown) => {
    if (error instanceof CliError && error.exitCode === 130) {
      throw new CliError(`stopped following; deployment ${ref.id} goes on on the server: ${ref.url}`, { exitCode: 130 });
    }
    throw error;
  });
  progress.done();
  if (closing !== undefined && !closing.endsWith(deployment.description ?? "\0")) progress.line(closing);
  return report(ctx, deployment, ref);
}

/** Packs and uploads a folder as project local/NAME. */
async function uploadFolder(ctx: CommandContext, dirArg: string, progress: Progress): Promise<{ ref: DeploymentRef; repository: string }> {
  const dir = resolve(ctx.cwd, dirArg);
  const info = statSync(dir, { throwIfNoEntry: false });
  if (!info) throw new CliError(`no folder ${dirArg} (from ${ctx.cwd})`);
  if (!info.isDirectory()) throw new CliError(`${dirArg} is a file; deploy the folder that holds .eserveless.yaml`);
  const folderName = basename(realpathSync(dir));
  const name = ctx.args.flags.name ?? projectName(folderName);
  if (name === undefined) throw new UsageError(`cannot make a project name of the folder name "${folderName}": pass --name NAME`, "deploy");
  if (!PROJECT_NAME.test(name)) {
    throw new UsageError(`--name must be letters, digits, '.', '_' or '-' (at most 100), starting with a letter or digit, such as my-app; got "${name}"`, "deploy");
  }
  if (!MANIFEST_FILES.some((file) => existsSync(join(dir, file)))) {
    throw new CliError(`${dirArg} has no .eserveless.yaml, so it is not an eserveless project; add one (see examples/hello-node)`);
  }

  progress.status(`packing ${dirArg}`);
  const packed = await packFolder(dir, { topFolder: name });
  if (!packed.files.some((file) => MANIFEST_FILES.includes(file))) {
    throw new CliError(`.eserveless.yaml of ${dirArg} is excluded by its .gitignore or .dockerignore; it must be uploaded`);
  }
  for (const { path, why } of packed.skipped) progress.line(`warning: left out ${path}: it is ${why}`);
  const below = relative(ctx.cwd, dir);
  const shown = below === "" ? "." : below.startsWith("..") || isAbsolute(below) ? dir : below;
  progress.line(`Packed ${plural(packed.files.length, "file")} of ${shown} (${size(packed.bytes)}, ${size(packed.tarball.length)} gzipped)`);
  progress.status(`uploading ${size(packed.tarball.length)}`);
  const ref = await ctx.client.uploadFolder(name, packed.tarball);
  return { ref, repository: `${LOCAL_OWNER}/${name}` };
}

const outcome: Record<string, string> = {
  failure: "failed",
  error: "failed on the server's side",
  superseded: "was superseded",
  skipped: "was skipped",
};

/** Prints how the deployment ended; 0 when it is live, 1 otherwise. */
function report(ctx: CommandContext, deployment: Deployment, ref: DeploymentRef): number {
  if (ctx.args.flags.json) ctx.out(JSON.stringify({ deployment, url: ref.url }, null, 2));
  if (deployment.state !== "success") {
    const why = deployment.description ?? "no reason recorded";
    ctx.note(`error: deployment ${deployment.id} of ${deployment.repository} ${outcome[deployment.state] ?? deployment.state}: ${why}`);
    ctx.note(`  its log: ${ref.url}`);
    return 1;
  }
  if (ctx.args.flags.json) return 0;
  ctx.out(`${deployment.repository} is live (${shortSha(deployment.commit)}): ${deployment.description ?? "deployed"}`);
  const rows = deployment.functions.map((fn) => [`  ${fn.name}`, fn.type, fn.url ?? (fn.timezone ? `${fn.schedule} (${fn.timezone})` : (fn.schedule ?? ""))]);
  if (rows.length > 0) ctx.out(table(rows, ["  FUNCTION", "TYPE", "URL / SCHEDULE"]));
  return 0;
}
