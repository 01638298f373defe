import type { FC } from "hono/jsx";
import type { SecretInfo } from "../../contract/secret.js";
import { when } from "../../format.js";
import { projectPath } from "./format.js";
import { Table } from "./table.js";

/**
 * A project's Secrets: names, environment, last change and the live
 * functions that declare each, a form to set one and a button to delete one.
 * No value is ever on the page; the value field is never filled back.
 */
export const SecretsSection: FC<{ repository: string; secrets: SecretInfo[] }> = ({ repository, secrets }) => {
  const base = `${projectPath(repository)}/secrets`;
  return (
    <section aria-labelledby="secrets-heading">
      <h2 id="secrets-heading">Secrets</h2>
      <p class="muted">
        A function gets the secrets it lists under <code>secrets:</code> in <code>.eserveless.yaml</code>, as environment variables. Values are stored
        encrypted and never shown again; setting one rolls the live functions that declare it.
      </p>
      {secrets.length === 0 ? (
        <p class="muted">None set.</p>
      ) : (
        <Table columns={["Name", "Environment", "Changed", "Used by", <span class="sr-only">Actions</span>]}>
          {secrets.map((secret) => (
            <tr>
              <th scope="row">
                <code>{secret.name}</code>
              </th>
              <td>{secret.environment}</td>
              <td class="nowrap">
                <time datetime={new Date(secret.updatedAt).toISOString()}>{when(secret.updatedAt)}</time>
              </td>
              <td>{secret.functions.length ? secret.functions.join(", ") : <span class="muted">no live function</span>}</td>
              <td>
                <form method="post" action={`${base}/${encodeURIComponent(secret.name)}/delete`} class="inline">
                  <input type="hidden" name="environment" value={secret.environment} />
                  {secret.functions.length ? (
                    <label class="small">
                      <input type="checkbox" name="force" value="1" /> even though in use
                    </label>
                  ) : null}{" "}
                  <button type="submit" class="small" aria-label={`Delete ${secret.name} (${secret.environment})`}>
                    Delete
                  </button>
                </form>
              </td>
            </tr>
          ))}
        </Table>
      )}
      <form method="post" action={base} class="secret-form" autocomplete="off">
        <label>
          Name <input name="name" required pattern="[A-Z_][A-Z0-9_]{0,63}" placeholder="STRIPE_KEY" autocomplete="off" spellcheck={false} />
        </label>{" "}
        <label>
          Value <textarea name="value" required rows={1} autocomplete="off" spellcheck={false} />
        </label>{" "}
        <label>
          Environment{" "}
          <select name="environment">
            <option value="production">production</option>
            <option value="preview">preview</option>
          </select>
        </label>{" "}
        <button type="submit">Set secret</button>
      </form>
    </section>
  );
};
