import type Docker from "dockerode";
import { setTimeout as sleep } from "node:timers/promises";
import { UpstreamError } from "../errors.js";
import { demuxDockerLog } from "./run-output.js";
import { sandboxDefaults } from "./sandbox.js";
import type { SecretReference } from "./swarm-secrets.js";
import { statusCode } from "./docker-error.js";

/** How long a task may take to stop on a scale-down: runtimes finish in-flight requests on SIGTERM. */
export const STOP_GRACE_MS = 30_000;

/** A running task of a service, as the router reaches it. */
export interface ServiceTask {
  id: string;
  /** Its address on the project's overlay network. */
  address: string;
  node: string;
  /** Its container's id, on its node's engine. */
  containerId: string;
}

/** A task that ended without running: why, as Swarm tells. */
export interface FailedTask {
  id: string;
  state: string;
  error: string | undefined;
  exitCode: number | undefined;
}

/** What the Engine API says of a task; only what is read here. */
interface TaskInfo {
  ID: string;
  NodeID?: string;
  DesiredState?: string;
  Status?: { State?: string; Err?: string; Message?: string; ContainerStatus?: { ContainerID?: string; ExitCode?: number } };
  NetworksAttachments?: Array<{ Network?: { ID?: string; Spec?: { Name?: string } }; Addresses?: string[] }>;
}

/** The sandbox of a function container, as a Swarm task spec (API 1.41: CapabilityDrop, Pids). */
export function sandboxedTask(input: {
  image: string;
  env: Record<string, string>;
  labels: Record<string, string>;
  network: string;
  memoryBytes?: number | undefined;
  nanoCpus?: number | undefined;
  /** `any` for http functions (Swarm replaces a crashed task), `none` for a cron run. */
  restart: "any" | "none";
  /** The function's secrets as Docker secrets, mounted at /run/secrets (never in Env). */
  secrets?: SecretReference[];
}): Docker.TaskSpec {
  const memory = input.memoryBytes ?? sandboxDefaults.memoryBytes;
  const container = {
    Image: input.image,
    Env: Object.entries(input.env).map(([key, value]) => `${key}=${value}`),
    Labels: input.labels,
    User: sandboxDefaults.user,
    ReadOnly: true,
    Init: true,
    // Each node's dockerd runs with --no-new-privileges: Engine 20.10 has no per-service switch.
    CapabilityDrop: ["ALL"],
    Mounts: [{ Type: "tmpfs", Target: "/tmp", TmpfsOptions: { SizeBytes: parseSize(sandboxDefaults.tmpfsSize), Mode: 0o1777 } }],
    StopGracePeriod: STOP_GRACE_MS * 1e6,
    ...(input.secrets?.length ? { Secrets: input.secrets } : {}),
  } as Docker.ContainerSpec;
  return {
    ContainerSpec: container,
    // Reserved as well as limited: Swarm places a task only on a node with that much memory free.
    Resources: { Limits: { MemoryBytes: memory, NanoCPUs: input.nanoCpus ?? sandboxDefaults.nanoCpus, Pids: sandboxDefaults.pidsLimit }, Reservations: { MemoryBytes: memory } },
    RestartPolicy: input.restart === "any" ? { Condition: "any", Delay: 1e9, MaxAttempts: 0 } : { Condition: "none" },
    Networks: [{ Target: input.network }],
    LogDriver: { Name: "json-file", Options: { "max-size": "1m", "max-file": "2" } },
  } as Docker.TaskSpec;
}

/** `64m` as bytes. */
function parseSize(size: string): number {
  const match = /^(\d+)([kmg])$/.exec(size);
  if (!match) throw new Error(`not a size: ${size}`);
  return Number(match[1]) * 1024 ** (" kmg".indexOf(match[2]!));
}

/**
 * The Swarm services of eserveless on the engine of a manager node: creates
 * them (endpoint mode `dnsrr`: no VIP, no routing mesh, which need IPVS),
 * scales them, lists their tasks' addresses and removes them.
 */
export class SwarmServices {
  constructor(readonly docker: Docker) {}

  /** Creates a replicated service and returns its id. */
  async create(name: string, labels: Record<string, string>, task: Docker.TaskSpec, replicas: number): Promise<string> {
    try {
      const created = (await this.docker.createService({
        Name: name,
        Labels: labels,
        TaskTemplate: task,
        Mode: { Replicated: { Replicas: replicas } },
        EndpointSpec: { Mode: "dnsrr" },
      } as Docker.CreateServiceOptions)) as { id?: string; ID?: string };
      return created.id ?? created.ID ?? name;
    } catch (error) {
      throw new UpstreamError(`Docker Swarm could not create the service ${name}: ${(error as Error).message}`, { cause: error, code: "service_create_failed" });
    }
  }

