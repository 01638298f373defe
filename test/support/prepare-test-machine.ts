import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const IMAGE_VARIABLES = ["ESERVELESS_NODE_IMAGE", "ESERVELESS_GO_IMAGE"] as const;

/** Runs a script of scripts/ with its progress on stderr; its exit code, and stdout when asked. */
function script(name: string, args: string[] = [], capture = false): { ok: boolean; stdout: string } {
  const result = spawnSync("bash", [`scripts/${name}`, ...args], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", capture ? "pipe" : "inherit", "inherit"] });
  return { ok: result.status === 0, stdout: result.stdout ?? "" };
}

/**
 * What `npm test` needs on a fresh machine with a Docker engine: the base
 * image stand-ins (scripts/build-base-images.sh, which reuses up-to-date ones
 * in well under a second) and Chromium (scripts/install-chromium.sh, which
 * finds it or installs Debian's). Returns the image variables `env` lacks,
 * from `build-base-images.sh --print-env`; what `env` sets is kept. A step
 * that fails is reported and left to the tests that need it, so the tests
 * that need no engine still run.
 */
export function prepareTestMachine(env: Record<string, string | undefined>, warn: (text: string) => void = console.warn): Record<string, string> {
  const missing = IMAGE_VARIABLES.filter((name) => !env[name]);
  const images = missing.length === IMAGE_VARIABLES.length || env.ESERVELESS_NODE_IMAGE?.startsWith("eserveless-local/");
  if (images && !script("build-base-images.sh").ok) {
    warn("test setup: the base image stand-ins could not be made (see above); tests that build images will fail. Start Docker with `bash scripts/start-docker.sh`.");
  }
  if (!script("install-chromium.sh").ok) {
    warn("test setup: Chromium is missing (see above); the dashboard's browser test will fail. Run `bash scripts/install-chromium.sh` as root.");
  }
  const found: Record<string, string> = {};
  if (missing.length === 0) return found;
  for (const line of script("build-base-images.sh", ["--print-env"], true).stdout.split("\n")) {
    const [name, value] = line.split("=", 2);
    if (value && (missing as readonly string[]).includes(name!)) found[name!] = value;
  }
  return found;
}

/** vitest's globalSetup: prepares the machine once per run and exports the image variables to the test workers. */
export default function setup(): void {
  Object.assign(process.env, prepareTestMachine(process.env));
}
