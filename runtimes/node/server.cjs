"use strict";
// eserveless node runtime: serves one function of the project over HTTP, or
// runs one cron function once. The function is chosen when the container
// starts (ESERVELESS_FUNCTION), so one image serves every function.
const http = require("node:http");
const path = require("node:path");
const { pathToFileURL } = require("node:url");

const name = process.env.ESERVELESS_FUNCTION;
const type = process.env.ESERVELESS_FUNCTION_TYPE || "http";
const entry = path.resolve("/app", process.env.ESERVELESS_ENTRY || "functions.js");
const port = Number(process.env.PORT || 8080);
// The router sends this header to learn that the function answers HTTP; it
// strips the header from callers' requests, so it never reaches user code.
const PROBE_HEADER = "x-eserveless-probe";

function fail(message) {
  console.error(`eserveless: ${message}`);
  process.exit(1);
}

async function loadFunction() {
  let mod;
  try {
    mod = await import(pathToFileURL(entry).href);
  } catch (error) {
    fail(`cannot load ${path.relative("/app", entry)}: ${error && error.stack ? error.stack : error}`);
  }
  // A CommonJS module's module.exports arrives as the default export.
  const fromDefault = mod.default && typeof mod.default === "object" ? mod.default[name] : undefined;
  const fn = mod[name] ?? fromDefault;
  if (typeof fn !== "function") {
    const found = Object.keys(mod.default && typeof mod.default === "object" ? mod.default : mod).filter((k) => k !== "default");
    fail(`${path.relative("/app", entry)} does not export a function named "${name}" (it exports: ${found.join(", ") || "nothing"}). Export it, e.g. module.exports = { ${name} }.`);
  }
  return fn;
}

function metaEnvironment() {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => key.startsWith("ESERVELESS_")));
}

async function serve(handler) {
  const server = http.createServer((req, res) => {
    if (req.headers[PROBE_HEADER]) {
      res.writeHead(204).end();
      return;
    }
    Promise.resolve()
      .then(() => handler(req, res))
      .catch((error) => {
        console.error(error);
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end("Internal Server Error\n");
      });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(port, () => console.log(`eserveless: ${name} listening on ${port}`));
  const stop = () => {
    // Finish in-flight requests, then leave; the platform kills us if we hang.
    server.close(() => process.exit(0));
    server.closeIdleConnections();
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

async function runOnce(fn) {
  const started = Date.now();
  await fn(metaEnvironment());
  console.log(`eserveless: ${name} finished in ${Date.now() - started} ms`);
}

if (!name) fail("ESERVELESS_FUNCTION is not set");
loadFunction()
  .then((fn) => (type === "cron" ? runOnce(fn).then(() => process.exit(0)) : serve(fn)))
  .catch((error) => fail(error && error.stack ? error.stack : String(error)));
