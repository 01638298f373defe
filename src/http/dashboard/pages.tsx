import type { Child, FC } from "hono/jsx";
import type { RunsView } from "../../contract/cron-run.js";
import type { CronRun } from "../../store/cron-run-store.js";
import type { Deployment } from "../../store/deployment-store.js";
import { duration, plural, shortSha, when, zonedTime } from "../../format.js";
import type { RequestStats } from "../invocation-log.js";
import { runByHandCommand } from "../../urls.js";
import { projectPath, shortRef } from "./format.js";
import { Page } from "./layout.js";
import { Table } from "./table.js";

/** A live function as the dashboard shows it. */
export interface FunctionView {
  name: string;
  type: "http" | "cron";
  /** http: its stable URL. */
  url?: string;
  /** http: limits from the manifest. */
  limits?: string;
  /** http: requests and 5xx answers in the last hour. */
  lastHour?: RequestStats;
  /** cron: its expression and zone. */
  schedule?: string;
  timezone?: string;
  nextRun?: number | null;
  lastRun?: CronRun;
  runsUrl?: string;
}

/** A project (a repository, or a local folder under `local/`) on the dashboard. */
export interface ProjectView {
  repository: string;
  live: { commit: string; deploymentId: string; deployedAt: number | null } | null;
  functions: FunctionView[];
  /** Its newest deployment, live or not. */
  latest: Deployment | undefined;
}

const Badge: FC<{ state: string }> = ({ state }) => <span class={`badge badge-${state}`}>{state.replace("_", " ")}</span>;

/** The first line of a (possibly long) description, the whole of it on hover and on the deployment's page. */
const Summary: FC<{ text: string }> = ({ text }) => {
  const first = text.split("\n")[0]!;
  const short = first.length > 140 ? `${first.slice(0, 139)}…` : first === text ? first : `${first} …`;
  return (
    <div class="muted desc" title={short === text ? undefined : text}>
      {short}
    </div>
  );
};

const Time: FC<{ ms: number }> = ({ ms }) => <time datetime={new Date(ms).toISOString()}>{when(ms)}</time>;

/** A cron function's next run on the wall clock of its own zone, named, as its schedule reads. */
const ZonedTime: FC<{ ms: number; zone: string }> = ({ ms, zone }) => <time datetime={new Date(ms).toISOString()}>{zonedTime(ms, zone)}</time>;

/** "120 requests, 30 failed (25%)" in the last hour; failures stand out, so a project whose every call fails does not look healthy. */
const LastHour: FC<{ stats: RequestStats }> = ({ stats }) => {
  if (stats.requests === 0) return <span class="muted">no requests in the last hour</span>;
  const rate = Math.round((stats.errors / stats.requests) * 100);
  return (
    <span title="In the last hour since the server started; failed means a 5xx answer: an error, a crash or a timeout">
      {plural(stats.requests, "request")}
      {stats.errors > 0 ? (
        <>
          , <strong class="failing">{`${stats.errors} failed (${rate}%)`}</strong>
        </>
      ) : (
        ", none failed"
      )}
    </span>
  );
};

/** Deployments, newest first; each commit links to its deployment's page and log. */
export const DeploymentsTable: FC<{ deployments: Deployment[]; showProject: boolean; caption: string; rollbackTargets?: ReadonlySet<string> }> = ({
  deployments,
  showProject,
  caption,
  rollbackTargets,
}) => (
  <Table caption={caption} columns={["Created", ...(showProject ? ["Project"] : []), "Commit", "Trigger", "State", "Took", ...(rollbackTargets ? [<span class="sr-only">Actions</span>] : [])]}>
    {deployments.map((d) => (
      <tr>
        <td class="nowrap">
          <Time ms={d.createdAt} />
        </td>
        {showProject ? (
          <td>
            <a href={projectPath(d.repository)}>{d.repository}</a>
          </td>
        ) : null}
        <td class="nowrap">
          <a href={`/deployments/${d.id}`} title={`Deployment ${d.id}: its page and log`}>
            <code>{shortSha(d.commit)}</code>
          </a>
          {d.ref ? <span class="muted"> {shortRef(d.ref)}</span> : null}
        </td>
        <td>{d.trigger}</td>
        <td>
          <Badge state={d.state} />
          {d.description && d.state !== "success" ? <Summary text={d.description} /> : null}
        </td>
        <td class="nowrap">{d.finishedAt !== null && d.startedAt !== null ? duration(d.finishedAt - d.startedAt) : ""}</td>
        {rollbackTargets ? (
          <td>
            {rollbackTargets.has(d.id) ? (
              <form method="post" action={`${projectPath(d.repository)}/rollback`} class="inline">
                <input type="hidden" name="to" value={d.id} />
                <button type="submit" class="small" aria-label={`Roll back to ${shortSha(d.commit)} (deployment ${d.id})`}>
                  Roll back to this
                </button>
              </form>
            ) : null}
          </td>
        ) : null}
      </tr>
    ))}
  </Table>
);

