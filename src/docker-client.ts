import type Docker from "dockerode";
import { createRequire, Module } from "node:module";

// dockerode requires, when it loads, the code of two transports eserveless
// never uses: BuildKit sessions (lib/session.js: @grpc/grpc-js, protobufjs and
// @grpc/proto-loader, only for `buildImage` with `version: "2"`) and SSH
// (docker-modem's lib/ssh.js: ssh2, which also instantiates WebAssembly, only
// for DOCKER_HOST=ssh://…). Together 11–15 MB of the server's resident
// memory. Each is put in the CommonJS cache as a stand-in that loads the real
// module on its first call; dockerode calls both as plain functions.

/** The modules dockerode loads at require time that only some transports call: the file requiring them and the specifier it uses. */
const DEFERRED = [
  { from: "dockerode", specifier: "./session.js" },
  { from: "docker-modem", specifier: "./ssh.js" },
] as const;

type Deferred = (this: unknown, ...args: unknown[]) => unknown;

/** Caches a stand-in for `specifier`, as `parent` requires it, that loads the real module the first time it is called. */
function defer(require: NodeJS.Require, parent: string, specifier: string): void {
  let file: string;
  try {
    file = createRequire(parent).resolve(specifier);
  } catch (error) {
    // A later version without it: nothing to defer, dockerode works as it is.
    if ((error as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND") return;
    throw error;
  }
  // Already loaded (by a caller that required dockerode before): nothing to save.
  if (require.cache[file] !== undefined) return;
  let real: Deferred | undefined;
  const standIn = new Module(file);
  standIn.filename = file;
  standIn.loaded = true;
  standIn.exports = function deferred(this: unknown, ...args: unknown[]): unknown {
    if (real === undefined) {
      delete require.cache[file];
      real = require(file) as Deferred;
    }
    return real.apply(this, args);
  };
  require.cache[file] = standIn;
}

/**
 * A Docker Engine client configured as dockerode does by default (DOCKER_HOST,
 * DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), with its BuildKit-session and SSH code
 * loaded only if a call needs them.
 */
export function dockerClient(): Docker {
  const require = createRequire(import.meta.url);
  const dockerodeMain = require.resolve("dockerode");
  // docker-modem as dockerode resolves it: its own dependency, wherever npm put it.
  const modemMain = createRequire(dockerodeMain).resolve("docker-modem");
  const mains: Record<(typeof DEFERRED)[number]["from"], string> = { dockerode: dockerodeMain, "docker-modem": modemMain };
  for (const { from, specifier } of DEFERRED) defer(require, mains[from], specifier);
  const DockerClient = require("dockerode") as typeof Docker;
  return new DockerClient();
}
