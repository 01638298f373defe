import type Docker from "dockerode";
import { SOCKET_FILE, SOCKET_MOUNT } from "./socket-dirs.js";

/** The label that marks every container and image eserveless manages. */
export const LABEL = "dev.eserveless";

/**
 * Labels that tie a container or image to the eserveless instance that made
 * it (several may share a Docker host) and to its repository, function,
 * commit and deployment.
 */
export function eserveslessLabels(input: { instance: string; repository: string; commit: string; deployment: string; function?: string; /** A preview's (`pr-12`); production's is implied when absent. */ environment?: string }): Record<string, string> {
  return {
    [`${LABEL}.managed`]: "true",
    [`${LABEL}.instance`]: input.instance,
    [`${LABEL}.repository`]: input.repository,
    [`${LABEL}.commit`]: input.commit,
    [`${LABEL}.deployment`]: input.deployment,
    ...(input.function ? { [`${LABEL}.function`]: input.function } : {}),
    ...(input.environment && input.environment !== "production" ? { [`${LABEL}.environment`]: input.environment } : {}),
  };
}

/**
 * The label of runtime images whose runtime listens on the socket that
 * ESERVELESS_SOCKET names (its value is that variable's name); images built
 * before have none and are reached over TCP.
 */
export const SOCKET_LABEL = `${LABEL}.socket`;

/** The port every runtime listens on inside its container. */
export const CONTAINER_PORT = 8080;

/** Sandbox defaults; a function's manifest may lower or raise `memoryBytes`. */
export const sandboxDefaults = {
  memoryBytes: 256 * 1024 * 1024,
  nanoCpus: 1_000_000_000,
  pidsLimit: 256,
  tmpfsSize: "64m",
  user: "65534:65534",
};

/**
 * Container options that confine a function: non-root, no capabilities, no
 * privilege escalation, read-only root with a small tmpfs /tmp, memory, CPU
 * and process limits, on its project's Docker `network`. With `publishHost`
 * its port is published there (loopback); without, nothing is published: an
 * eserveless on the same network reaches it by name, and cron runs serve nothing.
 * With `socketDir` (a folder of SocketDirs), that folder alone is
 * mounted at {@link SOCKET_MOUNT} and the runtime listens on a socket there
 * (ESERVELESS_SOCKET) instead of a port.
 */
export function sandboxedContainer(input: {
  image: string;
  name: string;
  env: Record<string, string>;
  labels: Record<string, string>;
  memoryBytes?: number;
  /** CPU limit in billionths of a CPU (ESERVELESS_MAX_CPUS); the default's one CPU when undefined. */
  nanoCpus?: number | undefined;
  publishHost?: string;
  /** The host folder of the container's socket, made by SocketDirs. */
  socketDir?: string;
  /** The project's network (see ProjectNetworks); never Docker's shared default bridge. */
  network: string;
  cmd?: string[];
  /** Instead of the image's entrypoint (a network holder runs `sleep`, whatever the base image starts with). */
  entrypoint?: string[];
  /** Fewer processes than the default's, for a container that runs one. */
  pidsLimit?: number;
}): Docker.ContainerCreateOptions {
  const memory = input.memoryBytes ?? sandboxDefaults.memoryBytes;
  return {
    Image: input.image,
    name: input.name,
    Env: Object.entries({ ...input.env, ...(input.socketDir === undefined ? {} : { ESERVELESS_SOCKET: `${SOCKET_MOUNT}/${SOCKET_FILE}` }) }).map(([key, value]) => `${key}=${value}`),
    Labels: input.labels,
    User: sandboxDefaults.user,
    ...(input.publishHost === undefined ? {} : { ExposedPorts: { [`${CONTAINER_PORT}/tcp`]: {} } }),
    ...(input.cmd ? { Cmd: input.cmd } : {}),
    ...(input.entrypoint ? { Entrypoint: input.entrypoint } : {}),
    HostConfig: {
      ...(input.publishHost === undefined ? {} : { PortBindings: { [`${CONTAINER_PORT}/tcp`]: [{ HostIp: input.publishHost, HostPort: "" }] } }),
      ...(input.socketDir === undefined ? {} : { Mounts: [{ Type: "bind" as const, Source: input.socketDir, Target: SOCKET_MOUNT }] }),
      NetworkMode: input.network,
      Memory: memory,
      MemorySwap: memory,
      NanoCpus: input.nanoCpus ?? sandboxDefaults.nanoCpus,
      PidsLimit: input.pidsLimit ?? sandboxDefaults.pidsLimit,
      CapDrop: ["ALL"],
      SecurityOpt: ["no-new-privileges:true"],
      ReadonlyRootfs: true,
      Tmpfs: { "/tmp": `rw,noexec,nosuid,size=${sandboxDefaults.tmpfsSize}` },
      LogConfig: { Type: "json-file", Config: { "max-size": "1m", "max-file": "2" } },
      RestartPolicy: { Name: "no" },
    },
  };
}
