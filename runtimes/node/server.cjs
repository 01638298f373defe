"use strict";
// eserveless node runtime: serves one function of the project over HTTP, or
// runs one cron function once. The function is chosen when the container
// starts (ESERVELESS_FUNCTION), so one image serves every function.
// ESERVELESS_FUNCTION_TYPE=cron-check does what a cron run does up to the
// call (load the module, find the export, check that it is a function) and
// exits 0 silently, or 1 with the reason: the deployment's check, before a
// push goes live.
//
// An http function is either a Node handler, (req, res), or Fetch-style,
// (request) => Response (a Hono app's fetch, `export default { fetch }`).
// ESERVELESS_HANDLER, from `handler:` in .eserveless.yaml, says which:
// `node`, `fetch`, or `auto` (the default), which tells by the export when the
// module loads: an object with a fetch method and a function declaring one
// parameter are Fetch-style, a function declaring two or more is (req, res),
// and a function declaring none (or only a rest parameter) cannot be told, so
// the container exits with the fix and the deployment fails.
//
// On a swarm, a function's secrets are Docker secrets, files in /run/secrets
// (never in the service spec): they are exported into the environment here,
// before anything else reads it or the user's code loads.
const fs = require("node:fs");
const { spawnSync } = require("node:child_process");
const http = require("node:http");
const path = require("node:path");
const { Readable } = require("node:stream");
const { pipeline } = require("node:stream/promises");
const { pathToFileURL } = require("node:url");

/** Each file of `dir` as a variable of the same name, its content as read; names that are not variable names are refused. Nothing when `dir` does not exist. */
function exportSecretFiles(dir) {
  let names;
  try {
    names = fs.readdirSync(dir);
  } catch (error) {
    if (error.code === "ENOENT") return;
    throw error;
  }
  for (const file of names.sort()) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(file)) {
      console.error(`eserveless: ${dir}/${file} is not exported: its name is not an environment variable name`);
      continue;
    }
    const full = path.join(dir, file);
    if (!fs.statSync(full).isFile()) continue;
    process.env[file] = fs.readFileSync(full, "utf8");
  }
}
exportSecretFiles("/run/secrets");

const name = process.env.ESERVELESS_FUNCTION;
const type = process.env.ESERVELESS_FUNCTION_TYPE || "http";
const handlerKind = (process.env.ESERVELESS_HANDLER || "auto").toLowerCase();
const entry = path.resolve("/app", process.env.ESERVELESS_ENTRY || "functions.js");
const entryName = path.relative("/app", entry);
const port = Number(process.env.PORT || 8080);
// Set by eserveless: a Unix socket in a folder mounted into this container
// alone, where the router connects (no published port). Unset: PORT.
const socketPath = process.env.ESERVELESS_SOCKET || undefined;
// The router sends this header to learn that the function answers HTTP; it
// strips the header from callers' requests, so it never reaches user code.
const PROBE_HEADER = "x-eserveless-probe";
// How long in-flight requests may take after SIGTERM.
const SHUTDOWN_GRACE_MS = 25_000;

function fail(message, code = 1) {
  console.error(`eserveless: ${message}`);
  process.exit(code);
}

const describe = (error) => (error && error.stack ? error.stack : String(error));
const isObject = (value) => (typeof value === "object" || typeof value === "function") && value !== null;
const hasFetch = (value) => isObject(value) && typeof value.fetch === "function";

