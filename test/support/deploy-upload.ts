import { gzipSync } from "node:zlib";
import { pack } from "tar-stream";
import type { Deployment } from "../../src/store/deployment-store.js";
import { ADMIN_TOKEN, type TestEserveless } from "./start-eserveless.js";

/** A .tar.gz of `files` under one top folder, as `eserveless deploy` uploads a project folder. */
export async function tarball(files: Record<string, string | Buffer | { content: Buffer; mode: number }>, top = "project"): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  tar.on("data", (chunk) => chunks.push(chunk as Buffer));
  const ended = new Promise<void>((resolve) => tar.on("end", resolve));
  tar.entry({ name: `${top}/`, type: "directory" });
  for (const [name, file] of Object.entries(files)) {
    const { content, mode } = typeof file === "string" || Buffer.isBuffer(file) ? { content: Buffer.from(file), mode: 0o644 } : file;
    tar.entry({ name: `${top}/${name}`, mode }, content);
  }
  tar.finalize();
  await ended;
  return gzipSync(Buffer.concat(chunks));
}

/**
 * Deploys `files` as the local project `name` through the API (as
 * `eserveless deploy` does) and waits until the deployment ends. Returns the
 * deployment and its log lines.
 */
export async function deployUpload(server: TestEserveless, name: string, files: Parameters<typeof tarball>[0]): Promise<{ deployment: Deployment; log: string[] }> {
  const id = await startUpload(server, name, files);
  await server.deployer.idle();
  return { deployment: server.store.getDeployment(id)!, log: server.store.deploymentLog(id).map((l) => l.line) };
}

/** Uploads `files` as the local project `name` and returns the deployment's id at once. */
export async function startUpload(server: TestEserveless, name: string, files: Parameters<typeof tarball>[0]): Promise<string> {
  const response = await fetch(`${server.url}/api/deployments?project=${name}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    body: await tarball(files, name),
  });
  if (response.status !== 202) throw new Error(`upload refused: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { deployment: { id: string } }).deployment.id;
}
