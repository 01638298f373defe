/**
 * An in-process emulator of the slice of api.github.com (and codeload) that
 * eserveless uses, so tests can drive the real @octokit/rest + @octokit/auth-app
 * without network access. It authenticates for real: App JWTs are RS256
 * verified against the emulator's key and installation tokens are random and
 * scoped to their installation.
 */
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, verify, type KeyObject } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { PassThrough, pipeline, Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { crc32, gzipSync } from "node:zlib";
import { pack } from "tar-stream";
import type { WebhookDefinition } from "@octokit/webhooks-examples";

const ZERO_SHA = "0".repeat(40);
const DOCS = "https://docs.github.com/rest";
/** Clock skew GitHub tolerates on JWT `iat` / `exp`. */
const JWT_SLACK_SECONDS = 60;
const TOKEN_TTL_MS = 60 * 60 * 1000;
const PERMISSIONS: Record<string, string> = { contents: "read", metadata: "read", statuses: "write", deployments: "write", checks: "read", pull_requests: "write" };
const STATUS_STATES = ["error", "failure", "pending", "success"];
const DEPLOYMENT_STATES = ["error", "failure", "inactive", "in_progress", "queued", "pending", "success"];
const CHECK_CONCLUSIONS = ["success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required", "stale"];

type FileInput =
  | string
  | Buffer
  | { content: string | Buffer; mode?: number }
  | { symlink: string }
  | { hardlink: string };

interface TreeEntry {
  type: "file" | "symlink" | "link";
  mode: number;
  content: Buffer;
  linkname?: string;
  /** Identity of the entry, to tell modified files apart in push payloads. */
  digest: string;
}

interface Commit {
  sha: string;
  message: string;
  date: Date;
  parent: string | null;
  /** Set for commit(); commitTarball() stores the raw archive instead, commitTarballStream() a way to make it. */
  tree?: Map<string, TreeEntry>;
  tarGz?: Buffer;
  openTarGz?: () => Readable;
}

interface Status {
  id: number;
  state: string;
  context: string;
  description: string | null;
  target_url: string | null;
  created_at: string;
  /** The login of whoever posted it: this App's bot, or another app's (CI). */
  creator?: string;
}

interface DeploymentStatus {
  id: number;
  state: string;
  description: string;
  environment_url: string;
  log_url: string;
  created_at: string;
}

interface Deployment {
  id: number;
  sha: string;
  ref: string;
  environment: string;
  description: string | null;
  /** As the request sent it: undefined when it left the key out. */
  required_contexts: string[] | undefined;
  auto_merge: boolean | undefined;
  transient_environment: boolean;
  production_environment: boolean;
  created_at: string;
  statuses: DeploymentStatus[];
}

interface CheckRun {
  id: number;
  name: string;
  status: "queued" | "in_progress" | "completed";
  conclusion: string | null;
  app: string;
}

interface Repo {
  id: number;
  owner: string;
  name: string;
  fullName: string;
  installationId: number;
  defaultBranch: string;
  branches: Map<string, string>;
  tags: Map<string, string>;
  commits: Map<string, Commit>;
  statuses: Map<string, Status[]>;
  deployments: Deployment[];
  checkRuns: Map<string, CheckRun[]>;
  /** Comments on its issues and pull requests, by id. */
  comments: Map<number, IssueComment>;
  /** Collaborators' permissions by login (lower case): admin, maintain, write, triage, read. */
  collaborators: Map<string, string>;
}

interface IssueComment {
  id: number;
  number: number;
  body: string;
  created_at: string;
  updated_at: string;
}

interface InstallationToken {
  installationId: number;
  /** Repositories the token was narrowed to at creation; null = the whole installation. */
  repositoryIds: Set<number> | null;
  expiresAt: number;
}

type Auth =
  | { kind: "jwt" }
  | { kind: "installation"; token: InstallationToken }
  | { kind: "none" }
  | { kind: "invalid"; message: string };

interface Reply {
  status: number;
  json?: unknown;
  raw?: Buffer;
  /** A body sent chunked as it is read, without a content-length, as codeload sends archives. */
  stream?: Readable;
  headers?: Record<string, string>;
}

interface Context {
  params: string[];
  query: URLSearchParams;
  body: Record<string, unknown>;
  auth: Auth;
}

type Route = {
  method: string;
  pattern: RegExp;
  /** Which credential the route takes, like GitHub: App JWT, installation token, or none. */
  auth: "app" | "installation" | "none";
  /** The installation permission it needs, like GitHub (403 without it): `deployments: write`, `checks: read`. */
  permission?: [name: string, level: "read" | "write"];
  handle: (ctx: Context) => Reply | Promise<Reply>;
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: unknown[],
  ) {
    super(message);
  }
}

const notFound = () => new HttpError(404, "Not Found");
const noCommit = (ref: string) => new HttpError(422, `No commit found for SHA: ${ref}`);
const invalidStatus = (field: string, message: string) =>
  new HttpError(422, "Validation Failed", [{ resource: "Status", code: "custom", field, message }]);

/** GitHub prints timestamps without milliseconds. */
const isoNow = (date = new Date()) => date.toISOString().replace(/\.\d{3}Z$/, "Z");
const sha1 = (...parts: Array<string | Buffer>) => {
  const hash = createHash("sha1");
  for (const part of parts) hash.update(part).update("\0");
  return hash.digest("hex");
};
const base64url = (text: string) => Buffer.from(text, "base64url").toString("utf8");

/** Starts an emulator on 127.0.0.1 with a random port. */
export async function startGitHubEmulator(options: { appId?: number; webhookSecret?: string } = {}): Promise<GitHubEmulator> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return new GitHubEmulator(server, `http://127.0.0.1:${port}`, options);
}

/** A fake api.github.com for one GitHub App; create it with startGitHubEmulator(). */
export class GitHubEmulator {
  readonly url: string;
  readonly appId: number;
  readonly privateKey: string;
  readonly webhookSecret: string;
  /** Every request received: method, path (no query), and the kind of credential it carried. */
  readonly requests: Array<{ method: string; path: string; auth: Auth["kind"] }> = [];
  /** The status of every answer, in the order of `requests`: tests check eserveless never met a 409. */
  readonly answers: Array<{ method: string; path: string; status: number }> = [];
  /** Every tarball served from codeload: the commit and the bytes handed to the socket so far. */
  readonly downloads: Array<{ sha: string; bytes: number }> = [];