export const LoginPage: FC<{ nonce: string; next: string; error?: string; disabled?: boolean }> = ({ nonce, next, error, disabled }) => (
  <Page title="Sign in" nonce={nonce} hideSignIn>
    {disabled ? (
      <div class="login notice">
        <h1>The dashboard is off</h1>
        <p>
          Set <code>ESERVELESS_ADMIN_TOKEN</code> on the server (at least 16 characters; <code>openssl rand -hex 32</code>) and restart it to sign in
          here.
        </p>
      </div>
    ) : (
      <form class="login" method="post" action="/login">
        <h1>Sign in to eserveless</h1>
        {error ? (
          <p class="error" role="alert" id="login-error">
            {error}
          </p>
        ) : null}
        <input type="hidden" name="next" value={next} />
        <label for="token">Admin token</label>
        <input
          type="password"
          id="token"
          name="token"
          required
          autofocus
          autocomplete="current-password"
          aria-describedby={error ? "token-hint login-error" : "token-hint"}
          aria-invalid={error ? "true" : undefined}
        />
        <p class="hint" id="token-hint">
          The server's <code>ESERVELESS_ADMIN_TOKEN</code>.
        </p>
        <button type="submit" class="primary">
          Sign in
        </button>
      </form>
    )}
  </Page>
);

const FunctionList: FC<{ functions: FunctionView[] }> = ({ functions }) => (
  <ul class="plain">
    {functions.map((fn) => (
      <li>
        <strong>{fn.name}</strong> <span class="muted">{fn.type}</span>{" "}
        {fn.url ? (
          <>
            <a class="url" href={fn.url}>
              {fn.url}
            </a>
            {fn.lastHour ? (
              <div class="desc">
                <LastHour stats={fn.lastHour} />
              </div>
            ) : null}
          </>
        ) : (
          <>
            <code>{fn.schedule}</code> <span class="muted">{fn.timezone}</span>
            <div class="desc muted">{fn.nextRun && fn.timezone ? <>next run <ZonedTime ms={fn.nextRun} zone={fn.timezone} /></> : "not scheduled"}</div>
          </>
        )}
      </li>
    ))}
  </ul>
);

