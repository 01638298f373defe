import type { Octokit } from "@octokit/rest";
import { RequestError } from "@octokit/request-error";
import { EserveslessError, NotFoundError, UpstreamError } from "../errors.js";

/** GitHub App credentials, as configured or created by the setup flow. */
export interface GitHubAppCredentials {
  appId: number;
  privateKey: string;
  webhookSecret: string;
}

/** An authenticated GitHub App: installation clients are created once and reused (their tokens are cached). */
export type GitHubApp = ReturnType<typeof createGitHubApp>;

/**
 * Creates the GitHub App client. `baseUrl` is the REST API root
 * (https://api.github.com, a GitHub Enterprise URL, or the test emulator).
 */
export function createGitHubApp(options: { credentials: GitHubAppCredentials; baseUrl: string; userAgent?: string }) {
  const { appId, privateKey } = options.credentials;
  const common = { baseUrl: options.baseUrl, userAgent: options.userAgent ?? "eserveless" };
  // Octokit and its App auth (about 9 MB resident) load with the first GitHub call, not at start.
  let loading: Promise<(auth: { appId: number; privateKey: string; installationId?: number }) => Octokit> | undefined;
  const octokitFor = (auth: { appId: number; privateKey: string; installationId?: number }) => {
    loading ??= Promise.all([import("@octokit/rest"), import("@octokit/auth-app")]).then(
      ([{ Octokit }, { createAppAuth }]) =>
        (auth) =>
          withTimeout(new Octokit({ ...common, authStrategy: createAppAuth, auth })),
    );
    return loading.then((make) => make(auth));
  };
  let app: Promise<Octokit> | undefined;
  const installations = new Map<number, Promise<Octokit>>();

  return {
    credentials: options.credentials,

    /** An Octokit authenticated as one installation of the App. */
    installation(installationId: number): Promise<Octokit> {
      let octokit = installations.get(installationId);
      if (!octokit) {
        octokit = octokitFor({ appId, privateKey, installationId });
        installations.set(installationId, octokit);
        // A failed load is not kept: the next call tries again.
        octokit.catch(() => installations.delete(installationId));
      }
      return octokit;
    },

    /** The installation that can read `owner/repo`; NotFoundError when the App is not installed there. */
    async installationFor(owner: string, repo: string): Promise<number> {
      try {
        app ??= octokitFor({ appId, privateKey });
        const { data } = await (await app).rest.apps.getRepoInstallation({ owner, repo });
        return data.id;
      } catch (error) {
        throw githubError(error, `The eserveless GitHub App is not installed on ${owner}/${repo}, or the repository does not exist. Install the App on it, then try again.`);
      }
    },
  };
}

/** How long one GitHub request may take: a hung call must not hold a repository's deployments. */
const REQUEST_TIMEOUT_MS = 60_000;

/** Gives every request of `octokit` a time limit, kept alongside any signal the caller passes. */
function withTimeout(octokit: Octokit): Octokit {
  octokit.hook.wrap("request", (request, options) => {
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    const signal = options.request?.signal ? AbortSignal.any([options.request.signal, timeout]) : timeout;
    return request({ ...options, request: { ...options.request, signal } });
  });
  return octokit;
}

/**
 * Translates an Octokit failure into an eserveless error: a 404 becomes
 * NotFoundError with `notFound` as its message, anything else UpstreamError.
 */
export function githubError(error: unknown, notFound: string): EserveslessError {
  if (error instanceof EserveslessError) return error;
  if (error instanceof RequestError) {
    if (error.status === 404 || error.status === 422) return new NotFoundError(notFound, { code: "github_not_found" });
    return new UpstreamError(`GitHub answered ${error.status}: ${error.message}`, { cause: error, code: "github_error" });
  }
  return new UpstreamError(`GitHub cannot be reached: ${(error as Error).message}`, { cause: error, code: "github_unreachable" });
}
