import type { FC } from "hono/jsx";
import type { Environment } from "../../contract/project.js";
import { shortSha } from "../../format.js";
import { Table } from "./table.js";

/**
 * A project's environments: production and each open pull request's
 * preview, with the commit live there, the state of its latest deployment
 * and its functions' URLs.
 */
export const EnvironmentsSection: FC<{ environments: Environment[] }> = ({ environments }) => (
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
                    {fn.url ? <a href={fn.url}>{fn.url}</a> : <span>{fn.name} (cron{env.pullRequest === undefined ? "" : ", not scheduled in previews"})</span>}
                  </div>
                ))}
          </td>
        </tr>
      ))}
    </Table>
  </section>
);
