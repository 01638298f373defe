import type Docker from "dockerode";
import type { Logger } from "pino";
import { UpstreamError } from "../errors.js";
import { LABEL, sandboxedContainer } from "./sandbox.js";
import { statusCode, errorMessage } from "./docker-error.js";

/** The label of a network holder: its value is the network whose namespace it holds. */
export const HOLDER_LABEL = `${LABEL}.holder`;

/** A holder idles: it runs no code of a project, only `sleep`, which every base image has (busybox or coreutils). */
const HOLD = ["sleep", "2147483647"];

export interface NetworkHoldersOptions {
  docker: Docker;
  instance: string;
  /** Images to run the holder from, the first found locally (the runtimes' base images: a host that built a function has one). */
  images: readonly string[];
  log: Logger;
}

/**
 * One idle container per project network that holds a network namespace,
 * as a Kubernetes pod's pause container does: the project's function
 * containers join it (`NetworkMode: container:<id>`) instead of the network.
 * Docker then sets up no interface, address or embedded DNS per container,
 * which is most of a start on a user-defined bridge (about 270 against 95 ms
 * here). They share the holder's address and loopback: one repository's
 * functions of one environment, which reach each other on their network anyway.
 * When no holder can run (no base image here has `sleep`), functions join the
 * network itself, as before.
 */
export class NetworkHolders {
  readonly #docker: Docker;
  readonly #instance: string;
  readonly #images: readonly string[];
  readonly #log: Logger;
  /** What each network's holder came to: its container id, or none (functions then join the network). */
  readonly #known = new Map<string, Promise<Holding>>();
  /** The id of each network's holder once known, so {@link forget} can tell a stale one from its replacement. */
  readonly #ids = new Map<string, string>();

  constructor(options: NetworkHoldersOptions) {
    this.#docker = options.docker;
    this.#instance = options.instance;
    this.#images = options.images;
    this.#log = options.log;
  }

  /** The `NetworkMode` of a function container on `network`: its holder's namespace, or the network when it has none. */
  async networkMode(network: string, labels: Record<string, string>): Promise<string> {
    let known = this.#known.get(network);
    if (!known) {
      const held: Promise<Holding> = this.#hold(network, labels).then((holding) => {
        if (this.#known.get(network) !== held) return holding;
        if (holding.id !== undefined) this.#ids.set(network, holding.id);
        // A holder that could not run for a passing reason is looked for again by the next start.
        else if (!holding.lasting) this.#known.delete(network);
        return holding;
      });
      known = held;
      this.#known.set(network, held);
      // Docker's failure (not the holder's) is not remembered either.
      held.catch(() => {
        if (this.#known.get(network) === held) this.#known.delete(network);
      });
    }
    const { id } = await known;
    return id === undefined ? network : `container:${id}`;
  }

  /**
   * Forgets the network's holder, so the next start looks again (after a
   * container failed to join it). With the `networkMode` that failed, only
   * while that holder is still the one known: starts that failed together
   * must not forget the new holder the first of them is making.
   */
  forget(network: string, networkMode?: string): void {
    const failed = networkMode?.startsWith("container:") ? networkMode.slice("container:".length) : undefined;
    if (failed !== undefined && this.#ids.get(network) !== failed) return;
    this.#known.delete(network);
    this.#ids.delete(network);
  }

  /**
   * Removes the network's holder unless a container still shares its
   * namespace (it would lose its network): the names of those, none once
   * the holder is gone.
   */
  async remove(network: string): Promise<string[]> {
    this.#known.delete(network);
    this.#ids.delete(network);
    const name = holderName(network);
    const holder = await this.#inspect(name);
    if (!holder) return [];
    const all = await this.#docker.listContainers({ all: true, filters: { label: [`${LABEL}.instance=${this.#instance}`] } });
    const sharing = all.filter((c) => c.HostConfig?.NetworkMode === `container:${holder.Id}`).map((c) => `${c.Names[0]?.replace(/^\//, "") ?? c.Id.slice(0, 12)} (${c.State})`);
    if (sharing.length > 0) return sharing;
    await this.#docker
      .getContainer(holder.Id)
      .remove({ force: true })
      .catch((error: unknown) => {
        if (statusCode(error) !== 404) throw new UpstreamError(`Docker could not remove ${name}: ${errorMessage(error)}`, { cause: error });
      });
    return [];
  }

  async #hold(network: string, labels: Record<string, string>): Promise<Holding> {
    const name = holderName(network);
    const existing = await this.#inspect(name);
    // One from before a restart is kept while it runs on this network: adopted containers share its namespace.
    if (this.#usable(existing, network)) return { id: existing!.Id };
    if (existing) await this.#docker.getContainer(existing.Id).remove({ force: true });
    const image = await this.#localImage();
    if (image === undefined) {
      this.#log.warn({ network, images: this.#images }, "no base image is here to hold the network's namespace: its functions join the network, each start setting up its own interface");
      return { id: undefined, lasting: true };
    }
    let container: Docker.Container | undefined;
    try {
      // Confined as functions are (sandboxedContainer), with less: one process that needs a few KiB.
      container = await this.#docker.createContainer({
        ...sandboxedContainer({
          image,
          name,
          env: {},
          labels: { ...labels, [`${LABEL}.managed`]: "true", [`${LABEL}.instance`]: this.#instance, [HOLDER_LABEL]: network },
          memoryBytes: 16 * 1024 * 1024,
          nanoCpus: 10_000_000,
          pidsLimit: 8,
          network,
          entrypoint: [HOLD[0]!],
          cmd: HOLD.slice(1),
        }),
        // sleep ignores SIGTERM as PID 1: a `docker stop` would wait its 10 s for nothing.
        StopSignal: "SIGKILL",
      });
      await container.start();
      this.#log.info({ network, holder: name, image }, "started the holder of a network's namespace");
      return { id: container.id };
    } catch (error) {
      // Made meanwhile by another process of this instance (a second eserveless on the same data): that one serves.
      if (statusCode(error) === 409) {
        const other = await this.#inspect(name);
        if (this.#usable(other, network)) return { id: other!.Id };
      }
      await container?.remove({ force: true }).catch(() => undefined);
      // The image cannot run `sleep`: asking again would cost every cold start a failed container.
      const lasting = /executable file not found|no such file or directory/i.test(errorMessage(error));
      this.#log.warn({ err: error, network, image }, `could not start the holder of a network's namespace (${errorMessage(error)}): its functions join the network, each start setting up its own interface`);
      return { id: undefined, lasting };
    }
  }

  /** Whether `holder` runs, on `network`, for this instance. */
  #usable(holder: Docker.ContainerInspectInfo | undefined, network: string): boolean {
    return holder !== undefined && holder.State.Running && holder.HostConfig.NetworkMode === network && holder.Config.Labels?.[`${LABEL}.instance`] === this.#instance;
  }

  async #localImage(): Promise<string | undefined> {
    for (const image of this.#images) {
      const found = await this.#docker
        .getImage(image)
        .inspect()
        .then(() => true)
        .catch(() => false);
      if (found) return image;
    }
    return undefined;
  }

  async #inspect(name: string): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      return await this.#docker.getContainer(name).inspect();
    } catch (error) {
      if (statusCode(error) === 404) return undefined;
      throw new UpstreamError(`Docker could not look up the container ${name}: ${errorMessage(error)}`, { cause: error });
    }
  }
}

/** A holder's container id; none when functions join the network itself, `lasting` when that is not worth asking again. */
interface Holding {
  id: string | undefined;
  lasting?: boolean;
}

/** The holder's container name: its network's, which is this instance's own. */
const holderName = (network: string) => `${network}-ns`;
