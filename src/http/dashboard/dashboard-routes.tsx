import type { Context } from "hono";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { csrf } from "hono/csrf";
import { createMiddleware } from "hono/factory";
import type { Child } from "hono/jsx";
import type { CronScheduler } from "../../cron/cron-scheduler.js";
import type { Deployer } from "../../deploy/deployer.js";
import * as v from "valibot";
import { RollbackBodySchema } from "../../contract/deployment.js";
import { BadRequestError, EserveslessError } from "../../errors.js";
import type { HttpSpec } from "../../manifest/manifest-schema.js";
import type { CronRunStore } from "../../store/cron-run-store.js";
import { PRODUCTION, type DeploymentStore } from "../../store/deployment-store.js";
import type { FunctionOutputStore } from "../../store/function-output-store.js";
import type { LiveFunction, LiveFunctionStore } from "../../store/live-function-store.js";
import { cronRunsUrl, environmentProblem, functionUrl } from "../../urls.js";
import { errorPage } from "../error-handler.js";
import { trustedProxies, type ProxyRange } from "../trusted-proxies.js";
import type { InvocationLog } from "../invocation-log.js";
import { projectPath } from "./format.js";
import { newNonce, renderPage, type PageStatus } from "./layout.js";
import { FunctionOutputSchema } from "../../contract/function-output.js";
import { toWire } from "../to-wire.js";
import { FunctionOutputPage } from "./function-output-view.js";
import { DashboardPage, LoginPage, MessagePage, ProjectPage, type FunctionView, type ProjectView } from "./pages.js";
import { EnvironmentsSection } from "./environments-section.js";
import { projectEnvironments } from "../project-environments.js";
import type { PreviewStore } from "../../store/preview-store.js";
import type { Sessions } from "./session.js";
import { clientAddress, SignInLimiter } from "./sign-in-limiter.js";
import { SecretsSection } from "./secrets-section.js";
import type { SecretActions } from "../secret-routes.js";
import { SECRET_ENVIRONMENTS, type SecretEnvironment } from "../../contract/secret.js";

export interface DashboardOptions {
  store: LiveFunctionStore & DeploymentStore & CronRunStore & FunctionOutputStore & Partial<Pick<PreviewStore, "openPreviews">>;
  scheduler: CronScheduler;
  /** Where each http function's requests of the last hour are counted. */
  invocations: InvocationLog;
  publicUrl: string;
  functionsUrl?: string;
  sessions: Sessions;
  /** A project's secrets (its Secrets section and forms); the section is left out when absent. */
  secrets?: SecretActions;
  /** Limits wrong tokens at the sign-in; one of its own when absent. */
  signInLimiter?: SignInLimiter;
  /** ESERVELESS_TRUSTED_PROXIES: the sign-in limits count the client a trusted proxy forwards for, not the proxy. */
  trustedProxies?: readonly ProxyRange[];
  /** The clock of the sign-in limits; Date.now when absent. */
  now?: () => number;
  /** Rolls a project back ("Roll back to this"); absent, the button's form answers 501. */
  deployer?: Pick<Deployer, "rollback">;
}

/** Where a sign-in may send the browser next: a page of this server, never another site. */
function safeNext(next: unknown): string {
  if (typeof next !== "string") return "/dashboard";
  return /^\/(dashboard|deployments)(?:[/?]|$)/.test(next) && !next.includes("//") && !/[\\\s]/.test(next) ? next : "/dashboard";
}

/** `timeout 30 s · 256 MiB · 10 at once · 0–5 replicas`, from a live http function's spec. */
function limits(spec: HttpSpec): string {
  return [`timeout ${spec.timeout} s`, `${Math.round(spec.memory / 1024 / 1024)} MiB`, `${spec.concurrency} at once`, `${spec.minReplicas}–${spec.maxReplicas} replicas`].join(" · ");
}

/**
 * The dashboard, behind the admin token: `/login` (a form; the token is
 * compared in constant time and traded for a signed session cookie; wrong
 * tokens are limited per client address and overall, then answered 429),
 * `/logout`, `/dashboard` (projects and recent deployments) and
 * `/dashboard/projects/:owner/:repo` (functions with URLs, live commit,
 * deployments, cron runs). `/` sends to one or the other. Forms that POST are
 * refused unless they come from this origin (Origin or Sec-Fetch-Site), on
 * top of the SameSite=Strict cookie.
 */
