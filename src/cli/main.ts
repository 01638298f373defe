#!/usr/bin/env node
// The CLI's composition root: the one place that reads the process's
// environment, arguments and terminal, and sets its exit code.
import { runCli } from "./cli.js";
import { ask } from "./ask.js";
import { readSecret } from "./read-secret.js";

// Ctrl-C stops following a deployment (which goes on on the server); a second one kills at once.
const interrupt = new AbortController();
process.once("SIGINT", () => interrupt.abort());
// `eserveless ls | head` closes stdout early: that is not an error.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error;
});

process.exitCode = await runCli({
  argv: process.argv.slice(2),
  env: { url: process.env.ESERVELESS_URL, token: process.env.ESERVELESS_ADMIN_TOKEN, configHome: process.env.XDG_CONFIG_HOME, home: process.env.HOME },
  readSecret: (prompt, options) => readSecret(process.stdin, process.stderr, prompt, options),
  ask: (prompt) => ask(process.stdin, process.stderr, prompt),
  stdout: process.stdout,
  stderr: process.stderr,
  tty: process.stderr.isTTY === true && process.env.TERM !== "dumb",
  cwd: process.cwd(),
  signal: interrupt.signal,
});
