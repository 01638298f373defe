/**
 * The one error base of eserveless. It carries the HTTP status that the
 * single `onError` handler answers with, and a `blame` that says who must act:
 * `"user"` when the pushed commit or the request is at fault (a commit status
 * of `failure`), `"system"` when eserveless or its dependencies are (`error`).
 */
export class EserveslessError extends Error {
  readonly status: number;
  readonly blame: "user" | "system";
  /** Machine-readable code, stable across releases, for API clients. */
  readonly code: string;
  /** Response headers that go with the status, such as Retry-After. */
  readonly headers: Record<string, string>;

  constructor(
    message: string,
    options: { status?: number; blame?: "user" | "system"; code?: string; cause?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.status = options.status ?? 500;
    this.blame = options.blame ?? (this.status < 500 ? "user" : "system");
    this.code = options.code ?? "internal";
    this.headers = options.headers ?? {};
  }
}

/** A request that is malformed or asks for something impossible (400). */
export class BadRequestError extends EserveslessError {
  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, { status: 400, code: options.code ?? "bad_request", cause: options.cause });
  }
}

/** Missing or wrong credentials (401). */
export class UnauthorizedError extends EserveslessError {
  constructor(message: string) {
    super(message, { status: 401, code: "unauthorized" });
  }
}

/** Something that was looked for and does not exist (404). */
export class NotFoundError extends EserveslessError {
  constructor(message: string, options: { code?: string } = {}) {
    super(message, { status: 404, code: options.code ?? "not_found" });
  }
}

/**
 * A rule that the pushed source breaks: tarball rules, manifest errors, build
 * failures. Fails the deployment with `failure` on the commit.
 */
export class SourceError extends EserveslessError {
  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, { status: 422, blame: "user", code: options.code ?? "invalid_source", cause: options.cause });
  }
}

/** A dependency of eserveless (Docker, GitHub) failed or is unreachable (502/503). */
export class UpstreamError extends EserveslessError {
  constructor(message: string, options: { status?: number; code?: string; cause?: unknown } = {}) {
    super(message, { status: options.status ?? 502, blame: "system", code: options.code ?? "upstream", cause: options.cause });
  }
}

/**
 * A function's container that failed: it exited, never answered, or its
 * runtime refused the function. `logs` holds what it printed, line by line,
 * so the deployment log can show why.
 */
export class ContainerFailedError extends SourceError {
  /** What the container printed, line by line, oldest first. */
  readonly logs: string[];

  constructor(message: string, options: { code: string; logs: string[]; cause?: unknown }) {
    super(message, { code: options.code, cause: options.cause });
    this.logs = options.logs;
  }
}
