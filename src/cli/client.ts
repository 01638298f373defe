import * as v from "valibot";
import { RunStartedSchema, RunsViewSchema, type RunsView } from "../contract/cron-run.js";
import {
  DeploymentListSchema,
  DeploymentStartedSchema,
  DeploymentWithLogSchema,
  type Deployment,
  type DeploymentRef,
  type DeploymentWithLog,
} from "../contract/deployment.js";
import { ErrorBodySchema } from "../contract/error-body.js";
import type { RedeployBody } from "../contract/redeploy-body.js";
import { FunctionOutputSchema, type OutputLine } from "../contract/function-output.js";
import { InvocationListSchema, type Invocation } from "../contract/invocation.js";
import { ProjectListSchema, type Project } from "../contract/project.js";
import { ProjectRemovedSchema, type ProjectRemoved } from "../contract/project-removed.js";
import { HealthSchema, ServerStatusSchema, type Health, type ServerStatus } from "../contract/server-status.js";
import { SecretChangedSchema, SecretListSchema, type SecretChanged, type SecretEnvironment, type SecretInfo } from "../contract/secret.js";
import { ApiError, CliError, UnreachableError, UsageError } from "./errors.js";

export interface ClientOptions {
  /** The server's base URL, without a trailing slash. */
  url: string;
  /** The admin token; routes that need it fail with a usage error without it. */
  token?: string;
  fetch?: typeof fetch;
  /** Time allowed for one request, in milliseconds (uploads get more). */
  timeoutMs?: number;
  /** Aborts every request (Ctrl-C). */
  signal?: AbortSignal;
}

const TOKEN_REFUSED = "the server refused the token: set ESERVELESS_ADMIN_TOKEN to the server's admin token";
const TOKEN_MISSING = "no admin token: set ESERVELESS_ADMIN_TOKEN (or pass --token) to the server's admin token";

interface RequestInit {
  body?: Buffer | string;
  contentType?: string;
  /** The route needs the admin token; "optional": it answers without, and shows more with it. */
  auth?: boolean | "optional";
  /** Statuses besides 2xx whose JSON body is an answer, not an error (e.g. 503 of /healthz). */
  accept?: number[];
  timeoutMs?: number;
  /** The top-level key the answer must have, to tell an eserveless answer from another server's. */
  expect: string;
}

type AnswerSchema = v.GenericSchema<unknown, object>;

/**
 * A small typed client of the eserveless HTTP API. Every answer is checked
 * against the wire contract (src/contract). Every failure becomes a
 * {@link CliError} whose message says what to do: the server unreachable,
 * the token refused, an answer of another version, or the server's own
 * error message.
 */
export class EserveslessClient {
  readonly url: string;
  readonly #token: string | undefined;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #signal: AbortSignal | undefined;

  constructor(options: ClientOptions) {
    this.url = options.url.replace(/\/+$/, "");
    this.#token = options.token;
    this.#fetch = options.fetch ?? fetch;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#signal = options.signal;
  }

  /** Whether requests carry an admin token. */
  get hasToken(): boolean {
    return this.#token !== undefined;
  }

  /** Deploys a ref (default: the default branch) of a GitHub repository the server's App can see. */
  async redeploy(repository: string, ref?: string): Promise<DeploymentRef> {
    const request: RedeployBody = ref === undefined ? { repository } : { repository, ref };
    const body = JSON.stringify(request);
    const answer = await this.#request(DeploymentStartedSchema, "POST", "/redeploy", { body, contentType: "application/json", auth: true, expect: "deployment" });
    return answer.deployment;
  }