/** A path of the project as its author knows it: relative to /app. */
const projectPath = (file) => path.relative("/app", file.replace(/^file:\/\//, ""));

/**
 * Where a SyntaxError is, from Node's banner ("<file>:<line>", the source
 * line, a caret line under the offending part), which CommonJS stacks and
 * `node --check` print; undefined when `lines` do not open with one.
 */
function bannerLocation(lines) {
  const head = /^((?:file:\/\/)?\/\S*?):(\d+)$/.exec(lines[0] || "");
  const caret = lines[2] || "";
  if (!head || !caret.includes("^")) return undefined;
  return { file: projectPath(head[1]), line: Number(head[2]), column: caret.indexOf("^") + 1, source: [lines[1], caret] };
}

/**
 * Where a module failed to load: a syntax error's file, line and column (an
 * ES module's SyntaxError carries none, so the entry is checked with `node
 * --check`, which parses it without running it), or the first stack frame in
 * the project's own files.
 */
function loadLocation(error) {
  const stack = typeof error?.stack === "string" ? error.stack.split("\n") : [];
  const banner = bannerLocation(stack);
  if (banner) return banner;
  if (error instanceof SyntaxError) {
    const check = spawnSync(process.execPath, ["--check", entry], { encoding: "utf8", timeout: 10_000 });
    const checked = bannerLocation(String(check.stderr || "").split("\n"));
    // The stack lacks the banner: print it.
    if (checked) return { ...checked, print: true };
  }
  for (const frame of stack) {
    const at = /\(?((?:file:\/\/)?\/app\/[^():]+):(\d+):(\d+)\)?$/.exec(frame);
    if (at && !at[1].includes("/node_modules/")) return { file: projectPath(at[1]), line: Number(at[2]), column: Number(at[3]) };
  }
  return undefined;
}

/**
 * Exits for a module that cannot load. The detail (the offending source
 * line, the stack) goes first; the last line is the reason in one line, the
 * error and the user's file:line:column, which the deployment reports.
 */
function failToLoad(error) {
  const headline = error instanceof Error ? `${error.name}: ${error.message.split("\n")[0]}` : String(error);
  const where = loadLocation(error);
  if (where && where.print) console.error(`${where.file}:${where.line}\n${where.source.join("\n")}`);
  console.error(describe(error));
  fail(`cannot load ${entryName}: ${headline}${where ? ` (${where.file}:${where.line}:${where.column})` : ""}`);
}

/** The export named `name`; a module without one may serve its default export. */
async function loadExport(exportName = name) {
  let mod;
  try {
    mod = await import(pathToFileURL(entry).href);
  } catch (error) {
    failToLoad(error);
  }
  // A CommonJS module's module.exports arrives as the default export.
  const exports = isObject(mod.default) ? mod.default : undefined;
  if (mod[exportName] !== undefined) return mod[exportName];
  if (exports && Object.prototype.hasOwnProperty.call(exports, exportName)) return exports[exportName];
  // A module that is one function or one app (`export default { fetch }`,
  // `module.exports = app`) serves it under any name.
  if (typeof mod.default === "function" || hasFetch(mod.default)) {
    if (type !== "cron-check" && exportName === name) console.log(`eserveless: ${entryName} has no export named ${name}; using its default export`);
    return mod.default;
  }
  const found = Object.keys(exports && typeof exports !== "function" ? exports : mod).filter((key) => key !== "default" && key !== "module.exports");
  fail(
    `${entryName} does not export ${exportName} (it exports: ${found.join(", ") || "nothing"}). ` +
      `Export it, e.g. module.exports = { ${exportName} } or export function ${exportName}(…).`,
  );
}

function metaEnvironment() {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => key.startsWith("ESERVELESS_")));
}

/** Promises that ctx.waitUntil() was given; SIGTERM waits for them. */
const pending = new Set();
const executionContext = {
  waitUntil(promise) {
    const tracked = Promise.resolve(promise)
      .catch((error) => console.error(`eserveless: a waitUntil() promise of ${name} failed:`, error))
      .finally(() => pending.delete(tracked));
    pending.add(tracked);
  },
  passThroughOnException() {},
};

/** The answer to a call that failed in user code: JSON, as every eserveless error; the error itself goes to the function's output only. */
const FAILED_BODY = JSON.stringify({
  error: { code: "function_failed", message: `${name} failed while handling the request; its output (eserveless logs <owner>/<repo>/${name}) says why` },
});

function internalError(res, error) {
  console.error(`eserveless: ${name} failed:`, error);
  if (!res.headersSent) {
    res.writeHead(500, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(FAILED_BODY) });
    res.end(FAILED_BODY);
  } else {
    res.destroy(error instanceof Error ? error : new Error(String(error)));
  }
}

function nodeHandler(fn) {
  return (req, res) =>
    Promise.resolve()
      .then(() => fn(req, res))
      .then(async (result) => {
        // A handler that returns a Response instead of writing one is served as one.
        if (isResponse(result) && !res.headersSent) await sendResponse(req, res, result);
      })
      .catch((error) => internalError(res, error));
}

/** A Fetch Request for a Node request; its signal aborts when the caller goes away. */
function toRequest(req, res) {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const key = req.rawHeaders[i];
    // HTTP/2 pseudo-headers and connection-level headers have no place in a Request.
    if (key.startsWith(":")) continue;
    headers.append(key, req.rawHeaders[i + 1]);
  }
  const controller = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) controller.abort();
  });
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  const url = new URL(req.url, `http://${req.headers.host || "localhost"}`);
  return new Request(url, {
    method: req.method,
    headers,
    signal: controller.signal,
    // The body streams in: the handler reads it as it arrives.
    ...(hasBody ? { body: Readable.toWeb(req), duplex: "half" } : {}),
  });
}

const isResponse = (value) =>
  value instanceof Response ||
  (isObject(value) && typeof value.status === "number" && isObject(value.headers) && typeof value.headers.get === "function");

/** Writes a Fetch Response to a Node response, streaming its body out. */
async function sendResponse(req, res, response) {
  const headers = {};
  const cookies = typeof response.headers.getSetCookie === "function" ? response.headers.getSetCookie() : [];
  response.headers.forEach((value, key) => {
    if (key !== "set-cookie") headers[key] = value;
  });
  if (cookies.length > 0) headers["set-cookie"] = cookies;
  if (response.statusText) res.writeHead(response.status, response.statusText, headers);
  else res.writeHead(response.status, headers);
  if (!response.body || req.method === "HEAD") {
    if (response.body) await response.body.cancel().catch(() => {});
    res.end();
    return;
  }
  try {
    await pipeline(Readable.fromWeb(response.body), res);
  } catch (error) {
    // The caller went away: not the function's failure.
    if (error && error.code === "ERR_STREAM_PREMATURE_CLOSE") return;
    throw error;
  }
}

