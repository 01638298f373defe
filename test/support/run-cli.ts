import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

const CLI = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the `eserveless` command from its sources (through tsx, so no build
 * is needed) as a child process with `env` over the test's environment
 * (`undefined` removes a variable), `input` on its standard input.
 */
export function runCli(args: string[], env: Record<string, string | undefined>, cwd = process.cwd(), input?: string): Promise<CliResult> {
  const merged: Record<string, string | undefined> = { ...process.env, ...env };
  for (const [key, value] of Object.entries(merged)) if (value === undefined) delete merged[key];
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ["--import", "tsx", CLI, ...args], { cwd, env: merged, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr });
    });
    child.stdin?.end(input ?? "");
  });
}
