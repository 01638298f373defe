import type { FC } from "hono/jsx";
import type { Environment } from "../../contract/project.js";
import { shortSha } from "../../format.js";
import { cronRunsUrl } from "../../urls.js";
import { projectPath } from "./format.js";
import { Table } from "./table.js";

/**
 * A project's environments: production and each open pull request's
 * preview, with the commit live there, the state of its latest deployment
 * and its functions' URLs. A preview's cron functions, never scheduled, have
 * their runs and a button that runs them by hand.
 */
export const EnvironmentsSection: FC<{ repository: string; environments: Environment[] }> = ({ repository, environments }) => (
  <section aria-labelledby="environments-heading">
    <h2 id="environments-heading">Environments</h2>
    <Table columns={["Environment", "Commit", "State", "Functions"]}>
      {environments.map((env) => (
        <tr>
          <th scope="row">{env.pullRequest === undefined ? env.name : `${env.name} (pull request #${env.pullRequest})`}</th>
          <td>{env.commit ? <code title={env.commit}>{shortSha(env.commit)}</code> : "-"}</td>
          <td>{env.deployment ? <a href={`/deployments/${env.deployment}`}>{env.state ?? "-"}</a> : "-"}</td>
          <td>
            {env.functions.length === 0
              ? "nothing live"
              : env.functions.map((fn) => (
                  <div>
                    {fn.url ? (
                      <a href={fn.url}>{fn.url}</a>
                    ) : env.pullRequest === undefined ? (
                      <span>{fn.name} (cron)</span>
                    ) : (
                      <>
                        <span>{fn.name} (cron, not scheduled in previews)</span> <a href={cronRunsUrl("", repository, encodeURIComponent(fn.name), env.name)}>Runs</a>{" "}
                        <form method="post" action={`${projectPath(repository)}/functions/${encodeURIComponent(fn.name)}/run?environment=${env.name}`} class="inline">
                          <button type="submit" class="small" aria-label={`Run ${fn.name} of ${env.name} now`}>
                            Run now
                          </button>
                        </form>
                      </>
                    )}
                  </div>
                ))}
          </td>
        </tr>
      ))}
    </Table>
  </section>
);
