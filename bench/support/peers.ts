import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type Docker from "dockerode";
import { exec } from "./exec.js";
import { freePort } from "./server-process.js";

/** How a proxy reaches the function's container: its published loopback port, or its Unix socket on the host. */
export type Upstream = { kind: "tcp"; host: string; port: number } | { kind: "unix"; path: string };

export const describeUpstream = (upstream: Upstream) => (upstream.kind === "tcp" ? `tcp ${upstream.host}:${upstream.port}` : `unix ${upstream.path}`);

/** Short for the table: "tcp loopback" or "unix socket". */
export const transportOf = (upstream: Upstream) => (upstream.kind === "tcp" ? "tcp loopback" : "unix socket");

/**
 * How the router reaches a running replica, read from the container: a Unix
 * socket in a directory bind-mounted into it, when one of its bind mounts'
 * host directories holds a socket; else its port for `privatePort` published
 * on a loopback address.
 */
export function upstreamOf(info: Docker.ContainerInspectInfo, privatePort = 8080): Upstream | undefined {
  for (const mount of info.Mounts) {
    if (mount.Type !== "bind" || !mount.Source) continue;
    const entries = (() => {
      try {
        return statSync(mount.Source).isDirectory() ? readdirSync(mount.Source).map((name) => join(mount.Source, name)) : [mount.Source];
      } catch {
        return [];
      }
    })();
    const socket = entries.find((path) => {
      try {
        return statSync(path).isSocket();
      } catch {
        return false;
      }
    });
    if (socket) return { kind: "unix", path: socket };
  }
  const bindings = info.NetworkSettings.Ports?.[`${privatePort}/tcp`] ?? [];
  const published = bindings.find((b) => b.HostIp === "127.0.0.1" || b.HostIp === "::1" || b.HostIp === "0.0.0.0");
  if (published) return { kind: "tcp", host: published.HostIp === "::1" ? "::1" : "127.0.0.1", port: Number(published.HostPort) };
  return undefined;
}

export interface Peer {
  name: string;
  url: string;
  /** Its one process (nginx runs without a master), whose CPU time the bench reads. */
  pid: number;
  stop(): Promise<void>;
}

async function untilListening(port: number, child: ChildProcess, name: string): Promise<void> {
  const deadline = performance.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before it listened`);
    // Any answer, even a 502, means it listens; the bench checks the 200 through it afterwards.
    const listening = await fetch(`http://127.0.0.1:${port}/`).then(
      (r) => r.body?.cancel().then(() => true) ?? true,
      () => false,
    );
    if (listening) return;
    if (performance.now() > deadline) throw new Error(`${name} did not listen on 127.0.0.1:${port} within 20 s`);
    await sleep(50);
  }
}

function peerProcess(name: string, command: string, args: string[], port: number, env?: NodeJS.ProcessEnv): Promise<Peer> {
  const child = spawn(command, args, { stdio: ["ignore", "ignore", "inherit"], env: env ?? process.env, detached: true });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    await Promise.race([exited, sleep(5000).then(() => child.kill("SIGKILL"))]);
    await exited;
  };
  return untilListening(port, child, name).then(
    () => ({ name, url: `http://127.0.0.1:${port}/`, pid: child.pid ?? 0, stop }),
    async (error: unknown) => {
      await stop();
      throw error;
    },
  );
}

/** Builds bench/peers/reverse-proxy.go with the system's Go into `dir`; throws saying how to install Go. */
export async function buildGoProxy(root: string, dir: string): Promise<string> {
  const binary = join(dir, "reverse-proxy");
  await exec("go", ["build", "-o", binary, join(root, "bench/peers/reverse-proxy.go")], { env: { ...process.env, GOCACHE: join(dir, "go-cache"), GO111MODULE: "off", CGO_ENABLED: "0" } }).catch(
    (error: Error) => {
      throw new Error(`cannot build bench/peers/reverse-proxy.go (apt-get install golang-go): ${error.message}`);
    },
  );
  return binary;
}

/** Go's httputil.ReverseProxy (bench/peers/reverse-proxy.go), GOMAXPROCS as Go sets it. */
export async function startGoProxy(binary: string, upstream: Upstream): Promise<Peer> {
  const port = await freePort();
  const target = upstream.kind === "tcp" ? ["-tcp", `${upstream.host}:${upstream.port}`] : ["-unix", upstream.path];
  return peerProcess("go", binary, ["-listen", `127.0.0.1:${port}`, ...target], port);
}

/** The minimal Node proxy (bench/peers/node-proxy.mjs), on the node that runs the bench. */
export async function startNodeProxy(root: string, upstream: Upstream): Promise<Peer> {
  const port = await freePort();
  const target = upstream.kind === "tcp" ? `${upstream.host}:${upstream.port}` : upstream.path;
  // Without the bench's execArgv (tsx's loader): plain node, as the router runs.
  return peerProcess("node", process.execPath, [join(root, "bench/peers/node-proxy.mjs"), String(port), target], port);
}

/**
 * The nginx configuration of the peer: one worker (the router and the Node
 * proxy are one thread each), keep-alive to the upstream (`keepalive`,
 * HTTP/1.1, Connection cleared), the client's Host and X-Forwarded-For passed
 * on, access log buffered.
 */
export function nginxConfig(dir: string, port: number, upstream: Upstream): string {
  const server = upstream.kind === "tcp" ? `${upstream.host}:${upstream.port}` : `unix:${upstream.path}`;
  return `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log ${dir}/access.log combined buffer=64k flush=1s;
  client_body_temp_path ${dir}/client-body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  upstream function {
    server ${server};
    keepalive 256;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://function;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_buffering on;
    }
  }
}
`;
}

/** nginx (Debian's nginx-light) with a generated configuration in a temp directory. */
export async function startNginx(upstream: Upstream): Promise<Peer> {
  const dir = mkdtempSync(join(tmpdir(), "eserveless-bench-nginx-"));
  const port = await freePort();
  const config = join(dir, "nginx.conf");
  writeFileSync(config, nginxConfig(dir, port, upstream));
  // Debian installs it in /usr/sbin, which is not on every PATH.
  const nginx = [...(process.env.PATH ?? "").split(":"), "/usr/sbin"].map((d) => join(d, "nginx")).find((path) => existsSync(path));
  if (!nginx) throw new Error("nginx is not installed: apt-get install nginx-light");
  return peerProcess("nginx", nginx, ["-c", config, "-p", dir, "-e", `${dir}/error.log`], port);
}

export const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), prefix));
