import type { FC } from "hono/jsx";
import { finalStates, type Deployment, type LogLine } from "../../store/deployment-store.js";
import { duration, shortSha, when } from "../../format.js";
import { projectPath, shortRef } from "./format.js";
import { Page } from "./layout.js";
import { Table } from "./table.js";

const FunctionRows: FC<{ functions: Deployment["functions"] }> = ({ functions }) => (
  <>
    {functions.map((fn) => (
      <tr>
        <th scope="row">{fn.name}</th>
        <td>{fn.type}</td>
        <td>{fn.url ? <a class="url" href={fn.url}>{fn.url}</a> : <code>{fn.schedule ?? ""}</code>}</td>
      </tr>
    ))}
  </>
);

/**
 * One deployment with its log: the page commit statuses link to, so it is
 * public and shows what the commit status already tells (state, reason,
 * functions, their URLs) plus eserveless's own log lines. `log` holds the
 * build's and the containers' output only for a signed-in viewer; for
 * others, `hiddenLines` says how many lines were left out, with a link to
 * sign in. While the deployment runs, `script` follows the log live; without
 * scripting the page reloads itself.
 */
export const DeploymentPage: FC<{ deployment: Deployment; log: LogLine[]; hiddenLines: number; nonce: string; signedIn: boolean; script: string }> = ({
  deployment,
  log,
  hiddenLines,
  nonce,
  signedIn,
  script,
}) => {
  const running = !finalStates.has(deployment.state);
  const took = deployment.finishedAt !== null && deployment.startedAt !== null ? duration(deployment.finishedAt - deployment.startedAt) : "";
  return (
    <Page title={`${deployment.repository} · ${shortSha(deployment.commit)}`} nonce={nonce} signedIn={signedIn} refresh={running ? "without-script" : undefined} script={running ? script : undefined}>
      <div
        id="deployment"
        data-follow={running ? `/deployments/${deployment.id}` : undefined}
        data-after={String(log.at(-1)?.seq ?? 0)}
        data-final-states={[...finalStates].join(" ")}
      >
        {signedIn ? (
          <p class="crumbs">
            <a href="/dashboard">Dashboard</a> / <a href={projectPath(deployment.repository)}>{deployment.repository}</a> / deployment
          </p>
        ) : null}
        <h1>
          {deployment.repository} <span class="muted mono">@{shortSha(deployment.commit)}</span>
        </h1>
        <p class="meta">
          Deployment <code>{deployment.id}</code> of commit <code title={deployment.commit}>{shortSha(deployment.commit)}</code>
          {deployment.ref ? <> on {shortRef(deployment.ref)}</> : null} · {deployment.trigger} · created {when(deployment.createdAt)}
          {took ? <> · took {took}</> : null}
        </p>
        <p class="status" role="status" aria-live="polite" aria-atomic="true">
          <span class="muted">State</span>
          <span id="state" class={`badge badge-${deployment.state}`}>
            {deployment.state}
          </span>
          <span id="description">{deployment.description ?? ""}</span>
        </p>
        <section id="functions" aria-labelledby="functions-heading" hidden={deployment.functions.length === 0}>
          <h2 id="functions-heading">Functions</h2>
          <Table columns={["Name", "Type", "URL or schedule"]}>
            <FunctionRows functions={deployment.functions} />
          </Table>
        </section>
        <section id="warnings" aria-labelledby="warnings-heading" hidden={deployment.warnings.length === 0}>
          <h2 id="warnings-heading">Warnings</h2>
          <ul>
            {deployment.warnings.map((warning) => (
              <li>{warning}</li>
            ))}
          </ul>
        </section>
        <section aria-labelledby="log-heading">
          <div class="log-head">
            <h2 id="log-heading">Log</h2>
            <span id="follow-status" class="muted">
              {running ? "refreshing while it runs" : ""}
            </span>
          </div>
          <pre id="log" class="log" tabindex={0} aria-labelledby="log-heading">{log.map((line) => `${line.line}\n`).join("")}</pre>
          {hiddenLines > 0 ? (
            <p id="hidden-output" class="muted">
              {hiddenLines === 1 ? "1 line" : `${hiddenLines} lines`} of build and function output {hiddenLines === 1 ? "is" : "are"} left out: what the
              project's code prints may hold secrets. <a href={`/login?next=${encodeURIComponent(`/deployments/${deployment.id}`)}`}>Sign in</a> to read
              {hiddenLines === 1 ? " it" : " them"}.
            </p>
          ) : null}
        </section>
      </div>
    </Page>
  );
};