  readonly #server: Server;
  readonly #publicKey: KeyObject;
  readonly #repos = new Map<string, Repo>();
  readonly #installations = new Map<number, { id: number; account: string; permissions: Record<string, string> }>();
  readonly #tokens = new Map<string, InstallationToken>();
  readonly #codeloadTokens = new Map<string, { repo: Repo; sha: string }>();
  readonly #manifestCodes = new Map<string, { id: number; slug: string; name: string }>();
  readonly #routes: Route[];
  #counter = 0;

  constructor(server: Server, url: string, options: { appId?: number; webhookSecret?: string }) {
    this.#server = server;
    this.url = url;
    this.appId = options.appId ?? 4242;
    this.webhookSecret = options.webhookSecret ?? randomBytes(20).toString("hex");
    const { privateKey, publicKey } = generateKeyPairSync("rsa", {
      modulusLength: 2048,
      // GitHub hands out PKCS#1 PEMs ("BEGIN RSA PRIVATE KEY").
      privateKeyEncoding: { type: "pkcs1", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    this.privateKey = privateKey;
    this.#publicKey = createPublicKey(publicKey);
    this.#routes = this.#defineRoutes();
    server.on("request", (req, res) => void this.#dispatch(req, res));
  }

  /** Adds a repository where the App is installed; installations default to one per owner, like an org-wide install. */
  addRepository(input: { owner: string; name: string; installationId?: number; defaultBranch?: string; id?: number; permissions?: Record<string, string> }) {
    const fullName = `${input.owner}/${input.name}`;
    if (this.#repos.has(fullName.toLowerCase())) throw new Error(`repository ${fullName} already exists`);
    const installationId =
      input.installationId ??
      [...this.#installations.values()].find((i) => i.account.toLowerCase() === input.owner.toLowerCase())?.id ??
      Math.max(1000, ...this.#installations.keys()) + 1;
    // A new installation accepted the permissions given (an older one: those it was installed with), the App's otherwise.
    if (!this.#installations.has(installationId)) this.#installations.set(installationId, { id: installationId, account: input.owner, permissions: input.permissions ?? PERMISSIONS });
    const repo: Repo = {
      id: input.id ?? Math.max(100_000, ...[...this.#repos.values()].map((r) => r.id)) + 1,
      owner: input.owner,
      name: input.name,
      fullName,
      installationId,
      defaultBranch: input.defaultBranch ?? "main",
      branches: new Map(),
      tags: new Map(),
      commits: new Map(),
      statuses: new Map(),
      deployments: [],
      checkRuns: new Map(),
      comments: new Map(),
      collaborators: new Map(),
    };
    this.#repos.set(fullName.toLowerCase(), repo);
    const { id, owner, name, defaultBranch } = repo;
    return { id, fullName, installationId, owner, name, defaultBranch };
  }

  /** Creates a commit whose whole tree is `files` and moves the branch (default: the default branch) to it. Returns the 40-hex sha. */
  commit(
    owner: string,
    name: string,
    input: { files: Record<string, FileInput>; branch?: string; tag?: string; message?: string },
  ): string {
    const repo = this.#repo(owner, name);
    const tree = new Map(Object.entries(input.files).map(([path, file]) => [path, toTreeEntry(file)]));
    const sha = sha1(repo.fullName, String(++this.#counter), ...[...tree].flatMap(([path, e]) => [path, e.digest]));
    this.#addCommit(repo, { sha, message: input.message ?? "Update", tree }, input.branch);
    if (input.tag) repo.tags.set(input.tag, sha);
    return sha;
  }

  /** Stores a raw .tar.gz (tests craft malicious ones) as a new commit on the branch; returns its sha. */
  commitTarball(owner: string, name: string, tarGz: Buffer, input: { branch?: string } = {}): string {
    const repo = this.#repo(owner, name);
    const sha = sha1(repo.fullName, String(++this.#counter), tarGz);
    this.#addCommit(repo, { sha, message: "Raw tarball", tarGz }, input.branch);
    return sha;
  }

  /**
   * A commit whose .tar.gz `open` makes anew at each download, served chunked as it is read:
   * tests serve archives far larger than they could hold in memory. Returns its sha.
   */
  commitTarballStream(owner: string, name: string, open: () => Readable, input: { branch?: string } = {}): string {
    const repo = this.#repo(owner, name);
    const sha = sha1(repo.fullName, String(++this.#counter), "stream");
    this.#addCommit(repo, { sha, message: "Streamed tarball", openTarGz: open }, input.branch);
    return sha;
  }

  /** Statuses posted for a commit, oldest first. */
  statuses(owner: string, name: string, sha: string) {
    return (this.#repo(owner, name).statuses.get(sha) ?? []).map(({ state, context, description, target_url, created_at }) => ({
      state,
      context,
      description,
      target_url,
      created_at,
    }));
  }

  /** Posts a commit status as another app would (CI): eserveless reads it, and must not count it as its own. */
  addStatus(owner: string, name: string, sha: string, input: { state: string; context: string; description?: string }): void {
    const repo = this.#repo(owner, name);
    if (!repo.commits.has(sha)) throw new Error(`unknown commit ${sha}`);
    const status = { ...validateStatus(input, ++this.#counter), creator: "ci-app[bot]" };
    repo.statuses.set(sha, [...(repo.statuses.get(sha) ?? []), status]);
  }

  /** Creates or updates (by name) a check run of another app on a commit, as a CI would. */
  setCheckRun(owner: string, name: string, sha: string, input: { name: string; status: CheckRun["status"]; conclusion?: string }): void {
    const repo = this.#repo(owner, name);
    if (!repo.commits.has(sha)) throw new Error(`unknown commit ${sha}`);
    if (input.status === "completed" ? !CHECK_CONCLUSIONS.includes(input.conclusion ?? "") : input.conclusion !== undefined) {
      throw new Error("a completed check run needs a conclusion, and only a completed one has one");
    }
    const runs = repo.checkRuns.get(sha) ?? [];
    const run = runs.find((r) => r.name === input.name);
    const next = { id: run?.id ?? ++this.#counter, name: input.name, status: input.status, conclusion: input.conclusion ?? null, app: "ci-app" };
    repo.checkRuns.set(sha, [...runs.filter((r) => r !== run), next]);
  }

  /** The GitHub deployments of a repository, oldest first, each with its statuses oldest first. */
  deployments(owner: string, name: string) {
    return this.#repo(owner, name).deployments.map((d) => ({ ...d, statuses: d.statuses.map((s) => ({ ...s })) }));
  }

  /**
   * A `push` event payload shaped like GitHub's, built from @octokit/webhooks-examples.
   * `before` defaults to the parent of `after`; with `deleted`, `after` is the sha the ref
   * pointed at: it becomes `before` (unless given) and `after` becomes zeros.
   */
  pushPayload(owner: string, name: string, input: { after: string; before?: string; ref?: string; deleted?: boolean }) {
    const repo = this.#repo(owner, name);
    const example = pushExample();
    // Re-home every URL and login of the example to this repository.
    const payload = JSON.parse(
      JSON.stringify(example).replaceAll("Codertocat/Hello-World", repo.fullName).replaceAll("Codertocat", repo.owner),
    ) as Record<string, unknown> & { repository: Record<string, unknown> };
    const commit = repo.commits.get(input.after);
    const before = input.before ?? (input.deleted ? input.after : (commit?.parent ?? ZERO_SHA));
    const after = input.deleted ? ZERO_SHA : input.after;
    const ref = !input.ref ? `refs/heads/${repo.defaultBranch}` : input.ref.startsWith("refs/") ? input.ref : `refs/heads/${input.ref}`;
    const headCommit = input.deleted ? null : this.#webhookCommit(repo, after, before);
    const nowSeconds = Math.floor(Date.now() / 1000);
    Object.assign(payload.repository, {
      id: repo.id,
      name: repo.name,
      full_name: repo.fullName,
      default_branch: repo.defaultBranch,
      master_branch: repo.defaultBranch,
      pushed_at: nowSeconds,
    });
    return Object.assign(payload, {
      ref,
      before,
      after,
      created: before === ZERO_SHA && !input.deleted,
      deleted: Boolean(input.deleted),
      forced: false,
      base_ref: null,
      compare: `https://github.com/${repo.fullName}/compare/${before.slice(0, 12)}...${after.slice(0, 12)}`,
      commits: headCommit ? [headCommit] : [],
      head_commit: headCommit,
      installation: { id: repo.installationId, node_id: Buffer.from(`Installation${repo.installationId}`).toString("base64") },
    });
  }

  /** Comments on an issue or pull request, oldest first. */
  comments(owner: string, name: string, number: number) {
    return [...this.#repo(owner, name).comments.values()].filter((c) => c.number === number).map(({ id, body, created_at, updated_at }) => ({ id, body, created_at, updated_at }));
  }

  /** Gives `login` a permission on the repository (admin, maintain, write, triage or read), as a collaborator. */
  setCollaborator(owner: string, name: string, login: string, permission: string): void {
    this.#repo(owner, name).collaborators.set(login.toLowerCase(), permission);
  }

  /** Sets the permissions an installation granted (an installation that has not accepted new ones lacks them). */
  setInstallationPermissions(installationId: number, permissions: Record<string, string>): void {
    const installation = this.#installations.get(installationId);
    if (!installation) throw new Error(`unknown installation ${installationId}`);
    installation.permissions = permissions;
  }

  /**
   * A `pull_request` event payload shaped like GitHub's: `head` is a commit of this repository
   * (GitHub keeps a fork's under refs/pull/<number>/head too); `fork` names the head repository
   * when it is another one.
   */
  pullRequestPayload(owner: string, name: string, input: { number: number; action: string; head: string; fork?: string; merged?: boolean; branch?: string }) {
    const repo = this.#repo(owner, name);
    const headRepo = input.fork ?? repo.fullName;
    const [headOwner = ""] = headRepo.split("/");
    const user = { login: headOwner, type: "User" };
    return {
      action: input.action,
      number: input.number,
      pull_request: {
        url: `${this.url}/repos/${repo.fullName}/pulls/${input.number}`,
        html_url: `https://github.com/${repo.fullName}/pull/${input.number}`,
        number: input.number,
        state: input.action === "closed" ? "closed" : "open",
        title: `Change #${input.number}`,
        user,
        merged: input.action === "closed" ? Boolean(input.merged) : false,
        head: { label: `${headOwner}:${input.branch ?? "feature"}`, ref: input.branch ?? "feature", sha: input.head, user, repo: { ...this.#repoJson(repo), full_name: headRepo, fork: input.fork !== undefined } },
        base: { label: `${repo.owner}:${repo.defaultBranch}`, ref: repo.defaultBranch, sha: repo.branches.get(repo.defaultBranch) ?? ZERO_SHA, repo: this.#repoJson(repo) },
      },
      repository: this.#repoJson(repo),
      sender: user,
      installation: { id: repo.installationId, node_id: Buffer.from(`Installation${repo.installationId}`).toString("base64") },
    };
  }

  /** An `issue_comment` event payload for a new comment by `user` on pull request `number`. */
  issueCommentPayload(owner: string, name: string, input: { number: number; body: string; user: string }) {
    const repo = this.#repo(owner, name);
    const user = { login: input.user, type: "User" };
    return {
      action: "created",
      issue: { number: input.number, title: `Change #${input.number}`, state: "open", pull_request: { url: `${this.url}/repos/${repo.fullName}/pulls/${input.number}` } },
      comment: { id: ++this.#counter, body: input.body, user, created_at: isoNow() },
      repository: this.#repoJson(repo),
      sender: user,
      installation: { id: repo.installationId },
    };
  }

  /**
   * Registers a one-time code for the App manifest flow. The conversion returns this
   * emulator's own credentials (pem, webhook secret), so they authenticate here; `app`
   * only overrides what is reported.
   */
  addManifestCode(code: string, app: Partial<{ id: number; slug: string; name: string }> = {}): void {
    this.#manifestCodes.set(code, { ...this.#app(), ...app });
  }

  /** Stops the server, dropping keep-alive connections. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve, reject) => this.#server.close((error) => (error ? reject(error) : resolve())));
    this.#server.closeAllConnections();
    await closed;
  }

  #repo(owner: string, name: string): Repo {
    const repo = this.#repos.get(`${owner}/${name}`.toLowerCase());
    if (!repo) throw new Error(`unknown repository ${owner}/${name}`);
    return repo;
  }

  #addCommit(repo: Repo, commit: Omit<Commit, "date" | "parent">, branch = repo.defaultBranch): void {
    repo.commits.set(commit.sha, { ...commit, date: new Date(), parent: repo.branches.get(branch) ?? null });
    repo.branches.set(branch, commit.sha);
  }

  #app() {
    return { id: this.appId, slug: "eserveless-emulated", name: "eserveless (emulated)" };
  }

  /** A branch, tag, full ref, or (at least 7 chars of) a sha → the commit. */
  #resolve(repo: Repo, ref: string): Commit | undefined {
    const name = ref.replace(/^refs\//, "");
    const sha =
      repo.branches.get(name.replace(/^heads\//, "")) ??
      repo.tags.get(name.replace(/^tags\//, "")) ??
      (/^[0-9a-f]{7,40}$/i.test(ref) ? [...repo.commits.keys()].find((s) => s.startsWith(ref.toLowerCase())) : undefined);
    return sha ? repo.commits.get(sha) : undefined;
  }

  #webhookCommit(repo: Repo, sha: string, before: string) {
    const commit = repo.commits.get(sha);
    const previous = repo.commits.get(before)?.tree ?? new Map<string, TreeEntry>();
    const tree = commit?.tree ?? new Map<string, TreeEntry>();
    const person = { name: repo.owner, email: `${repo.owner}@users.noreply.github.com`, username: repo.owner };
    return {
      id: sha,
      tree_id: sha1("tree", sha),
      distinct: true,
      message: commit?.message ?? "",
      timestamp: isoNow(commit?.date),
      url: `https://github.com/${repo.fullName}/commit/${sha}`,
      author: person,
      committer: person,
      // Raw-tarball commits have no tree the emulator understands, so they list no files.
      added: [...tree.keys()].filter((path) => !previous.has(path)),
      removed: commit?.tree ? [...previous.keys()].filter((path) => !tree.has(path)) : [],
      modified: [...tree].filter(([path, e]) => previous.has(path) && previous.get(path)?.digest !== e.digest).map(([path]) => path),
    };
  }

  /** The repo of an installation route, hidden (404) when the token does not cover it, like GitHub. */
  #coveredRepo(ctx: Context): Repo {
    const [owner = "", name = ""] = ctx.params;
    const repo = this.#repos.get(`${owner}/${name}`.toLowerCase());
    const token = ctx.auth.kind === "installation" ? ctx.auth.token : undefined;
    if (!repo || !token || token.installationId !== repo.installationId) throw notFound();
    if (token.repositoryIds && !token.repositoryIds.has(repo.id)) throw notFound();
    return repo;
  }

  #repoJson(repo: Repo) {
    return {
      id: repo.id,
      node_id: Buffer.from(`Repository${repo.id}`).toString("base64"),
      name: repo.name,
      full_name: repo.fullName,
      owner: { login: repo.owner, type: "User" },
      private: true,
      visibility: "private",
      fork: false,
      archived: false,
      disabled: false,
      default_branch: repo.defaultBranch,
      html_url: `https://github.com/${repo.fullName}`,
      url: `${this.url}/repos/${repo.fullName}`,
    };
  }

  #installationJson(id: number) {
    const installation = this.#installations.get(id);
    if (!installation) throw notFound();
    return {
      id,
      account: { login: installation.account, type: "User" },
      app_id: this.appId,
      app_slug: this.#app().slug,
      target_type: "User",
      repository_selection: "selected",
      permissions: installation.permissions,
      events: ["push", "pull_request", "issue_comment"],
      access_tokens_url: `${this.url}/app/installations/${id}/access_tokens`,
    };
  }

  #defineRoutes(): Route[] {
    const repoPath = "/repos/([^/]+)/([^/]+)";
    const route = (method: string, path: string, auth: Route["auth"], handle: Route["handle"], permission?: Route["permission"]): Route => ({
      method,
      pattern: new RegExp(`^${path}$`),
      auth,
      handle,
      permission,
    });
    return [
      route("GET", "/app", "app", () => ({
        status: 200,
        json: {
          ...this.#app(),
          html_url: `https://github.com/apps/${this.#app().slug}`,
          owner: { login: "eserveless" },
          permissions: PERMISSIONS,
          events: ["push"],
          installations_count: this.#installations.size,
        },
      })),
      route("GET", `${repoPath}/installation`, "app", ({ params: [owner = "", name = ""] }) => {
        const repo = this.#repos.get(`${owner}/${name}`.toLowerCase());
        if (!repo) throw notFound();
        return { status: 200, json: this.#installationJson(repo.installationId) };
      }),
      route("GET", "/app/installations/(\\d+)", "app", ({ params: [id] }) => ({ status: 200, json: this.#installationJson(Number(id)) })),
      route("POST", "/app/installations/(\\d+)/access_tokens", "app", ({ params: [id], body }) => {
        const installationId = Number(id);
        const installation = this.#installationJson(installationId);
        const token = `ghs_${randomBytes(18).toString("base64url").replace(/[-_]/g, "x")}`;
        const expiresAt = Date.now() + TOKEN_TTL_MS;
        this.#tokens.set(token, { installationId, repositoryIds: this.#narrowRepositories(installationId, body), expiresAt });
        return {
          status: 201,
          json: { token, expires_at: isoNow(new Date(expiresAt)), permissions: installation.permissions, repository_selection: "selected" },
        };
      }),
      route("GET", repoPath, "installation", (ctx) => ({ status: 200, json: this.#repoJson(this.#coveredRepo(ctx)) })),
      route("GET", `${repoPath}/commits/(.+)/statuses`, "installation", (ctx) => {
        const repo = this.#coveredRepo(ctx);
        const commit = this.#resolve(repo, ctx.params[2] ?? "");
        const statuses = commit ? (repo.statuses.get(commit.sha) ?? []) : [];
        return { status: 200, json: statuses.map((s) => this.#statusJson(repo, commit?.sha ?? "", s)).reverse() };
      }),
      route("GET", `${repoPath}/commits/(.+)/check-runs`, "installation", (ctx) => {
        const repo = this.#coveredRepo(ctx);
        const commit = this.#resolve(repo, ctx.params[2] ?? "");
        const runs = commit ? (repo.checkRuns.get(commit.sha) ?? []) : [];
        return {
          status: 200,
          json: {
            total_count: runs.length,
            check_runs: runs.map((r) => ({ id: r.id, name: r.name, head_sha: commit?.sha, status: r.status, conclusion: r.conclusion, app: { slug: r.app } })),
          },
        };
      }, ["checks", "read"]),
      route("GET", `${repoPath}/commits/(.+)`, "installation", (ctx) => {
        const repo = this.#coveredRepo(ctx);
        const ref = ctx.params[2] ?? "";
        const commit = this.#resolve(repo, ref);
        if (!commit) throw noCommit(ref);
        const person = { name: repo.owner, email: `${repo.owner}@users.noreply.github.com`, date: isoNow(commit.date) };
        return {
          status: 200,
          json: {
            sha: commit.sha,
            commit: { message: commit.message, author: person, committer: person, tree: { sha: sha1("tree", commit.sha) } },
            parents: commit.parent ? [{ sha: commit.parent }] : [],
            html_url: `https://github.com/${repo.fullName}/commit/${commit.sha}`,
            url: `${this.url}/repos/${repo.fullName}/commits/${commit.sha}`,
          },
        };
      }),
      route("GET", `${repoPath}/tarball(?:/(.+))?`, "installation", (ctx) => {
        const repo = this.#coveredRepo(ctx);
        const commit = this.#resolve(repo, ctx.params[2] || repo.defaultBranch);
        if (!commit) throw notFound();
        const token = randomBytes(16).toString("hex");
        this.#codeloadTokens.set(token, { repo, sha: commit.sha });
        return { status: 302, headers: { location: `${this.url}/_codeload/${repo.fullName}/legacy.tar.gz/${commit.sha}?token=${token}` } };
      }),
      route("GET", "/_codeload/([^/]+)/([^/]+)/legacy.tar.gz/([0-9a-f]{40})", "none", async ({ params: [owner, name, sha], query }) => {
        const grant = this.#codeloadTokens.get(query.get("token") ?? "");
        if (!grant || grant.sha !== sha || grant.repo.fullName.toLowerCase() !== `${owner}/${name}`.toLowerCase()) throw notFound();
        this.#codeloadTokens.delete(query.get("token") ?? "");
        const { repo } = grant;
        const commit = repo.commits.get(sha) as Commit;
        const topDir = `${repo.owner}-${repo.name}-${sha.slice(0, 7)}`;
        const headers = { "content-type": "application/x-gzip", "content-disposition": `attachment; filename=${topDir}.tar.gz` };
        const download = { sha, bytes: 0 };
        this.downloads.push(download);
        if (commit.openTarGz) {
          const counted = new PassThrough();
          counted.on("data", (chunk: Buffer) => (download.bytes += chunk.length));
          // Ended or destroyed (the client hung up) on either side, both go.
          pipeline(commit.openTarGz(), counted, () => undefined);
          return { status: 200, stream: counted, headers };
        }
        const raw = commit.tarGz ?? (await githubTarball(topDir, commit));
        download.bytes = raw.length;
        return { status: 200, raw, headers };
      }),
      route("POST", `${repoPath}/statuses/([^/]+)`, "installation", (ctx) => {
        const repo = this.#coveredRepo(ctx);
        const sha = ctx.params[2] ?? "";
        const commit = repo.commits.get(sha);
        if (!commit) throw noCommit(sha);
        const status = validateStatus(ctx.body, ++this.#counter);
        repo.statuses.set(sha, [...(repo.statuses.get(sha) ?? []), status]);
        return { status: 201, json: this.#statusJson(repo, sha, status) };
      }),
      route("POST", `${repoPath}/deployments`, "installation", (ctx) => this.#createDeployment(this.#coveredRepo(ctx), ctx.body), ["deployments", "write"]),
      route("GET", `${repoPath}/deployments`, "installation", (ctx) => {
        const repo = this.#coveredRepo(ctx);
        const [sha, environment] = [ctx.query.get("sha"), ctx.query.get("environment")];
        const listed = repo.deployments.filter((d) => (!sha || d.sha === sha) && (!environment || d.environment === environment));
        return { status: 200, json: listed.map((d) => this.#deploymentJson(repo, d)).reverse() };
      }, ["deployments", "read"]),
      route("POST", `${repoPath}/deployments/(\\d+)/statuses`, "installation", (ctx) => {
        const repo = this.#coveredRepo(ctx);
        const deployment = repo.deployments.find((d) => d.id === Number(ctx.params[2]));
        if (!deployment) throw notFound();
        const { state, description, environment_url, log_url } = ctx.body;
        const invalid = (field: string, message: string) => new HttpError(422, "Validation Failed", [{ resource: "DeploymentStatus", code: "custom", field, message }]);
        if (typeof state !== "string" || !DEPLOYMENT_STATES.includes(state)) throw invalid("state", "state is not included in the list");
        if (description != null && (typeof description !== "string" || [...description].length > 140)) throw invalid("description", "description is too long (maximum is 140 characters)");
        for (const [field, url] of [["environment_url", environment_url], ["log_url", log_url]] as const) {
          if (url != null && (typeof url !== "string" || !/^https?:\/\/\S+$/i.test(url))) throw invalid(field, `${field} must use http(s) scheme`);
        }
        const status: DeploymentStatus = {
          id: ++this.#counter,
          state,
          description: (description as string | undefined) ?? "",
          environment_url: (environment_url as string | undefined) ?? "",
          log_url: (log_url as string | undefined) ?? "",
          created_at: isoNow(),
        };
        deployment.statuses.push(status);
        return { status: 201, json: { ...status, url: `${this.url}/repos/${repo.fullName}/deployments/${deployment.id}/statuses/${status.id}` } };
      }, ["deployments", "write"]),
      route("POST", `${repoPath}/issues/(\\d+)/comments`, "installation", (ctx) => {
        const repo = this.#coveredRepo(ctx);
        this.#requirePermission(ctx, "pull_requests");
        const body = ctx.body.body;
        if (typeof body !== "string" || body === "") throw new HttpError(422, "Validation Failed", [{ resource: "IssueComment", code: "missing_field", field: "body" }]);
        if (body.length > 65_536) throw new HttpError(422, "Validation Failed", [{ resource: "IssueComment", code: "custom", field: "body", message: "body is too long (maximum is 65536 characters)" }]);
        const comment = { id: ++this.#counter, number: Number(ctx.params[2]), body, created_at: isoNow(), updated_at: isoNow() };
        repo.comments.set(comment.id, comment);
        return { status: 201, json: this.#commentJson(repo, comment) };
      }),
      route("GET", `${repoPath}/issues/(\\d+)/comments`, "installation", (ctx) => {
        const repo = this.#coveredRepo(ctx);
        const number = Number(ctx.params[2]);
        return { status: 200, json: [...repo.comments.values()].filter((c) => c.number === number).map((c) => this.#commentJson(repo, c)) };
      }),
      route("PATCH", `${repoPath}/issues/comments/(\\d+)`, "installation", (ctx) => {
        const repo = this.#coveredRepo(ctx);
        this.#requirePermission(ctx, "pull_requests");
        const comment = repo.comments.get(Number(ctx.params[2]));
        if (!comment) throw notFound();
        if (typeof ctx.body.body !== "string" || ctx.body.body === "") throw new HttpError(422, "Validation Failed", [{ resource: "IssueComment", code: "missing_field", field: "body" }]);
        Object.assign(comment, { body: ctx.body.body, updated_at: isoNow() });
        return { status: 200, json: this.#commentJson(repo, comment) };
      }),
      route("GET", `${repoPath}/collaborators/([^/]+)/permission`, "installation", (ctx) => {
        const repo = this.#coveredRepo(ctx);
        const login = ctx.params[2] ?? "";
        const permission = repo.collaborators.get(login.toLowerCase());
        if (!permission) throw new HttpError(404, `${login} is not a collaborator`);
        // GitHub's `permission` folds maintain into write and triage into read; `role_name` keeps them.
        const folded = permission === "maintain" ? "write" : permission === "triage" ? "read" : permission;
        return { status: 200, json: { permission: folded, role_name: permission, user: { login, type: "User" } } };
      }),
      route("POST", "/app-manifests/([^/]+)/conversions", "none", ({ params: [code = ""] }) => {
        const app = this.#manifestCodes.get(code);
        if (!app) throw notFound();
        this.#manifestCodes.delete(code);
        return {
          status: 201,
          json: {
            ...app,
            html_url: `https://github.com/apps/${app.slug}`,
            owner: { login: "eserveless" },
            client_id: `Iv1.${sha1("client", code).slice(0, 16)}`,
            client_secret: sha1("secret", code),
            webhook_secret: this.webhookSecret,
            pem: this.privateKey,
            permissions: PERMISSIONS,
            events: ["push"],
          },
        };
      }),
    ];
  }

  /** Honours the `repositories` / `repository_ids` narrowing of an access token request. */
  #narrowRepositories(installationId: number, body: Record<string, unknown>): Set<number> | null {
    const names = Array.isArray(body.repositories) ? body.repositories.map(String) : [];
    const ids = Array.isArray(body.repository_ids) ? body.repository_ids.map(Number) : [];
    if (names.length === 0 && ids.length === 0) return null;
    const installed = [...this.#repos.values()].filter((r) => r.installationId === installationId);
    const picked = [
      ...names.map((n) => installed.find((r) => r.name.toLowerCase() === n.toLowerCase())),
      ...ids.map((id) => installed.find((r) => r.id === id)),
    ];
    if (picked.some((r) => !r)) {
      throw new HttpError(422, "There is at least one repository that does not exist or is not accessible to the parent installation.");
    }
    return new Set(picked.map((r) => (r as Repo).id));
  }

  /**
   * POST /repos/{owner}/{repo}/deployments as GitHub answers it. Without
   * `required_contexts` every context on the commit is required, and one that
   * is not `success` (eserveless's own `pending`, say) makes it answer 409.
   */
  #createDeployment(repo: Repo, body: Record<string, unknown>): Reply {
    const ref = typeof body.ref === "string" ? body.ref : "";
    const commit = this.#resolve(repo, ref);
    if (!commit) throw new HttpError(422, `No ref found for: ${ref}`);
    if (body.required_contexts !== undefined && !(Array.isArray(body.required_contexts) && body.required_contexts.every((c) => typeof c === "string"))) {
      throw new HttpError(422, "Invalid request.\n\nFor 'properties/required_contexts', is not an array of strings.");
    }
    const latest = new Map<string, string>();
    for (const status of repo.statuses.get(commit.sha) ?? []) latest.set(status.context, status.state);
    const required = (body.required_contexts as string[] | undefined) ?? [...latest.keys()];
    const failing = required.filter((context) => latest.get(context) !== "success");
    if (failing.length > 0) {
      throw new HttpError(409, `Conflict: Commit status checks failed for ${ref}.`, [
        { contexts: failing.map((context) => ({ context, state: latest.get(context) ?? "missing" })), resource: "Deployment", field: "required_contexts", code: "invalid" },
      ]);
    }
    const environment = typeof body.environment === "string" ? body.environment : "production";
    const deployment: Deployment = {
      id: ++this.#counter,
      sha: commit.sha,
      ref,
      environment,
      description: typeof body.description === "string" ? body.description : null,
      required_contexts: body.required_contexts as string[] | undefined,
      auto_merge: typeof body.auto_merge === "boolean" ? body.auto_merge : undefined,
      transient_environment: body.transient_environment === true,
      production_environment: typeof body.production_environment === "boolean" ? body.production_environment : environment === "production",
      created_at: isoNow(),
      statuses: [],
    };
    repo.deployments.push(deployment);
    return { status: 201, json: this.#deploymentJson(repo, deployment) };
  }

  #deploymentJson(repo: Repo, d: Deployment) {
    const { statuses: _statuses, required_contexts: _required, auto_merge: _merge, ...fields } = d;
    return { ...fields, task: "deploy", url: `${this.url}/repos/${repo.fullName}/deployments/${d.id}`, creator: { login: `${this.#app().slug}[bot]`, type: "Bot" } };
  }

  /** GitHub answers 403 when the installation has not granted the permission an endpoint needs. */
  #requirePermission(ctx: Context, permission: string): void {
    const token = ctx.auth.kind === "installation" ? ctx.auth.token : undefined;
    const granted = token ? (this.#installations.get(token.installationId)?.permissions ?? PERMISSIONS) : {};
    if ((granted as Record<string, string>)[permission] !== "write") throw new HttpError(403, "Resource not accessible by integration");
  }

  #commentJson(repo: Repo, comment: IssueComment) {
    return {
      ...comment,
      url: `${this.url}/repos/${repo.fullName}/issues/comments/${comment.id}`,
      html_url: `https://github.com/${repo.fullName}/pull/${comment.number}#issuecomment-${comment.id}`,
      user: { login: `${this.#app().slug}[bot]`, type: "Bot" },
    };
  }

  #statusJson(repo: Repo, sha: string, status: Status) {
    return {
      ...status,
      url: `${this.url}/repos/${repo.fullName}/statuses/${sha}`,
      node_id: Buffer.from(`Status${status.id}`).toString("base64"),
      updated_at: status.created_at,
      creator: { login: status.creator ?? `${this.#app().slug}[bot]`, type: "Bot" },
    };
  }

  #authenticate(header: string | undefined): Auth {
    if (!header) return { kind: "none" };
    const match = /^(?:bearer|token)\s+(\S+)$/i.exec(header);
    const credential = match?.[1] ?? "";
    if (credential.split(".").length === 3) return this.#verifyJwt(credential);
    const token = this.#tokens.get(credential);
    if (!token || token.expiresAt < Date.now()) return { kind: "invalid", message: "Bad credentials" };
    return { kind: "installation", token };
  }

  /** RS256 App JWT checks with GitHub's error messages (auth-app matches on them to correct clock skew). */
  #verifyJwt(jwt: string): Auth {
    const [header = "", payload = "", signature = ""] = jwt.split(".");
    let claims: { iat?: unknown; exp?: unknown; iss?: unknown };
    try {
      const alg = (JSON.parse(base64url(header)) as { alg?: unknown }).alg;
      const signed = verify("RSA-SHA256", Buffer.from(`${header}.${payload}`), this.#publicKey, Buffer.from(signature, "base64url"));
      if (alg !== "RS256" || !signed) throw new Error("bad signature");
      claims = JSON.parse(base64url(payload)) as typeof claims;
    } catch {
      return { kind: "invalid", message: "A JSON web token could not be decoded" };
    }
    const now = Math.floor(Date.now() / 1000);
    const { iat, exp, iss } = claims;
    if (String(iss) !== String(this.appId)) return { kind: "invalid", message: "Integration not found" };
    if (typeof iat !== "number" || iat > now + JWT_SLACK_SECONDS) {
      return {
        kind: "invalid",
        message: "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued.",
      };
    }
    if (typeof exp !== "number" || exp <= now) {
      return {
        kind: "invalid",
        message: "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.",
      };
    }
    if (exp - iat > 600 + JWT_SLACK_SECONDS || exp > now + 600 + JWT_SLACK_SECONDS) {
      return { kind: "invalid", message: "'Expiration time' claim ('exp') is too far in the future." };
    }
    return { kind: "jwt" };
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.url);
    const auth = this.#authenticate(req.headers.authorization);
    this.requests.push({ method: req.method ?? "GET", path: url.pathname, auth: auth.kind });
    let reply: Reply;
    try {
      reply = await this.#handle(req, url, auth);
    } catch (error) {
      const { status, message, errors } = error instanceof HttpError ? error : { status: 500, message: String(error), errors: undefined };
      reply = { status, json: { message, ...(errors && { errors }), documentation_url: DOCS } };
    }
    this.answers.push({ method: req.method ?? "GET", path: url.pathname, status: reply.status });
    const requestId = randomBytes(8).toString("hex").toUpperCase();
    if (reply.stream) {
      res.writeHead(reply.status, { "x-github-request-id": requestId, ...reply.headers });
      // A client that stops reading (a size cap) hangs up: that ends the stream, and is no error here.
      pipeline(reply.stream, res, () => undefined);
      return;
    }
    const body = reply.raw ?? (reply.json === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(reply.json)));
    res.writeHead(reply.status, {
      ...(reply.json !== undefined && { "content-type": "application/json; charset=utf-8" }),
      "content-length": String(body.length),
      "x-github-request-id": requestId,
      ...reply.headers,
    });
    res.end(body);
  }

  async #handle(req: IncomingMessage, url: URL, auth: Auth): Promise<Reply> {
    const found = this.#routes
      .map((r) => ({ route: r, match: r.method === req.method ? r.pattern.exec(url.pathname) : null }))
      .find((m) => m.match);
    if (!found?.match) throw notFound();
    const { route, match } = found;
    if (route.auth !== "none") {
      if (auth.kind === "none") throw new HttpError(401, "Requires authentication");
      if (auth.kind === "invalid") throw new HttpError(401, auth.message);
      // GitHub decodes the credential of an App route as a JWT, and refuses JWTs elsewhere.
      if (route.auth === "app" && auth.kind !== "jwt") throw new HttpError(401, "A JSON web token could not be decoded");
      if (route.auth === "installation" && auth.kind !== "installation") throw new HttpError(403, "Resource not accessible by integration");
      if (route.permission && auth.kind === "installation") {
        const [name, level] = route.permission;
        const granted = this.#installations.get(auth.token.installationId)?.permissions[name];
        if (granted !== "write" && granted !== level) throw new HttpError(403, "Resource not accessible by integration");
      }
    }
    const raw = await buffer(req);
    let body: Record<string, unknown> = {};
    try {
      if (raw.length > 0) body = JSON.parse(raw.toString("utf8")) as Record<string, unknown>;
    } catch {
      throw new HttpError(400, "Problems parsing JSON");
    }
    // Octokit percent-encodes `/` inside path parameters such as refs.
    const params = match.slice(1).map((p) => (p === undefined ? "" : decodeURIComponent(p)));
    return route.handle({ params, query: url.searchParams, body, auth });
  }
}

function toTreeEntry(file: FileInput): TreeEntry {
  const entry: Omit<TreeEntry, "digest"> =
    typeof file === "string" || Buffer.isBuffer(file)
      ? { type: "file", mode: 0o644, content: Buffer.from(file) }
      : "symlink" in file
        ? { type: "symlink", mode: 0o777, content: Buffer.alloc(0), linkname: file.symlink }
        : "hardlink" in file
          ? { type: "link", mode: 0o644, content: Buffer.alloc(0), linkname: file.hardlink }
          : { type: "file", mode: file.mode ?? 0o644, content: Buffer.from(file.content) };
  return { ...entry, digest: sha1(entry.type, String(entry.mode), entry.linkname ?? "", entry.content) };
}

function validateStatus(body: Record<string, unknown>, id: number): Status {
  const { state, description, target_url, context } = body;
  if (typeof state !== "string" || !STATUS_STATES.includes(state)) throw invalidStatus("state", "state is not included in the list");
  // GitHub counts characters (code points), not UTF-16 units.
  if (description != null && (typeof description !== "string" || [...description].length > 140)) {
    throw invalidStatus("description", "description is too long (maximum is 140 characters)");
  }
  if (target_url != null && (typeof target_url !== "string" || !/^https?:\/\/\S+$/i.test(target_url))) {
    throw invalidStatus("target_url", "target_url must use http(s) scheme");
  }
  return {
    id,
    state,
    context: typeof context === "string" && context !== "" ? context : "default",
    description: (description as string | null | undefined) ?? null,
    target_url: (target_url as string | null | undefined) ?? null,
    created_at: isoNow(),
  };
}

/**
 * A .tar.gz laid out like `git archive` output served by GitHub: a pax global header
 * carrying the sha, then `<owner>-<repo>-<sha7>/`, its subdirectories and files.
 */
async function githubTarball(topDir: string, commit: Commit): Promise<Buffer> {
  const mtime = commit.date;
  const tar = pack();
  tar.entry({ name: `${topDir}/`, type: "directory", mode: 0o755, mtime });
  const dirs = new Set<string>();
  // git orders tree entries bytewise, directories before their contents.
  for (const [path, entry] of [...(commit.tree ?? [])].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (dirs.has(dir)) continue;
      dirs.add(dir);
      tar.entry({ name: `${topDir}/${dir}/`, type: "directory", mode: 0o755, mtime });
    }
    tar.entry({ name: `${topDir}/${path}`, type: entry.type, mode: entry.mode, mtime, linkname: entry.linkname }, entry.content);
  }
  tar.finalize();
  return gzipSync(Buffer.concat([paxGlobalHeader(commit.sha, mtime), await buffer(tar)]));
}

/** A 512-byte ustar header, encoded by hand for what tar-stream's pack() cannot write or stream. */
function tarHeader(name: string, typeflag: string, size: number, mode: number, mtime: Date): Buffer {
  const header = Buffer.alloc(512);
  const octal = (value: number, width: number) => value.toString(8).padStart(width - 1, "0");
  const fields: Array<[offset: number, value: string]> = [
    [0, name],
    [100, octal(mode, 8)],
    [108, octal(0, 8)],
    [116, octal(0, 8)],
    [124, octal(size, 12)],
    [136, octal(Math.floor(mtime.getTime() / 1000), 12)],
    [148, " ".repeat(8)], // the checksum is computed with its own field as spaces
    [156, typeflag],
    [257, "ustar\0"],
    [263, "00"],
    [265, "root"],
    [297, "root"],
  ];
  for (const [offset, value] of fields) header.write(value, offset, "latin1");
  header.write(`${octal(header.reduce((sum, byte) => sum + byte, 0), 8)}\0`, 148, "latin1");
  return header;
}

/** `data` padded with zeros to whole 512-byte tar blocks. */
function blocks(data: Buffer): Buffer {
  const padded = Buffer.alloc(Math.ceil(data.length / 512) * 512);
  data.copy(padded);
  return padded;
}

/**
 * The typeflag 'g' record git archive writes first. tar-stream's pack() cannot write
 * one (it encodes 'pax-global-header' as a plain file), so it is encoded by hand.
 */
function paxGlobalHeader(sha: string, mtime: Date): Buffer {
  // A pax record is "<length> key=value\n" where length counts the whole record: 52 for a 40-hex sha.
  const data = Buffer.from(`52 comment=${sha}\n`);
  return Buffer.concat([tarHeader("pax_global_header", "g", data.length, 0o666, mtime), blocks(data)]);
}

/**
 * A GitHub-like .tar.gz of at least `bytes`, made as it is read and never held: a pax global
 * header, `.eserveless.yaml`, then 1 MiB files of zeros. Its deflate blocks are stored (level 0),
 * so its size on the wire is its size unpacked, as for a commit of incompressible files, without
 * the cost of making random bytes. For `commitTarballStream`.
 */
export function oversizedTarball(bytes: number): Readable {
  const top = "octo-huge-0000000";
  const mtime = new Date();
  const fileBytes = 1024 * 1024;
  function* tar() {
    yield paxGlobalHeader(ZERO_SHA, mtime);
    yield tarHeader(`${top}/`, "5", 0, 0o755, mtime);
    const manifest = Buffer.from("runtime: node\nfunctions:\n  - name: API\n    type: http\n");
    yield Buffer.concat([tarHeader(`${top}/.eserveless.yaml`, "0", manifest.length, 0o644, mtime), blocks(manifest)]);
    const zeros = Buffer.alloc(fileBytes);
    for (let index = 0, written = 0; written < bytes; index++, written += 512 + fileBytes) {
      yield tarHeader(`${top}/blob-${index}.bin`, "0", fileBytes, 0o644, mtime);
      yield zeros;
    }
    yield Buffer.alloc(1024); // the end-of-archive marker
  }
  return Readable.from(storedGzip(tar()), { objectMode: false });
}

/**
 * Gzip (RFC 1952) of `data` in stored deflate blocks (RFC 1951, BTYPE 00), written by hand: zlib
 * at level 0 does the same but, paused by a slow reader, slows to a crawl on big inputs.
 */
function* storedGzip(data: Iterable<Buffer>): Generator<Buffer> {
  yield Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]); // magic, deflate, no flags, no mtime, unknown OS
  let crc = 0;
  let size = 0;
  for (const piece of data) {
    crc = crc32(piece, crc);
    size = (size + piece.length) >>> 0;
    for (let at = 0; at < piece.length; at += 0xffff) {
      const block = piece.subarray(at, at + 0xffff);
      const head = Buffer.alloc(5); // BFINAL 0, BTYPE 00, then LEN and its complement
      head.writeUInt16LE(block.length, 1);
      head.writeUInt16LE(~block.length & 0xffff, 3);
      yield head;
      yield block;
    }
  }
  const tail = Buffer.alloc(13);
  tail.set([0x01, 0x00, 0x00, 0xff, 0xff]); // an empty final stored block
  tail.writeUInt32LE(crc >>> 0, 5);
  tail.writeUInt32LE(size, 9);
  yield tail;
}

let cachedPushExample: unknown;
/** The examples package's main is a bare JSON file, which ESM can only import with attributes; require() is simplest. */
function pushExample(): unknown {
  if (!cachedPushExample) {
    const definitions = createRequire(import.meta.url)("@octokit/webhooks-examples") as WebhookDefinition[];
    cachedPushExample = definitions
      .find((d): d is WebhookDefinition<"push"> => d.name === "push")
      ?.examples.find((e) => e.installation && e.ref.startsWith("refs/heads/"));
    if (!cachedPushExample) throw new Error("@octokit/webhooks-examples has no branch push example with an installation");
  }
  return cachedPushExample;
}