function fetchHandler(call) {
  const env = metaEnvironment();
  return (req, res) =>
    Promise.resolve()
      .then(async () => {
        const response = await call(toRequest(req, res), env, executionContext);
        if (!isResponse(response)) {
          const got = response === undefined ? "undefined" : isObject(response) ? `an object (${Object.keys(response).join(", ")})` : typeof response;
          throw new TypeError(`${name} must return a Response (or a promise of one), but returned ${got}`);
        }
        await sendResponse(req, res, response);
      })
      .catch((error) => internalError(res, error));
}

/** The request listener for an export, per ESERVELESS_HANDLER. */
function httpHandler(value) {
  if (!["auto", "node", "fetch"].includes(handlerKind)) {
    fail(`ESERVELESS_HANDLER is "${handlerKind}"; it must be auto, node or fetch`);
  }
  if (hasFetch(value) && typeof value !== "function" && handlerKind !== "node") {
    return fetchHandler((request, env, ctx) => value.fetch(request, env, ctx));
  }
  if (typeof value === "function") {
    if (handlerKind === "fetch") return fetchHandler(value);
    if (handlerKind === "node") return nodeHandler(value);
    // auto: by the parameters it declares (defaulted and rest parameters do not count).
    if (value.length === 1) return fetchHandler(value);
    if (value.length >= 2) return nodeHandler(value);
    fail(`${name} declares no parameters, so its style is unknown: add \`handler: fetch\` for (request) => Response, or \`handler: node\`, in .eserveless.yaml`);
  }
  if (hasFetch(value)) {
    fail(`${name} is an object with a fetch method, which \`handler: node\` cannot serve: remove handler from .eserveless.yaml or set it to fetch`);
  }
  fail(
    `${name} is ${value === null ? "null" : `a ${typeof value}`}, not a function: an http function is a Node handler (req, res) => …, ` +
      `or Fetch-style: (request) => Response with \`handler: fetch\`, or an object with a fetch method such as a Hono app`,
  );
}

function serve(listener) {
  const server = http.createServer((req, res) => {
    if (req.headers[PROBE_HEADER]) {
      res.writeHead(204).end();
      return;
    }
    listener(req, res);
  });
  server.keepAliveTimeout = 65_000;
  const where = socketPath === undefined ? String(port) : socketPath;
  server.on("error", (error) => fail(`cannot listen on ${where}: ${error.message}`));
  const listening = () => console.log(`eserveless: ${name} listening on ${where}`);
  if (socketPath === undefined) {
    server.listen(port, listening);
  } else {
    // The router runs as another user than this container's and needs write access to connect. The
    // socket is made so at once (bind is synchronous here): a chmod after it could come too late, as
    // the router takes the folder from this container as soon as the socket appears.
    const umask = process.umask(0);
    server.listen(socketPath, listening);
    process.umask(umask);
  }
  let stopping = false;
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    console.log(`eserveless: ${signal}: finishing in-flight requests`);
    // Finish in-flight requests (and waitUntil work), then leave.
    const timer = setTimeout(() => fail(`requests still running after ${SHUTDOWN_GRACE_MS / 1000} s`), SHUTDOWN_GRACE_MS);
    timer.unref();
    server.close(() => Promise.allSettled([...pending]).then(() => process.exit(0)));
    // Keep-alive connections become idle as their requests finish; close them then (as Go's Shutdown does).
    server.closeIdleConnections();
    setInterval(() => server.closeIdleConnections(), 50).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

/** Exits with the reason when the export cannot be called as a cron function. */
function checkCron(fn, fnName = name) {
  if (typeof fn !== "function") {
    fail(`${fnName} is ${fn === null ? "null" : `a ${typeof fn}`}, not a function: a cron function is called with an object of its ESERVELESS_* variables`);
  }
}

async function runOnce(fn) {
  checkCron(fn);
  const started = Date.now();
  try {
    await fn(metaEnvironment());
  } catch (error) {
    fail(`${name} failed after ${Date.now() - started} ms: ${describe(error)}`);
  }
  await Promise.allSettled([...pending]);
  console.log(`eserveless: ${name} finished in ${Date.now() - started} ms`);
}

if (!name) fail("ESERVELESS_FUNCTION is not set");
if (type !== "http" && type !== "cron" && type !== "cron-check") fail(`ESERVELESS_FUNCTION_TYPE is "${type}"; it must be http, cron or cron-check`);
// An http container of a deployment also checks its cron functions (names in
// ESERVELESS_CHECK_CRON), sparing the deployment a container per check.
const cronChecks = (process.env.ESERVELESS_CHECK_CRON || "").split(",").filter(Boolean);

loadExport()
  .then(async (value) => {
    if (type === "http") {
      for (const cronName of cronChecks) checkCron(await loadExport(cronName), cronName);
      return serve(httpHandler(value));
    }
    if (type === "cron") return runOnce(value).then(() => process.exit(0));
    // cron-check: what a cron run does before calling the function (load, find, check), and no call.
    checkCron(value);
    process.exit(0);
  })
  .catch((error) => fail(describe(error)));
