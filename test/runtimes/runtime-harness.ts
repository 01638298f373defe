import Docker from "dockerode";
import { randomBytes } from "node:crypto";
import { containerLogs } from "../../src/run/container-logs.js";
import { PROBE_HEADER } from "../../src/run/readiness.js";
import { CONTAINER_PORT, sandboxedContainer } from "../../src/run/sandbox.js";
import type { Deployment } from "../../src/store/deployment-store.js";
import { readFixture } from "../support/fixtures.js";
import { startGitHubEmulator, type GitHubEmulator } from "../support/github-emulator.js";
import { startEserveless, type TestEserveless } from "../support/start-eserveless.js";

export const OWNER = "octo-org";

type Files = Record<string, { content: Buffer; mode: number } | string>;

/** A fixture's files with some replaced: `{ "functions.go": [/"v1"/, '"v2"'] }` edits, a string replaces. */
export function fixture(name: string, edits: Record<string, [RegExp | string, string] | string> = {}): Files {
  const files: Files = readFixture(name);
  for (const [path, edit] of Object.entries(edits)) {
    if (typeof edit === "string") {
      files[path] = edit;
      continue;
    }
    const file = files[path];
    if (file === undefined || typeof file === "string") throw new Error(`${name} has no file ${path} to edit`);
    const text = file.content.toString("utf8");
    const edited = text.replace(edit[0], edit[1]);
    if (edited === text) throw new Error(`${edit[0]} matches nothing in ${name}/${path}`);
    files[path] = { content: Buffer.from(edited), mode: file.mode };
  }
  return files;
}

export interface Deployed {
  deployment: Deployment;
  state: string;
  description: string;
  log: string[];
  /** The image tag, once built. */
  image: string;
  /** Seconds the image build took, from the deployment log. */
  buildSeconds: number | undefined;
}

/** A whole eserveless with the GitHub emulator, and helpers to deploy fixtures and run their images. */
export async function startRuntimeHarness() {
  const emulator: GitHubEmulator = await startGitHubEmulator();
  const server: TestEserveless = await startEserveless({ emulator });
  const docker = new Docker();
  const repositories = new Set<string>();
  const containers = new Set<Docker.Container>();

  /** Pushes `files` to OWNER/`repo` and waits until the deployment settles. */
  async function deploy(repo: string, files: Files, timeoutMs = 150_000): Promise<Deployed> {
    if (!repositories.has(repo)) {
      emulator.addRepository({ owner: OWNER, name: repo });
      repositories.add(repo);
    }
    const sha = emulator.commit(OWNER, repo, { files });
    const response = await server.deliver("push", emulator.pushPayload(OWNER, repo, { after: sha }));
    if (response.status !== 202) throw new Error(`push answered ${response.status}: ${await response.text()}`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const main = emulator.statuses(OWNER, repo, sha).filter((s) => s.context === "eserveless");
      if (main.length > 0 && main.at(-1)!.state !== "pending") break;
      if (Date.now() > deadline) throw new Error(`${repo}@${sha.slice(0, 7)} did not settle within ${timeoutMs / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await server.deployer.idle();
    const deployment = server.store.listDeployments(`${OWNER}/${repo}`).find((d) => d.commit === sha)!;
    const log = server.store.deploymentLog(deployment.id).map((l) => l.line);
    const built = log.map((line) => /^Image built in (\d+(?:\.\d+)?) s/.exec(line)?.[1]).find(Boolean);
    return {
      deployment,
      state: deployment.state,
      description: deployment.description ?? "",
      log,
      image: deployment.image ?? "",
      buildSeconds: built === undefined ? undefined : Number(built),
    };
  }

  /** Calls a live function through its URL. */
  const call = (repo: string, fn: string, path = "/", init?: RequestInit) => fetch(`${server.url}/fn/${OWNER}/${repo}/${fn}${path}`, init);

  /** Creates and starts a sandboxed container of `image`, as eserveless does. */
  async function start(image: string, env: Record<string, string>): Promise<Docker.Container> {
    const container = await docker.createContainer(
      sandboxedContainer({ image, name: `es-runtime-test-${randomBytes(4).toString("hex")}`, env, labels: { "dev.eserveless.test": "runtimes" }, network: "bridge", publishHost: "127.0.0.1" }),
    );
    containers.add(container);
    await container.start();
    return container;
  }

  /**
   * Runs one function of `image` once as a cron run: ESERVELESS_FUNCTION_TYPE=cron,
   * the given meta variables, in the same sandbox as every function. Returns the
   * exit code and everything it printed.
   */
  async function runCron(image: string, name: string, env: Record<string, string> = {}, type = "cron") {
    const container = await start(image, { ...env, ESERVELESS_FUNCTION: name, ESERVELESS_FUNCTION_TYPE: type, PORT: String(CONTAINER_PORT) });
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    const output = (await containerLogs(container, 500)).join("\n");
    await remove(container);
    return { exitCode: StatusCode, output };
  }

  /** Starts an http function of `image` and waits until it answers the readiness probe. */
  async function serve(image: string, name: string, env: Record<string, string> = {}) {
    const container = await start(image, { ...env, ESERVELESS_FUNCTION: name, ESERVELESS_FUNCTION_TYPE: "http", PORT: String(CONTAINER_PORT) });
    const info = await container.inspect();
    const url = `http://127.0.0.1:${info.NetworkSettings.Ports[`${CONTAINER_PORT}/tcp`]![0]!.HostPort}`;
    const deadline = Date.now() + 20_000;
    for (;;) {
      const ready = await fetch(url, { headers: { [PROBE_HEADER]: "1" } }).then((r) => r.status === 204, () => false);
      if (ready) return { container, url };
      if (Date.now() > deadline) throw new Error(`${name} never answered the probe: ${(await containerLogs(container)).join("\n")}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async function remove(container: Docker.Container) {
    containers.delete(container);
    await container.remove({ force: true }).catch(() => undefined);
  }

  return {
    emulator,
    server,
    docker,
    deploy,
    call,
    runCron,
    serve,
    remove,
    async stop() {
      await Promise.all([...containers].map(remove));
      await server?.stop();
      await emulator?.close();
    },
  };
}

export type RuntimeHarness = Awaited<ReturnType<typeof startRuntimeHarness>>;

/** The size in bytes and the user of an image. */
export async function imageFacts(docker: Docker, image: string) {
  const info = await docker.getImage(image).inspect();
  return { size: info.Size, user: info.Config.User };
}