export function dashboardRoutes(options: DashboardOptions) {
  const { store, scheduler, sessions } = options;
  const limiter = options.signInLimiter ?? new SignInLimiter({ now: options.now });
  const app = new Hono();
  const publicOrigin = new URL(options.publicUrl).origin;
  const isTrusted = trustedProxies(options.trustedProxies ?? []);

  const page = (c: Context, render: (nonce: string) => Child, status?: PageStatus) => {
    const nonce = newNonce();
    return renderPage(c, nonce, render(nonce), status);
  };
  const message = (c: Context, status: PageStatus, title: string, text: string, signedIn: boolean, back?: { href: string; label: string }) =>
    page(c, (nonce) => <MessagePage nonce={nonce} title={title} message={text} signedIn={signedIn} back={back} />, status);

  const toDashboard = { href: "/dashboard", label: "Open the dashboard" };
  /**
   * Refuses a form POSTed from another site (403, as hono's csrf() decides);
   * the one error handler answers with a page that says so. Past the check,
   * errors are the route's own.
   */
  const sameOrigin = [
    errorPage({ title: "Refused", back: toDashboard, html: "always" }),
    csrf({ origin: (origin, c) => origin === publicOrigin || origin === new URL(c.req.url).origin }),
    errorPage({ title: "Something went wrong", back: toDashboard, html: "always" }),
  ] as const;

  /** Pages behind the sign-in: without a session, a redirect to /login that comes back here. */
  const signedIn = createMiddleware(async (c, next) => {
    if (!sessions.enabled) return page(c, (nonce) => <LoginPage nonce={nonce} next="/dashboard" disabled />, 503);
    if (!(await sessions.current(c))) {
      const back = c.req.method === "GET" ? c.req.path + (new URL(c.req.url).search || "") : "/dashboard";
      return c.redirect(`/login?next=${encodeURIComponent(back)}`, c.req.method === "GET" ? 302 : 303);
    }
    c.header("Cache-Control", "no-store");
    await next();
  });

  const functionView = (fn: LiveFunction): FunctionView => {
    if (fn.type === "http") {
      const lastHour = options.invocations.stats(`${fn.repository}/${fn.name}`, (options.now ?? Date.now)());
      return { name: fn.name, type: "http", url: functionUrl(options, fn.repository, fn.name), limits: limits(fn.spec), lastHour };
    }
    const scheduled = scheduler.schedules(fn.repository).find((s) => s.function.toLowerCase() === fn.name.toLowerCase());
    return {
      name: fn.name,
      type: "cron",
      schedule: fn.spec.schedule,
      timezone: fn.spec.timezone,
      nextRun: scheduled?.nextRun?.getTime() ?? null,
      lastRun: store.listRuns(fn.repository, fn.name, 1)[0],
      runsUrl: `/functions/${fn.repository}/${encodeURIComponent(fn.name)}/runs`,
    };
  };

  /** A project as the dashboard shows it; undefined when nothing was ever deployed from it. */
  const projectView = (repository: string): ProjectView | undefined => {
    const live = store.liveFunctions(repository);
    const latest = store.listDeployments(repository, 1)[0];
    if (live.length === 0 && !latest) return undefined;
    const liveDeployment = live[0] ? store.getDeployment(live[0].deploymentId) : undefined;
    return {
      repository: live[0]?.repository ?? latest!.repository,
      live: live[0] ? { commit: live[0].commit, deploymentId: live[0].deploymentId, deployedAt: liveDeployment?.finishedAt ?? null } : null,
      functions: live.map(functionView),
      latest,
    };
  };

  app.get("/", async (c) => c.redirect((await sessions.current(c)) ? "/dashboard" : "/login", 302));

  app.get("/login", async (c) => {
    const next = safeNext(c.req.query("next"));
    if (!sessions.enabled) return page(c, (nonce) => <LoginPage nonce={nonce} next={next} disabled />, 503);
    if (await sessions.current(c)) return c.redirect(next, 302);
    return page(c, (nonce) => <LoginPage nonce={nonce} next={next} />);
  });

  app.post(
    "/login",
    bodyLimit({ maxSize: 16 * 1024, onError: (c) => message(c, 413, "Too large", "A sign-in form is a few bytes; this one was not.", false) }),
    ...sameOrigin,
    async (c) => {
      const form = await c.req.parseBody();
      const next = safeNext(form.next);
      if (!sessions.enabled) return page(c, (nonce) => <LoginPage nonce={nonce} next={next} disabled />, 503);
      // Before the token is compared: a right token is refused as well while a limit holds, or guessers would learn it.
      const address = clientAddress(c, isTrusted);
      const refusal = limiter.check(address);
      if (refusal) {
        const seconds = Math.ceil(refusal.retryAfterMs / 1000);
        c.header("Retry-After", String(seconds));
        const who = refusal.scope === "address" ? "from your address" : "to this server from many addresses";
        const error = `Too many wrong tokens were sent ${who}: sign-in is paused for ${seconds} s. Wait, then try again with the admin token (ESERVELESS_ADMIN_TOKEN).`;
        return page(c, (nonce) => <LoginPage nonce={nonce} next={next} error={error} />, 429);
      }
      const token = typeof form.token === "string" ? form.token.trim() : "";
      if (!token || !sessions.checkToken(token)) {
        limiter.failed(address);
        return page(c, (nonce) => <LoginPage nonce={nonce} next={next} error="That is not the admin token of this server." />, 401);
      }
      await sessions.start(c);
      return c.redirect(next, 303);
    },
  );

  app.get("/logout", async (c) => {
    if (!(await sessions.current(c))) return c.redirect("/login", 302);
    return page(c, (nonce) => (
      <MessagePage nonce={nonce} title="Sign out" message="Use the Sign out button at the top of the page to end this session." signedIn />
    ));
  });

  app.post("/logout", ...sameOrigin, async (c) => {
    await sessions.end(c);
    return c.redirect("/login", 303);
  });

  app.get("/dashboard", signedIn, (c) => {
    const repositories = new Map<string, string>();
    for (const fn of store.liveFunctions()) repositories.set(fn.repository.toLowerCase(), fn.repository);
    for (const d of store.listDeployments(undefined, 200)) if (!repositories.has(d.repository.toLowerCase())) repositories.set(d.repository.toLowerCase(), d.repository);
    const projects = [...repositories.values()]
      .map((repository) => projectView(repository))
      .filter((project): project is ProjectView => project !== undefined)
      .sort((a, b) => a.repository.toLowerCase().localeCompare(b.repository.toLowerCase()));
    const deployments = store.listDeployments(undefined, 20);
    return page(c, (nonce) => <DashboardPage nonce={nonce} projects={projects} deployments={deployments} />);
  });

  app.get("/dashboard/projects/:owner/:repo", signedIn, (c) => {
    const repository = `${c.req.param("owner")}/${c.req.param("repo")}`;
    const project = projectView(repository);
    if (!project) {
      return message(c, 404, "No such project", `Nothing was ever deployed from ${repository}.`, true, { href: "/dashboard", label: "Back to the dashboard" });
    }
    const deployments = store.listDeployments(project.repository, 30);
    const secrets = options.secrets?.list(project.repository);
    return page(c, (nonce) => (
      <ProjectPage nonce={nonce} project={project} deployments={deployments}>
        <EnvironmentsSection repository={project.repository} environments={projectEnvironments({ ...options, store }, project.repository)} />
        {secrets ? <SecretsSection repository={project.repository} secrets={secrets} /> : null}
      </ProjectPage>
    ));
  });

  /** An http function's output: a page that follows it, or with `Accept: application/json` the lines after `?after=SEQ`. */
  app.get("/dashboard/projects/:owner/:repo/functions/:name", signedIn, (c) => {
    const fn = store.liveFunction(`${c.req.param("owner")}/${c.req.param("repo")}`, c.req.param("name"));
    if (!fn || fn.type !== "http") {
      const what = `${c.req.param("owner")}/${c.req.param("repo")}/${c.req.param("name")}`;
      return message(c, 404, "No such function", `No http function ${what} is live.`, true, { href: "/dashboard", label: "Back to the dashboard" });
    }
    if ((c.req.header("accept") ?? "").includes("application/json")) {
      const after = /^\d{1,15}$/.test(c.req.query("after") ?? "") ? Number(c.req.query("after")) : 0;
      return c.json(toWire(FunctionOutputSchema, { output: store.functionOutput(fn.repository, fn.name, { after }) }));
    }
    const path = `${projectPath(fn.repository)}/functions/${encodeURIComponent(fn.name)}`;
    const output = store.functionOutput(fn.repository, fn.name);
    const url = functionUrl(options, fn.repository, fn.name);
    return page(c, (nonce) => <FunctionOutputPage nonce={nonce} repository={fn.repository} name={fn.name} url={url} path={path} output={output} />);
  });

  const repositoryOf = (c: Context) => `${c.req.param("owner")}/${c.req.param("repo")}`;
  const notStarted = errorPage((c) => ({
    title: "Not started",
    back: { href: `/dashboard/projects/${repositoryOf(c)}`, label: `Back to ${repositoryOf(c)}` },
    signedIn: true,
    html: "always",
  }));
  app.post("/dashboard/projects/:owner/:repo/functions/:name/run", ...sameOrigin, signedIn, notStarted, (c) => {
    // `?environment=pr-<number>`: a preview's cron function, which runs only by hand.
    const environment = c.req.query("environment") ?? PRODUCTION;
    const problem = environmentProblem(environment);
    if (problem) throw new BadRequestError(problem, { code: "invalid_environment" });
    const run = scheduler.runNow(repositoryOf(c), c.req.param("name"), environment);
    return c.redirect(cronRunsUrl("", run.repository, encodeURIComponent(run.function), run.environment), 303);
  });

  const secretActions = options.secrets;
  if (secretActions) {
    const notSaved = errorPage((c) => ({
      title: "Not saved",
      back: { href: `/dashboard/projects/${repositoryOf(c)}`, label: `Back to ${repositoryOf(c)}` },
      signedIn: true,
      html: "always",
    }));
    const environmentOf = (value: unknown): SecretEnvironment => ((SECRET_ENVIRONMENTS as readonly unknown[]).includes(value) ? (value as SecretEnvironment) : "production");
    // A value of 64 KiB, form-encoded, is at most three times as long.
    const formLimit = bodyLimit({ maxSize: 256 * 1024, onError: (c) => message(c, 413, "Too large", "A secret's value is at most 64 KiB.", true) });
    app.post("/dashboard/projects/:owner/:repo/secrets", formLimit, ...sameOrigin, signedIn, notSaved, async (c) => {
      const form = await c.req.parseBody();
      const repository = secretActions.repositoryOf(c.req.param("owner"), c.req.param("repo"));
      const value = typeof form.value === "string" ? form.value.replace(/\r\n/g, "\n") : "";
      const { roll } = await secretActions.set(repository, typeof form.name === "string" ? form.name.trim() : "", { value, environment: environmentOf(form.environment) }, true);
      if (roll.state === "failed") return message(c, 502, "Saved, not live", `The secret is stored, but ${roll.error ?? "the new containers did not start"}.`, true, { href: projectPath(repository), label: `Back to ${repository}` });
      return c.redirect(projectPath(repository), 303);
    });
    app.post("/dashboard/projects/:owner/:repo/secrets/:name/delete", ...sameOrigin, signedIn, notSaved, async (c) => {
      const form = await c.req.parseBody();
      const repository = secretActions.repositoryOf(c.req.param("owner"), c.req.param("repo"));
      await secretActions.delete(repository, c.req.param("name"), environmentOf(form.environment), form.force === "1", true);
      return c.redirect(projectPath(repository), 303);
    });
  }
  app.post(
    "/dashboard/projects/:owner/:repo/rollback",
    bodyLimit({ maxSize: 4096, onError: (c) => message(c, 413, "Too large", "A rollback form is a few bytes; this one was not.", true) }),
    ...sameOrigin,
    signedIn,
    notStarted,
    async (c) => {
      if (!options.deployer) throw new EserveslessError("This server cannot roll back", { status: 501, code: "not_implemented" });
      const form = await c.req.parseBody();
      const body = v.safeParse(RollbackBodySchema, { to: typeof form.to === "string" && form.to.trim() !== "" ? form.to : undefined });
      if (!body.success) throw new BadRequestError(body.issues[0].message);
      const deployment = options.deployer.rollback(repositoryOf(c), body.output.to);
      return c.redirect(`/deployments/${deployment.id}`, 303);
    },
  );

  return app;
}
