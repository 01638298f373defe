import { PROJECT_NAME, REPOSITORY_NAME } from "../contract/repository-name.js";
import { UsageError } from "./errors.js";

export type DeployTarget = { kind: "folder"; dir: string } | { kind: "github"; repository: string };

/**
 * What `eserveless deploy ARG` deploys: an existing folder, or anything that
 * looks like a path (./x, ../x, /x, ~/x, a/b/c), is a folder; `owner/repo`
 * or `https://github.com/owner/repo` is a GitHub repository; nothing is ".".
 */
export function deployTarget(arg: string | undefined, isDirectory: (path: string) => boolean): DeployTarget {
  if (arg === undefined || arg === "") return { kind: "folder", dir: "." };
  if (isDirectory(arg)) return { kind: "folder", dir: arg };
  const github = /^(?:https?:\/\/)?github\.com\/(.+)$/i.exec(arg);
  if (github) {
    const repository = github[1]!.replace(/\.git$/, "").replace(/\/+$/, "");
    if (REPOSITORY_NAME.test(repository)) return { kind: "github", repository };
    throw new UsageError(`${arg} is not a repository URL such as https://github.com/owner/repo`, "deploy");
  }
  if (looksLikePath(arg)) return { kind: "folder", dir: arg };
  if (REPOSITORY_NAME.test(arg)) return { kind: "github", repository: arg };
  throw new UsageError(`"${arg}" is neither a folder nor a GitHub repository (owner/repo)`, "deploy");
}

function looksLikePath(arg: string): boolean {
  return /^(\.{1,2}|~)?[/\\]/.test(arg) || arg === "." || arg === ".." || arg === "~" || arg.includes("\\") || arg.split("/").length > 2;
}

/** A project name made of a folder's name ("My App!" → "my-app"); undefined when nothing usable is left. */
export function projectName(folderName: string): string | undefined {
  const name = folderName
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/^[^a-z0-9]+/, "")
    .slice(0, 100)
    .replace(/[-.]+$/, "");
  return PROJECT_NAME.test(name) ? name : undefined;
}
