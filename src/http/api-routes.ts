import { createHash } from "node:crypto";
import { Hono } from "hono";
import type { PreviewStore } from "../store/preview-store.js";
import { projectEnvironments } from "./project-environments.js";
import { bodyLimit } from "hono/body-limit";
import * as v from "valibot";
import { DeploymentListSchema, DeploymentStartedSchema, RollbackBodySchema } from "../contract/deployment.js";
import { FunctionOutputSchema } from "../contract/function-output.js";
import { InvocationListSchema } from "../contract/invocation.js";
import { ProjectListSchema } from "../contract/project.js";
import { ProjectRemovedSchema, type ProjectRemoved } from "../contract/project-removed.js";
import { PROJECT_NAME } from "../contract/repository-name.js";
import { ServerStatusSchema } from "../contract/server-status.js";
import type { CronScheduler } from "../cron/cron-scheduler.js";
import type { Deployer } from "../deploy/deployer.js";
import { BadRequestError, EserveslessError, NotFoundError } from "../errors.js";
import type { GitHubApp } from "../github/github-app.js";
import type { Pool } from "../run/pool.js";
import type { DeploymentStore } from "../store/deployment-store.js";
import type { FunctionOutputStore } from "../store/function-output-store.js";
import type { LiveFunction, LiveFunctionStore } from "../store/live-function-store.js";
import { LOCAL_OWNER, deploymentUrl, functionUrl } from "../urls.js";
import { bearerAuth, type TokenGuard } from "./bearer-auth.js";
import { toWire } from "./to-wire.js";
import type { InvocationLog } from "./invocation-log.js";

const ProjectName = v.pipe(
  v.string(),
  v.regex(PROJECT_NAME, "project must be letters, digits, '.', '_' or '-' (at most 100), such as my-app"),
);

const AfterSeq = v.pipe(v.string(), v.regex(/^\d{1,15}$/), v.transform(Number));

/**
 * The JSON API of the CLI and the dashboard (admin token): deploy a local
 * folder, list projects, show the server's state.
 */