export const DashboardPage: FC<{ nonce: string; projects: ProjectView[]; deployments: Deployment[] }> = ({ nonce, projects, deployments }) => (
  <Page title="Dashboard" nonce={nonce} signedIn>
    <h1>Dashboard</h1>
    <section aria-labelledby="projects-heading">
      <h2 id="projects-heading">Projects</h2>
      {projects.length === 0 ? (
        <p class="notice">
          Nothing is deployed yet. Push to the default branch of a repository where the GitHub App is installed, or run <code>eserveless deploy</code>{" "}
          in a project folder.
        </p>
      ) : (
        <div class="cards">
          {projects.map((project) => (
            <article class="card" aria-labelledby={`project-${project.repository}`}>
              <h3 id={`project-${project.repository}`}>
                <a href={projectPath(project.repository)}>{project.repository}</a>
              </h3>
              {project.live ? (
                <p class="muted">
                  Live <code title={project.live.commit}>{shortSha(project.live.commit)}</code>
                  {project.live.deployedAt ? (
                    <>
                      {" "}
                      since <Time ms={project.live.deployedAt} />
                    </>
                  ) : null}
                </p>
              ) : (
                <p class="muted">Nothing live.</p>
              )}
              {project.latest && project.latest.id !== project.live?.deploymentId ? (
                <p>
                  Latest deployment <Badge state={project.latest.state} />{" "}
                  <a href={`/deployments/${project.latest.id}`}>
                    <code>{shortSha(project.latest.commit)}</code>
                  </a>
                </p>
              ) : null}
              {project.functions.length > 0 ? <FunctionList functions={project.functions} /> : null}
            </article>
          ))}
        </div>
      )}
    </section>
    <section aria-labelledby="deployments-heading">
      <h2 id="deployments-heading">Recent deployments</h2>
      {deployments.length === 0 ? <p class="muted">None yet.</p> : <DeploymentsTable deployments={deployments} showProject caption="Recent deployments" />}
    </section>
  </Page>
);

/** The earlier production deployments that went live: each can be rolled back to, the live one cannot. */
function rollbackTargets(project: ProjectView, deployments: Deployment[]): ReadonlySet<string> {
  return new Set(deployments.filter((d) => d.state === "success" && d.environment === "production" && d.id !== project.live?.deploymentId).map((d) => d.id));
}

export const ProjectPage: FC<{ nonce: string; project: ProjectView; deployments: Deployment[]; /** Sections shown before the deployments (Secrets). */ children?: Child }> = ({ nonce, project, deployments, children }) => {
  const http = project.functions.filter((fn) => fn.type === "http");
  const cron = project.functions.filter((fn) => fn.type === "cron");
  return (
    <Page title={project.repository} nonce={nonce} signedIn>
      <p class="crumbs">
        <a href="/dashboard">Dashboard</a> / project
      </p>
      <h1>{project.repository}</h1>
      {project.live ? (
        <p class="meta">
          Live commit <code title={project.live.commit}>{shortSha(project.live.commit)}</code>, from deployment{" "}
          <a href={`/deployments/${project.live.deploymentId}`}>
            <code>{project.live.deploymentId}</code>
          </a>
          {project.live.deployedAt ? (
            <>
              , live since <Time ms={project.live.deployedAt} />
            </>
          ) : null}
          .
        </p>
      ) : (
        <p class="meta">Nothing from this project is live.</p>
      )}
      {http.length > 0 ? (
        <section aria-labelledby="http-heading">
          <h2 id="http-heading">HTTP functions</h2>
          <Table columns={["Name", "URL", "Last hour", "Limits"]}>
            {http.map((fn) => (
              <tr>
                <th scope="row">
                  <a href={`${projectPath(project.repository)}/functions/${encodeURIComponent(fn.name)}`} title="Its output">
                    {fn.name}
                  </a>
                </th>
                <td>
                  <a class="url" href={fn.url}>
                    {fn.url}
                  </a>
                </td>
                <td>{fn.lastHour ? <LastHour stats={fn.lastHour} /> : null}</td>
                <td class="muted">{fn.limits}</td>
              </tr>
            ))}
          </Table>
        </section>
      ) : null}
      {cron.length > 0 ? (
        <section aria-labelledby="cron-heading">
          <h2 id="cron-heading">Cron functions</h2>
          <Table columns={["Name", "Schedule", "Next run", "Last run", <span class="sr-only">Actions</span>]}>
            {cron.map((fn) => (
              <tr>
                <th scope="row">{fn.name}</th>
                <td>
                  <code class="nowrap">{fn.schedule}</code> <span class="muted">{fn.timezone}</span>
                </td>
                <td class="nowrap">{fn.nextRun && fn.timezone ? <ZonedTime ms={fn.nextRun} zone={fn.timezone} /> : <span class="muted">not scheduled</span>}</td>
                <td>
                  {fn.lastRun ? (
                    <>
                      <Badge state={fn.lastRun.state} /> <Time ms={fn.lastRun.startedAt} />
                    </>
                  ) : (
                    <span class="muted">never</span>
                  )}
                </td>
                <td>
                  <a href={fn.runsUrl}>Runs</a>{" "}
                  <form method="post" action={`${projectPath(project.repository)}/functions/${encodeURIComponent(fn.name)}/run`} class="inline">
                    <button type="submit" class="small" aria-label={`Run ${fn.name} now`}>
                      Run now
                    </button>
                  </form>
                </td>
              </tr>
            ))}
          </Table>
        </section>
      ) : null}
      {children}
      <section aria-labelledby="deployments-heading">
        <h2 id="deployments-heading">Deployments</h2>
        {deployments.length === 0 ? (
          <p class="muted">None.</p>
        ) : (
          <DeploymentsTable deployments={deployments} showProject={false} caption={`Deployments of ${project.repository}`} rollbackTargets={rollbackTargets(project, deployments)} />
        )}
      </section>
    </Page>
  );
};

