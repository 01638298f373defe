import type { FunctionSummary } from "../contract/deployment.js";
import type { Project } from "../contract/project.js";
import type { CommandContext } from "./context.js";
import { CliError, UsageError } from "./errors.js";

/** `OWNER/REPO/FUNCTION` with what follows it (`/PATH?QUERY`, for invoke). */
export interface FunctionTarget {
  repository: string;
  name: string;
  /** The rest of the target after the function's name: "" or "/path?query". */
  rest: string;
}

/** Splits `OWNER/REPO/FUNCTION[/PATH][?QUERY]`; `rest` is allowed only where the command says so. */
export function functionTarget(text: string | undefined, command: string, options: { rest?: boolean } = {}): FunctionTarget {
  const example = `such as local/hello/API${options.rest ? " or local/hello/API/some/path?x=1" : ""}`;
  if (text === undefined) throw new UsageError(`${command} needs OWNER/REPO/FUNCTION, ${example}`, command);
  const query = text.indexOf("?");
  const path = query === -1 ? text : text.slice(0, query);
  const parts = path.split("/");
  if (parts.length < 3 || parts.slice(0, 3).some((part) => part === "") || (!options.rest && (parts.length > 3 || query !== -1))) {
    throw new UsageError(`"${text}" is not OWNER/REPO/FUNCTION, ${example}`, command);
  }
  const [owner, repo, name] = parts as [string, string, string];
  return { repository: `${owner}/${repo}`, name, rest: text.slice(owner.length + repo.length + name.length + 2) };
}

/** The live function, or an error that lists what is live instead. Names match case-insensitively, as on the server. */
export function findFunction(ctx: CommandContext, projects: Project[], target: Pick<FunctionTarget, "repository" | "name">): { project: Project; fn: FunctionSummary } {
  const project = projects.find((p) => p.repository.toLowerCase() === target.repository.toLowerCase());
  if (!project) {
    const live = projects.map((p) => p.repository).join(", ");
    throw new CliError(`no live project ${target.repository} on ${ctx.client.url}${live ? `; live projects: ${live}` : "; nothing is deployed there yet"}`);
  }
  const fn = project.functions.find((f) => f.name.toLowerCase() === target.name.toLowerCase());
  if (!fn) throw new CliError(`${project.repository} has no function ${target.name}; its functions: ${project.functions.map((f) => f.name).join(", ")}`);
  return { project, fn };
}
