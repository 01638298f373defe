import { Hono } from "hono";
import { jsx } from "hono/jsx";
import { DeploymentWithLogSchema } from "../contract/deployment.js";
import { NotFoundError } from "../errors.js";
import { hasAdminToken, type TokenGuard } from "./bearer-auth.js";
import type { DeploymentStore } from "../store/deployment-store.js";
import { DeploymentPage } from "./dashboard/deployment-view.js";
import { newNonce, renderPage } from "./dashboard/layout.js";
import type { Sessions } from "./dashboard/session.js";
import { toWire } from "./to-wire.js";

/**
 * Follows a running deployment on its page: every second it asks
 * `/deployments/:id?after=<seq>` (JSON) for the lines after the last one
 * shown, appends them (as text, never HTML), and updates the state, the
 * description, the functions and the warnings, until the state is final and
 * no line came in since. Keeps the log scrolled to its end unless the reader
 * scrolled up. Pages carry it only while the deployment runs; without
 * scripting they reload every 2 s instead (a <noscript> meta refresh).
 */
export const FOLLOW_LOG_SCRIPT = `(() => {
  "use strict";
  const root = document.getElementById("deployment");
  if (!root || !root.dataset.follow) return;
  const $ = (id) => document.getElementById(id);
  const log = $("log"), state = $("state"), description = $("description"), status = $("follow-status");
  const functions = $("functions"), warnings = $("warnings");
  const finals = new Set(root.dataset.finalStates.split(" "));
  let after = Number(root.dataset.after) || 0;
  let delay = 1000;
  const el = (tag, props, ...children) => {
    const node = document.createElement(tag);
    Object.assign(node, props);
    node.append(...children);
    return node;
  };
  const show = (deployment) => {
    state.textContent = deployment.state;
    state.className = "badge badge-" + deployment.state;
    description.textContent = deployment.description || "";
    if (deployment.warnings.length > 0) {
      warnings.querySelector("ul").replaceChildren(...deployment.warnings.map((w) => el("li", {}, w)));
      warnings.hidden = false;
    }
    if (deployment.functions.length > 0) {
      functions.querySelector("tbody").replaceChildren(...deployment.functions.map((fn) => el("tr", {},
        el("th", { scope: "row" }, fn.name),
        el("td", {}, fn.type),
        el("td", {}, /^https?:\\/\\//.test(fn.url || "") ? el("a", { href: fn.url, className: "url" }, fn.url) : el("code", {}, fn.schedule || "")))));
      functions.hidden = false;
    }
  };
  const poll = async () => {
    try {
      const response = await fetch(root.dataset.follow + "?after=" + after, { headers: { accept: "application/json" }, cache: "no-store" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const body = await response.json();
      if (body.log.length > 0) {
        const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
        log.append(body.log.map((line) => line.line + "\\n").join(""));
        after = body.log[body.log.length - 1].seq;
        if (atEnd) log.scrollTop = log.scrollHeight;
      }
      show(body.deployment);
      delay = 1000;
      if (finals.has(body.deployment.state) && body.log.length === 0) {
        status.textContent = "";
        return;
      }
      status.textContent = "following live";
    } catch {
      delay = Math.min(delay * 2, 15000);
      status.textContent = "lost contact with the server; retrying";
    }
    setTimeout(poll, delay);
  };
  log.scrollTop = log.scrollHeight;
  status.textContent = "following live";
  setTimeout(poll, delay);
})();`;

/**
 * `GET /deployments/:id`: one deployment and its log, HTML for browsers and
 * JSON for `Accept: application/json` (with `?after=<seq>` for new lines only).
 * It is what commit statuses link to, so anyone with the link reads the state,
 * the reason and eserveless's own lines. The build's and the containers'
 * output may hold secrets (a function printing its environment): only a
 * dashboard session or the admin token sees those lines, as with cron output.
 */
export function deploymentRoutes(options: { store: DeploymentStore; sessions?: Sessions; adminToken: string | undefined; tokenGuard?: TokenGuard }) {
  return new Hono().get("/deployments/:id", async (c) => {
    const deployment = options.store.getDeployment(c.req.param("id"));
    if (!deployment) throw new NotFoundError(`No deployment ${c.req.param("id")}`, { code: "deployment_not_found" });
    const viewer = hasAdminToken(c, options.adminToken, options.tokenGuard) ? "token" : (await options.sessions?.current(c)) ? "session" : "anonymous";
    const wantsJson = (c.req.header("accept") ?? "").includes("application/json") || c.req.query("format") === "json";
    // ?after=<seq> returns only newer lines, so a client can follow the log.
    const lines = options.store.deploymentLog(deployment.id, wantsJson ? Number(c.req.query("after") ?? 0) || 0 : 0);
    const log = viewer === "anonymous" ? lines.filter((line) => !line.private) : lines;
    const hiddenLines = lines.length - log.length;
    if (wantsJson) {
      c.header("Cache-Control", "no-store");
      // Parsed, not only typed: the store's rows are not typed by the contract (a function's type is a string there).
      return c.json(toWire(DeploymentWithLogSchema, { deployment, log, hiddenLines }));
    }
    const nonce = newNonce();
    const signedIn = viewer === "session";
    return renderPage(c, nonce, jsx(DeploymentPage, { deployment, log, hiddenLines, nonce, signedIn, script: FOLLOW_LOG_SCRIPT }));
  });
}