/**
 * A cron function's schedule and runs, newest first, each with its output
 * (the latest one open). Reloads itself while a run goes on.
 */
export const RunsPage: FC<{ view: RunsView; signedIn: boolean }> = ({ view, signedIn }) => {
  const running = view.runs.some((run) => run.state === "running");
  const preview = view.environment !== "production";
  const where = preview ? ` (${view.environment})` : "";
  return (
    <Page title={`${view.repository} · ${view.function}${where} runs`} signedIn={signedIn} refresh={running ? "always" : undefined}>
      <h1>
        {view.repository} · {view.function}
        {where}
      </h1>
      {view.schedule ? (
        <p>
          Cron <code>{view.schedule.schedule}</code> ({view.schedule.timezone}), timeout {view.schedule.timeoutSeconds} s; next run{" "}
          {view.schedule.nextRun ? <ZonedTime ms={Date.parse(view.schedule.nextRun)} zone={view.schedule.timezone} /> : "never"}.
        </p>
      ) : (
        <p>
          {!view.live ? (
            "No longer deployed: these are its past runs."
          ) : preview ? (
            <>
              A preview's cron functions do not run on their schedule; run it by hand with <code>{runByHandCommand(view.repository, view.function, view.environment)}</code>.
            </>
          ) : (
            "Live, but not scheduled (see the server log)."
          )}
        </p>
      )}
      <h2>Runs</h2>
      {view.runs.length === 0 ? (
        <p class="muted">No runs yet.</p>
      ) : (
        <Table columns={["Started", "Trigger", "State", "Duration", "Exit", "Run"]}>
          {view.runs.map((run) => (
            <>
              <tr>
                <td class="nowrap">
                  <Time ms={run.startedAt} />
                </td>
                <td>{run.trigger}</td>
                <td>
                  <Badge state={run.state} />
                  {run.error ? <div class="muted desc">{run.error}</div> : null}
                </td>
                <td class="nowrap">{duration(run.durationMs)}</td>
                <td>{run.exitCode ?? ""}</td>
                <td>
                  <code>{run.id}</code>
                </td>
              </tr>
              {run.state === "skipped" || (run.state === "running" && run.output === "") ? null : (
                <tr>
                  <td colspan={6}>
                    <details open={run === view.runs[0]}>
                      <summary>Output{run.outputTruncated ? " (its end only)" : ""}</summary>
                      <pre class="block">{run.output || "(no output)"}</pre>
                    </details>
                  </td>
                </tr>
              )}
            </>
          ))}
        </Table>
      )}
    </Page>
  );
};

/** A short page that says what went wrong (or right) and where to go next. */
export const MessagePage: FC<{ nonce: string; title: string; message: string; signedIn: boolean; back?: { href: string; label: string } }> = (props) => (
  <Page title={props.title} nonce={props.nonce} signedIn={props.signedIn}>
    <h1>{props.title}</h1>
    <p>{props.message}</p>
    {props.back ? (
      <p>
        <a href={props.back.href}>{props.back.label}</a>
      </p>
    ) : null}
  </Page>
);
