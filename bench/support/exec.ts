import { execFile } from "node:child_process";
import type { Readable } from "node:stream";

/** Progress and warnings go to stderr so stdout holds the report alone. */
export const progress = (line: string) => process.stderr.write(`${line}\n`);

/**
 * Runs a program with an argument array (never through a shell), optionally
 * streaming `input` to its stdin. Rejects with its stderr when it fails.
 */
export function exec(file: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: Readable } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { env: options.env ?? process.env, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(" ")} failed: ${stderr.trim() || error.message}`, { cause: error }));
      else resolve(stdout);
    });
    if (!child.stdin) return;
    // A child that dies early closes its stdin; the exit error above is the one to report.
    child.stdin.on("error", () => {});
    if (options.input) options.input.pipe(child.stdin);
    else child.stdin.end();
  });
}

/**
 * Runs a bench's `main`: exit code 130 when the bench was interrupted
 * (Ctrl-C, its own clean-up done), 1 with the error's stack otherwise.
 */
export function runBench(main: () => Promise<void>, interrupted: AbortSignal): void {
  main().catch((error: unknown) => {
    if (interrupted.aborted) {
      process.exitCode = 130;
      return;
    }
    progress(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exitCode = 1;
  });
}