export function apiRoutes(options: {
  adminToken: string | undefined;
  /** Limits wrong admin tokens per client, with the dashboard's sign-in. */
  tokenGuard?: TokenGuard;
  store: LiveFunctionStore & DeploymentStore & FunctionOutputStore & Partial<Pick<PreviewStore, "openPreviews">>;
  invocations: InvocationLog;
  /** Where a cron function's next run comes from. */
  scheduler: Pick<CronScheduler, "schedules">;
  /** The clock of the last hour's request counts; Date.now when absent. */
  now?: () => number;
  deployer: Deployer;
  pool: Pool;
  github: () => GitHubApp | undefined;
  publicUrl: string;
  functionsUrl?: string;
  /** Largest upload, in bytes. */
  maxUploadBytes: number;
  /** Takes a project down (`DELETE /api/projects/:owner/:repo`); absent, the route answers 501. */
  removeProject?: (repository: string) => Promise<ProjectRemoved>;
}) {
  const app = new Hono();
  app.use("/api/*", bearerAuth(options.adminToken, options.tokenGuard));

  /** Deploys an uploaded .tar.gz of a project folder (one top folder, as GitHub's tarballs have). */
  // Counted while it arrives, chunked or not: an endless upload stops at the limit.
  const uploadLimit = bodyLimit({
    maxSize: options.maxUploadBytes,
    onError: () => {
      throw new EserveslessError(`The upload passed the limit of ${options.maxUploadBytes} bytes (ESERVELESS_MAX_SOURCE_BYTES)`, { status: 413, code: "upload_too_large" });
    },
  });
  app.post("/api/deployments", uploadLimit, async (c) => {
    const project = v.safeParse(ProjectName, c.req.query("project") ?? "");
    if (!project.success) throw new BadRequestError(`?project=: ${project.issues[0]!.message}`);
    const tarball = Buffer.from(await c.req.arrayBuffer());
    if (tarball.length === 0) throw new BadRequestError("The body must be a .tar.gz of the project folder");
    // A content hash stands in for the commit: the same files deploy as the same "commit".
    const commit = createHash("sha1").update(tarball).digest("hex");
    const deployment = options.deployer.enqueue({
      repository: `${LOCAL_OWNER}/${project.output}`,
      commit,
      ref: null,
      trigger: "local",
      source: { kind: "upload", tarball },
    });
    return c.json(toWire(DeploymentStartedSchema, { deployment: { id: deployment.id, url: deploymentUrl(options.publicUrl, deployment.id), commit } }), 202);
  });

  /** Every project with a live deployment, its functions and their URLs. */
  app.get("/api/projects", (c) => {
    const byRepository = new Map<string, LiveFunction[]>();
    for (const fn of options.store.liveFunctions()) byRepository.set(fn.repository, [...(byRepository.get(fn.repository) ?? []), fn]);
    const now = (options.now ?? Date.now)();
    const projects = [...byRepository].map(([repository, functions]) => {
      const schedules = options.scheduler.schedules(repository);
      return {
        repository,
        commit: functions[0]!.commit,
        deployment: functions[0]!.deploymentId,
        functions: functions.map((fn) => {
          if (fn.type === "http") return { name: fn.name, type: fn.type, url: functionUrl(options, repository, fn.name), lastHour: options.invocations.stats(`${repository}/${fn.name}`, now) };
          const next = schedules.find((s) => s.function.toLowerCase() === fn.name.toLowerCase())?.nextRun;
          return { name: fn.name, type: fn.type, schedule: fn.spec.schedule, timezone: fn.spec.timezone, nextRun: next?.toISOString() ?? null };
        }),
        environments: projectEnvironments(options, repository),
      };
    });
    return c.json(toWire(ProjectListSchema, { projects }));
  });

  /** Removes a project: its live functions, containers, schedules, images and network. */
  app.delete("/api/projects/:owner/:repo", async (c) => {
    if (!options.removeProject) throw new EserveslessError("This server cannot remove projects", { status: 501, code: "not_implemented" });
    const removed = await options.removeProject(`${c.req.param("owner")}/${c.req.param("repo")}`);
    return c.json(toWire(ProjectRemovedSchema, { removed }));
  });

  /**
   * Rolls a project back to an earlier release (`{"to"?: deployment id or
   * commit}`, default the previous one): a deployment of its own that starts
   * the kept image, without a build.
   */
  const rollbackLimit = bodyLimit({
    maxSize: 4096,
    onError: () => {
      throw new EserveslessError("A rollback's body is a few bytes; this one passed 4 KiB", { status: 413, code: "body_too_large" });
    },
  });
  app.post("/api/projects/:owner/:repo/rollback", rollbackLimit, async (c) => {
    const text = await c.req.text();
    let json: unknown = {};
    try {
      if (text.trim() !== "") json = JSON.parse(text);
    } catch {
      throw new BadRequestError('The body must be JSON such as {"to": "<deployment id or commit>"}, or empty for the previous release');
    }
    const body = v.safeParse(RollbackBodySchema, json);
    if (!body.success) throw new BadRequestError(body.issues.map((issue) => issue.message).join("; "));
    const deployment = options.deployer.rollback(`${c.req.param("owner")}/${c.req.param("repo")}`, body.output.to);
    return c.json(toWire(DeploymentStartedSchema, { deployment: { id: deployment.id, url: deploymentUrl(options.publicUrl, deployment.id), commit: deployment.commit } }), 202);
  });

  /** A function's latest invocations, newest first (kept in memory since the server started). */
  app.get("/api/functions/:owner/:repo/:function/invocations", (c) => {
    const fn = options.store.liveFunction(`${c.req.param("owner")}/${c.req.param("repo")}`, c.req.param("function"));
    if (!fn) throw new NotFoundError(`No function ${c.req.param("owner")}/${c.req.param("repo")}/${c.req.param("function")} is live`, { code: "function_not_found" });
    return c.json(toWire(InvocationListSchema, { invocations: options.invocations.recent(`${fn.repository}/${fn.name}`) }));
  });

  /**
   * What a function's replicas printed, oldest first: the newest lines, or
   * those after `?after=SEQ` (to follow). Kept after its containers are gone.
   * Behind the token: output may hold secrets.
   */
  app.get("/api/functions/:owner/:repo/:function/output", (c) => {
    const fn = options.store.liveFunction(`${c.req.param("owner")}/${c.req.param("repo")}`, c.req.param("function"));
    if (!fn) throw new NotFoundError(`No function ${c.req.param("owner")}/${c.req.param("repo")}/${c.req.param("function")} is live`, { code: "function_not_found" });
    const after = v.safeParse(AfterSeq, c.req.query("after") ?? "0");
    if (!after.success) throw new BadRequestError(`?after= must be a line's seq (a whole number), got "${c.req.query("after")}"`);
    return c.json(toWire(FunctionOutputSchema, { output: options.store.functionOutput(fn.repository, fn.name, { after: after.output }) }));
  });

  /** Recent deployments, newest first; `?repository=owner/repo` narrows them. */
  // Parsed, not only typed: the store's rows are not typed by the contract (a function's type is a string there).
  app.get("/api/deployments", (c) => c.json(toWire(DeploymentListSchema, { deployments: options.store.listDeployments(c.req.query("repository"), 50) })));

  /** What this server is and how it is doing. */
  app.get("/api/status", async (c) =>
    c.json(
      toWire(ServerStatusSchema, {
        publicUrl: options.publicUrl,
        ...(options.functionsUrl ? { functionsUrl: options.functionsUrl } : {}),
        github: options.github() ? "configured" : "not configured",
        containers: options.pool.stats(),
        projects: new Set(options.store.liveFunctions().map((fn) => fn.repository)).size,
      }),
    ),
  );
  return app;
}
