import { Hono } from "hono";
import { html, raw } from "hono/html";
import { NotFoundError } from "../errors.js";
import type { Deployment, LogLine, Store } from "../store/store.js";
import { finalStates } from "../store/store.js";

const stateColor: Record<string, string> = {
  success: "#1a7f37",
  failure: "#cf222e",
  error: "#cf222e",
  superseded: "#6e7781",
  skipped: "#6e7781",
};

function deploymentPage(deployment: Deployment, log: LogLine[]) {
  const running = !finalStates.has(deployment.state);
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${running ? raw('<meta http-equiv="refresh" content="2">') : ""}
<title>${deployment.repository} · ${deployment.commit.slice(0, 7)} · eserveless</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #1f2328; }
.state { font-weight: 600; color: ${stateColor[deployment.state] ?? "#9a6700"}; }
pre { background: #f6f8fa; padding: 1rem; overflow-x: auto; font-size: 13px; border-radius: 6px; }
dt { font-weight: 600; } dd { margin: 0 0 .5rem 0; }
</style>
</head>
<body>
<h1>${deployment.repository}</h1>
<p>Deployment <code>${deployment.id}</code> of <code>${deployment.commit.slice(0, 7)}</code> (${deployment.trigger}): <span class="state">${deployment.state}</span></p>
${deployment.description ? html`<p>${deployment.description}</p>` : ""}
${deployment.functions.length > 0
  ? html`<h2>Functions</h2><dl>${deployment.functions.map((fn) => html`<dt>${fn.name} (${fn.type})</dt><dd>${fn.url ? html`<a href="${fn.url}">${fn.url}</a>` : fn.schedule}</dd>`)}</dl>`
  : ""}
${deployment.warnings.length > 0 ? html`<h2>Warnings</h2><ul>${deployment.warnings.map((w) => html`<li>${w}</li>`)}</ul>` : ""}
<h2>Log</h2>
<pre>${log.map((line) => `${line.line}\n`).join("")}</pre>
</body>
</html>`;
}

/**
 * `GET /deployments/:id`: one deployment and its log, HTML for browsers and
 * JSON for `Accept: application/json` (with `?after=<seq>` for new lines only).
 * It is what commit statuses link to, so it shows no secrets.
 */
export function deploymentRoutes(options: { store: Store }) {
  return new Hono().get("/deployments/:id", (c) => {
    const deployment = options.store.getDeployment(c.req.param("id"));
    if (!deployment) throw new NotFoundError(`No deployment ${c.req.param("id")}`, { code: "deployment_not_found" });
    const wantsJson = (c.req.header("accept") ?? "").includes("application/json") || c.req.query("format") === "json";
    // ?after=<seq> returns only newer lines, so a client can follow the log.
    const log = options.store.deploymentLog(deployment.id, wantsJson ? Number(c.req.query("after") ?? 0) || 0 : 0);
    if (wantsJson) return c.json({ deployment, log });
    return c.html(deploymentPage(deployment, log));
  });
}
