/** A command that failed for a reason the user can act on; its message is printed as is. */
export class CliError extends Error {
  /** The process exit code: 1 for a failed command or deployment, 2 for a usage error. */
  readonly exitCode: number;

  constructor(message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.exitCode = options.exitCode ?? 1;
  }
}

/** Bad arguments, flags or settings (exit 2); `command` names the help to point to. */
export class UsageError extends CliError {
  readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super(message, { exitCode: 2 });
    this.command = command;
  }
}

/** The server could not be reached at all (no answer, refused, timed out). */
export class UnreachableError extends CliError {}

/** The server answered with an error: its HTTP status, its stable code and its message. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