  /** Uploads a packed project folder (.tar.gz with one top folder) as project `local/<project>`. */
  async uploadFolder(project: string, tarball: Buffer): Promise<DeploymentRef> {
    const answer = await this.#request(DeploymentStartedSchema, "POST", `/api/deployments?project=${encodeURIComponent(project)}`, {
      body: tarball,
      contentType: "application/gzip",
      auth: true,
      timeoutMs: Math.max(this.#timeoutMs, 300_000),
      expect: "deployment",
    });
    return answer.deployment;
  }

  /** Rolls a project back to an earlier release: a deployment id or a commit, or (undefined) the previous one. */
  async rollback(repository: string, to?: string): Promise<DeploymentRef> {
    const path = `/api/projects/${repository.split("/").map(encodeURIComponent).join("/")}/rollback`;
    const body = JSON.stringify(to === undefined ? {} : { to });
    return (await this.#request(DeploymentStartedSchema, "POST", path, { body, contentType: "application/json", auth: true, expect: "deployment" })).deployment;
  }

  /** Every project with a live deployment. */
  async projects(): Promise<Project[]> {
    return (await this.#request(ProjectListSchema, "GET", "/api/projects", { auth: true, expect: "projects" })).projects;
  }

  /** Takes a live project down: its functions, containers, schedules, images and network. */
  async removeProject(repository: string): Promise<ProjectRemoved> {
    const path = `/api/projects/${repository.split("/").map(encodeURIComponent).join("/")}`;
    return (await this.#request(ProjectRemovedSchema, "DELETE", path, { auth: true, expect: "removed", timeoutMs: Math.max(this.#timeoutMs, 120_000) })).removed;
  }

  /** A project's secrets: names, environment, last change and the live functions using each; never values. */
  async secrets(repository: string): Promise<SecretInfo[]> {
    return (await this.#request(SecretListSchema, "GET", `${secretsPath(repository)}`, { auth: true, expect: "secrets" })).secrets;
  }

  /** Sets a secret; with `wait`, answers once the live functions declaring it serve the new value. */
  async setSecret(repository: string, name: string, value: string, environment: SecretEnvironment, wait: boolean): Promise<SecretChanged> {
    return this.#request(SecretChangedSchema, "PUT", `${secretsPath(repository)}/${encodeURIComponent(name)}${wait ? "?wait=1" : ""}`, {
      body: JSON.stringify({ value, environment }),
      contentType: "application/json",
      auth: true,
      expect: "secret",
      timeoutMs: Math.max(this.#timeoutMs, 300_000),
    });
  }

  /** Deletes a secret; `force` even while live functions declare it. */
  async deleteSecret(repository: string, name: string, environment: SecretEnvironment, options: { force: boolean; wait: boolean }): Promise<SecretChanged> {
    const query = new URLSearchParams({ environment, ...(options.force ? { force: "1" } : {}), ...(options.wait ? { wait: "1" } : {}) });
    return this.#request(SecretChangedSchema, "DELETE", `${secretsPath(repository)}/${encodeURIComponent(name)}?${query}`, {
      auth: true,
      expect: "secret",
      timeoutMs: Math.max(this.#timeoutMs, 300_000),
    });
  }

  /** Recent deployments, newest first. */
  async deployments(repository?: string): Promise<Deployment[]> {
    const query = repository ? `?repository=${encodeURIComponent(repository)}` : "";
    return (await this.#request(DeploymentListSchema, "GET", `/api/deployments${query}`, { auth: true, expect: "deployments" })).deployments;
  }

  async status(): Promise<ServerStatus> {
    return this.#request(ServerStatusSchema, "GET", "/api/status", { auth: true, expect: "publicUrl" });
  }

  async health(): Promise<Health> {
    return this.#request(HealthSchema, "GET", "/healthz", { accept: [503], expect: "status" });
  }

  /**
   * One deployment and its log lines after `after` (0: all). Its build and
   * function output only with the token: without, `hiddenLines` counts it.
   */
  async deployment(id: string, after = 0): Promise<DeploymentWithLog> {
    const query = after > 0 ? `?after=${after}` : "";
    return this.#request(DeploymentWithLogSchema, "GET", `/deployments/${encodeURIComponent(id)}${query}`, { expect: "deployment", auth: "optional" });
  }

  /** An http function's latest invocations, newest first. */
  async invocations(repository: string, fn: string): Promise<Invocation[]> {
    const path = `/api/functions/${repository.split("/").map(encodeURIComponent).join("/")}/${encodeURIComponent(fn)}/invocations`;
    return (await this.#request(InvocationListSchema, "GET", path, { expect: "invocations", auth: true })).invocations;
  }

  /** What an http function's replicas printed, oldest first: the newest lines, or those after seq `after`. */
  async functionOutput(repository: string, fn: string, after = 0): Promise<OutputLine[]> {
    const path = `/api/functions/${repository.split("/").map(encodeURIComponent).join("/")}/${encodeURIComponent(fn)}/output${after > 0 ? `?after=${after}` : ""}`;
    return (await this.#request(FunctionOutputSchema, "GET", path, { expect: "output", auth: true })).output;
  }

  /** A cron function's schedule and latest runs in `environment`, newest first (their output needs the token). */
  async cronRuns(repository: string, fn: string, limit: number, environment = "production"): Promise<RunsView> {
    const query = new URLSearchParams({ limit: String(limit), ...(environment === "production" ? {} : { environment }) });
    const path = `/functions/${repository.split("/").map(encodeURIComponent).join("/")}/${encodeURIComponent(fn)}/runs?${query}`;
    return this.#request(RunsViewSchema, "GET", path, { expect: "runs", auth: true });
  }

  /**
   * A plain request to any URL (a function's), with this client's Ctrl-C and
   * timeout, and its wording when nothing answers. The answer is not checked:
   * it is the caller's to read.
   */
  async send(url: string, init: { method: string; headers: Headers; body?: Buffer; timeoutMs: number }): Promise<Response> {
    const signals = [AbortSignal.timeout(init.timeoutMs), ...(this.#signal ? [this.#signal] : [])];
    try {
      return await this.#fetch(url, { method: init.method, headers: init.headers, body: init.body, signal: AbortSignal.any(signals) });
    } catch (error) {
      throw this.#networkError(error, init.timeoutMs);
    }
  }

  /** Reads a body that {@link send} returned, with the same wording when the connection fails midway. */
  async read<T>(body: Promise<T>, timeoutMs: number): Promise<T> {
    try {
      return await body;
    } catch (error) {
      throw this.#networkError(error, timeoutMs);
    }
  }

  /** Starts a run of a cron function of `environment` (production, or a preview's `pr-<number>`) now; the answer names the run. */
  async runNow(repository: string, fn: string, environment = "production"): Promise<v.InferOutput<typeof RunStartedSchema>> {
    const query = environment === "production" ? "" : `?${new URLSearchParams({ environment })}`;
    const path = `/functions/${repository.split("/").map(encodeURIComponent).join("/")}/${encodeURIComponent(fn)}/runs${query}`;
    return this.#request(RunStartedSchema, "POST", path, { auth: true, expect: "run" });
  }

  async #request<S extends AnswerSchema>(schema: S, method: string, path: string, init: RequestInit): Promise<v.InferOutput<S>> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (init.auth === true && !this.#token) throw new UsageError(TOKEN_MISSING);
    if (init.auth && this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (init.contentType) headers["content-type"] = init.contentType;
    const timeoutMs = init.timeoutMs ?? this.#timeoutMs;
    const signals = [AbortSignal.timeout(timeoutMs), ...(this.#signal ? [this.#signal] : [])];

    let response: Response;
    try {
      response = await this.#fetch(`${this.url}${path}`, { method, headers, body: init.body, signal: AbortSignal.any(signals) });
    } catch (error) {
      throw this.#networkError(error, timeoutMs);
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw this.#networkError(error, timeoutMs);
    }
    const body = parseJson(text);

    if (response.status === 401 && init.auth) throw new ApiError(401, "unauthorized", TOKEN_REFUSED);
    if (!response.ok && !init.accept?.includes(response.status)) {
      const failure = v.safeParse(ErrorBodySchema, body);
      if (failure.success) throw new ApiError(response.status, failure.output.error.code, failure.output.error.message);
      throw this.#notEserveless(method, path, response, text);
    }
    if (typeof body !== "object" || body === null || !(init.expect in body)) throw this.#notEserveless(method, path, response, text);
    const answer = v.safeParse(schema, body);
    if (!answer.success) throw this.#otherVersion(method, path, response, answer.issues[0]);
    return answer.output;
  }

  /** An eserveless answer whose shape this CLI does not know: the server and the CLI are different versions. */
  #otherVersion(method: string, path: string, response: Response, issue: v.BaseIssue<unknown>): CliError {
    const where = v.getDotPath(issue);
    return new CliError(
      `${this.url} answered ${method} ${path.split("?")[0]} with HTTP ${response.status} in a shape this CLI does not know ` +
        `(${where ? `${where}: ` : ""}${issue.message}); the server and the CLI are likely different versions: install the CLI of the server's version`,
    );
  }

  #networkError(error: unknown, timeoutMs: number): CliError {
    if (this.#signal?.aborted) return new CliError("interrupted", { exitCode: 130, cause: error });
    if (error instanceof Error && error.name === "TimeoutError") {
      return new UnreachableError(`eserveless at ${this.url} did not answer within ${timeoutMs < 1000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)} s`}; is it overloaded? set ESERVELESS_URL`, { cause: error });
    }
    return new UnreachableError(`cannot reach eserveless at ${this.url}: ${networkReason(error)}; is it running? set ESERVELESS_URL`, { cause: error });
  }

  #notEserveless(method: string, path: string, response: Response, text: string): CliError {
    const type = response.headers.get("content-type")?.split(";")[0] ?? "no content type";
    const sample = text.trim().slice(0, 80).replace(/\s+/g, " ");
    return new CliError(
      `${this.url} answered ${method} ${path.split("?")[0]} with HTTP ${response.status} (${type}${sample ? `: ${sample}` : ""}), ` +
        `not eserveless JSON; is ESERVELESS_URL the eserveless server?`,
    );
  }
}

const secretsPath = (repository: string) => `/api/projects/${repository.split("/").map(encodeURIComponent).join("/")}/secrets`;

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The useful part of a fetch failure: undici hides it in `cause` ("connect ECONNREFUSED 127.0.0.1:9"). */
function networkReason(error: unknown): string {
  let cause: unknown = error;
  while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
  // localhost tries ::1 and 127.0.0.1: an AggregateError of both.
  if (cause instanceof AggregateError && cause.errors[0] instanceof Error) cause = cause.errors[0];
  if (cause instanceof Error) return cause.message || (cause as { code?: string }).code || String(cause);
  return String(cause);
}