  /** Creates a one-shot `replicated-job` service (API 1.41) that runs one task to its end. */
  async createJob(name: string, labels: Record<string, string>, task: Docker.TaskSpec): Promise<string> {
    try {
      const created = (await this.docker.createService({
        Name: name,
        Labels: labels,
        TaskTemplate: task,
        Mode: { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } },
        EndpointSpec: { Mode: "dnsrr" },
      } as Docker.CreateServiceOptions)) as { id?: string; ID?: string };
      return created.id ?? created.ID ?? name;
    } catch (error) {
      throw new UpstreamError(`Docker Swarm could not create the job ${name}: ${(error as Error).message}`, { cause: error, code: "service_create_failed" });
    }
  }

  /** Sets a replicated service's replicas; retried when another update raced this one. */
  async scale(id: string, replicas: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const service = this.docker.getService(id);
      const info = (await service.inspect()) as { Version: { Index: number }; Spec: Docker.ServiceSpec & { Mode?: { Replicated?: { Replicas?: number } } } };
      if (info.Spec.Mode?.Replicated?.Replicas === replicas) return;
      try {
        await service.update({ _query: { version: info.Version.Index }, _body: { ...info.Spec, Mode: { Replicated: { Replicas: replicas } } } } as never);
        return;
      } catch (error) {
        if (attempt < 5 && /out of sequence/i.test((error as Error).message)) continue;
        throw new UpstreamError(`Docker Swarm could not scale the service ${id} to ${replicas}: ${(error as Error).message}`, { cause: error, code: "service_scale_failed" });
      }
    }
  }

  /** The replicas a service is set to, or undefined when it is gone. */
  async replicas(id: string): Promise<number | undefined> {
    try {
      const info = (await this.docker.getService(id).inspect()) as { Spec: { Mode?: { Replicated?: { Replicas?: number } } } };
      return info.Spec.Mode?.Replicated?.Replicas ?? 0;
    } catch (error) {
      if (statusCode(error) === 404) return undefined;
      throw error;
    }
  }

  /** Removes a service (its tasks stop); gone already is fine. */
  async remove(id: string): Promise<void> {
    try {
      await this.docker.getService(id).remove();
    } catch (error) {
      if (statusCode(error) !== 404) throw error;
    }
  }

  /** The services carrying `label` (`key=value`). */
  async list(label: string): Promise<Array<{ id: string; name: string; labels: Record<string, string>; replicas: number | undefined; job: boolean }>> {
    const services = (await this.docker.listServices({ filters: { label: [label] } })) as Array<{
      ID: string;
      Spec: { Name: string; Labels?: Record<string, string>; Mode?: { Replicated?: { Replicas?: number }; ReplicatedJob?: object } };
    }>;
    return services.map((s) => ({ id: s.ID, name: s.Spec.Name, labels: s.Spec.Labels ?? {}, replicas: s.Spec.Mode?.Replicated?.Replicas, job: s.Spec.Mode?.ReplicatedJob !== undefined }));
  }

  /** Every task of a service Swarm knows, as the API tells. */
  async tasks(id: string): Promise<TaskInfo[]> {
    return (await this.docker.listTasks({ filters: { service: [id] } })) as TaskInfo[];
  }

  /**
   * The running tasks of a service and their addresses on `network` (by
   * name): read from the API, not DNS, which hangs for a service with none.
   */
  async running(id: string, network: string): Promise<ServiceTask[]> {
    const tasks = await this.tasks(id);
    return tasks.flatMap((task) => {
      if (task.Status?.State !== "running" || task.DesiredState !== "running") return [];
      const attachment = task.NetworksAttachments?.find((a) => a.Network?.Spec?.Name === network);
      const address = attachment?.Addresses?.[0]?.split("/")[0];
      if (!address) return [];
      return [{ id: task.ID, address, node: task.NodeID ?? "", containerId: task.Status.ContainerStatus?.ContainerID ?? "" }];
    });
  }

  /** Tasks that failed or were rejected (a crash at load, an image a node cannot pull). */
  async failed(id: string): Promise<FailedTask[]> {
    const tasks = await this.tasks(id);
    return tasks
      .filter((task) => ["failed", "rejected"].includes(task.Status?.State ?? ""))
      .map((task) => ({ id: task.ID, state: task.Status?.State ?? "", error: task.Status?.Err, exitCode: task.Status?.ContainerStatus?.ExitCode }));
  }

  /** The last lines a service's tasks printed (through the manager, wherever they ran). */
  async logs(id: string, tail = 50): Promise<string[]> {
    const raw = (await this.docker.getService(id).logs({ stdout: true, stderr: true, follow: false, tail } as never)) as unknown as Buffer;
    return demuxDockerLog(Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw)))
      .toString("utf8")
      .split("\n")
      .filter((line) => line.length > 0);
  }

  /** Whether this engine is a manager of an active swarm. */
  async isManager(): Promise<boolean> {
    const info = (await this.docker.info()) as { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } };
    return info.Swarm?.LocalNodeState === "active" && info.Swarm.ControlAvailable === true;
  }

  /**
   * Whether this engine's dockerd runs with --no-new-privileges, which
   * Engine 20.10 neither reports (docker info) nor sets per service: a
   * container of `image` that asks for nothing reads its own NoNewPrivs.
   * Undefined when it cannot tell (the image is missing, say).
   */
  async noNewPrivileges(image: string, labels: Record<string, string>): Promise<boolean | undefined> {
    let container: Docker.Container | undefined;
    try {
      container = await this.docker.createContainer({
        Image: image,
        Cmd: ["node", "-e", "process.stdout.write(/^NoNewPrivs:\\s*(\\d)/m.exec(require('fs').readFileSync('/proc/self/status','utf8'))?.[1] ?? '?')"],
        Labels: labels,
        User: sandboxDefaults.user,
        HostConfig: { NetworkMode: "none", CapDrop: ["ALL"], Memory: 64 * 1024 ** 2 },
      });
      await container.start();
      await container.wait();
      const output = demuxDockerLog((await container.logs({ stdout: true, stderr: false, follow: false })) as unknown as Buffer).toString("utf8").trim();
      return output === "1" ? true : output === "0" ? false : undefined;
    } catch {
      return undefined;
    } finally {
      await container?.remove({ force: true }).catch(() => undefined);
    }
  }
}

/** Polls `check` every `intervalMs` until it returns a value, up to `timeoutMs` (undefined past it). */
export async function pollFor<T>(check: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 100, signal?: AbortSignal): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) return undefined;
    await sleep(intervalMs);
  }
}

