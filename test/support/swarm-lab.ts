import Docker from "dockerode";
import { runScript } from "./eserveless-image.js";

/** What `scripts/swarm-lab.sh env` prints, parsed. */
export type SwarmLab = {
  name: string;
  /** Host path of the manager's Docker socket (dockerode's socketPath, the CLI's DOCKER_HOST=unix://…). */
  managerSocket: string;
  workerSockets: string[];
  /** The node containers on the host's engine (stop one to take a node down). */
  managerContainer: string;
  workerContainers: string[];
  /** The registry as the nodes see it (host:port): ESERVELESS_REGISTRY. */
  registry: string;
  /** An attachable overlay with a /16 that `up` made. */
  overlay: string;
  /** The group of /var/run/docker.sock inside a node, for eserveless's `--group-add`. */
  dockerGid: string;
  /** http://127.0.0.1:PORT on the host, published to the manager node's port 3000. */
  serverUrl: string;
};

/** Parses `swarm-lab.sh env` (KEY=VALUE lines, comma-separated lists). */
export function parseSwarmLabEnv(stdout: string): SwarmLab {
  const values = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const match = /^(SWARM_LAB_[A-Z_]+)=(.*)$/.exec(line);
    if (match) values.set(match[1]!, match[2]!);
  }
  const get = (key: string) => {
    const value = values.get(`SWARM_LAB_${key}`);
    if (value === undefined) throw new Error(`swarm-lab.sh env printed no SWARM_LAB_${key}:\n${stdout}`);
    return value;
  };
  const list = (key: string) => get(key).split(",").filter(Boolean);
  return {
    name: get("NAME"),
    managerSocket: get("MANAGER_SOCKET"),
    workerSockets: list("WORKER_SOCKETS"),
    managerContainer: get("MANAGER_CONTAINER"),
    workerContainers: list("WORKER_CONTAINERS"),
    registry: get("REGISTRY"),
    overlay: get("OVERLAY"),
    dockerGid: get("DOCKER_GID"),
    serverUrl: get("SERVER_URL"),
  };
}

/** `swarm-lab.sh up`: a manager, `workers` workers and a registry; a failed `up` leaves nothing behind. */
export async function swarmLabUp(name: string, options: { workers?: number } = {}): Promise<SwarmLab> {
  return parseSwarmLabEnv(await runScript("swarm-lab.sh", ["up", "--name", name, "--workers", String(options.workers ?? 2)]));
}

/** `swarm-lab.sh down`: removes everything the lab `name` made; harmless when there is none. */
export async function swarmLabDown(name: string): Promise<void> {
  await runScript("swarm-lab.sh", ["down", "--name", name]);
}

/** `swarm-lab.sh load`: copies images from the host's engine into the manager's. */
export async function swarmLabLoad(name: string, images: string[]): Promise<void> {
  await runScript("swarm-lab.sh", ["load", "--name", name, ...images]);
}

/** dockerode on a node's engine, through its socket on the host. */
export function nodeDocker(socketPath: string): Docker {
  return new Docker({ socketPath });
}
