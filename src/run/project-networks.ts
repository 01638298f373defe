import type Docker from "dockerode";
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import { UpstreamError } from "../errors.js";
import { slug } from "../slug.js";
import type { NetworkHolders } from "./network-holders.js";
import { LABEL } from "./sandbox.js";
import type { SubnetPool } from "./subnet-pool.js";
import { statusCode, errorMessage } from "./docker-error.js";

/** Which network: a project's production, or one of its previews (`pr-12`). */
interface NetworkInput {
  kind: "project" | "build";
  repository: string | undefined;
  environment: string | undefined;
  join: boolean;
}

const isPreview = (environment: string | undefined): environment is string => environment !== undefined && environment !== "production";

/** A network's key: the repository, and a preview's environment after `@`, which no repository name holds (as the pool's keys). */
const keyOf = (repository: string, environment?: string) => (isPreview(environment) ? `${repository}@${environment}` : repository).toLowerCase();

/** The label that tells a project's network (`project`) from the build network (`build`). */
export const NETWORK_LABEL = `${LABEL}.network`;

export interface ProjectNetworksOptions {
  docker: Docker;
  /** This eserveless's id: it adopts and removes only the networks it labelled. */
  instance: string;
  /** Where each network's subnet comes from (`ESERVELESS_NETWORK_POOL`). */
  subnets: SubnetPool;
  /**
   * The id or name of the container eserveless itself runs in: it is
   * connected to each project's network, to reach the functions by name.
   * Undefined when eserveless runs on the host and reaches them through
   * ports published on loopback.
   */
  self?: string | undefined;
  /**
   * `overlay` on a swarm: each project's network is an attachable overlay,
   * which its services' tasks on every node and eserveless's container join.
   * The build network stays a bridge on this engine.
   */
  driver?: "bridge" | "overlay";
  /** The holders of the bridges' namespaces, which functions reached over a socket join (see {@link ProjectNetworks.forFunction}). */
  holders?: NetworkHolders | undefined;
  log: Logger;
}

/**
 * The Docker networks of eserveless: one bridge per project (repository)
 * for its production functions and cron runs, one per pull-request preview
 * (a pull request's code must not reach production's containers, nor
 * production a preview's), and one build network. Each has an explicit subnet from the pool, eserveless's
 * labels and a bridge interface named `es…`, so a host firewall rule can
 * match them all (`-i es+`). Docker isolates bridge networks from each
 * other, so a function cannot reach another project's or environment's
 * containers. Within one environment of a project, containers reach each other (they are one repository's code, and
 * an eserveless in a container reaches them over that bridge); the build
 * network turns that off, so concurrent builds cannot reach each other.
 */
export class ProjectNetworks {
  readonly #docker: Docker;
  readonly #instance: string;
  readonly #subnets: SubnetPool;
  readonly #self: string | undefined;
  readonly #log: Logger;
  readonly #driver: "bridge" | "overlay";
  readonly #holders: NetworkHolders | undefined;
  /** Networks known to exist (and, in a container, to be joined), by key. */
  readonly #ready = new Map<string, Promise<string>>();
  /** One subnet is chosen at a time, so two networks never pick the same one. */
  #allocating: Promise<unknown> = Promise.resolve();
  #selfId: Promise<string> | undefined;

  constructor(options: ProjectNetworksOptions) {
    this.#docker = options.docker;
    this.#instance = options.instance;
    this.#subnets = options.subnets;
    this.#self = options.self;
    this.#log = options.log;
    this.#driver = options.driver ?? "bridge";
    this.#holders = this.#driver === "bridge" ? options.holders : undefined;
  }

  /** Whether eserveless runs in a container on the project networks (functions are reached by name). */
  get joinsNetworks(): boolean {
    return this.#self !== undefined;
  }

  /**
   * The name of the network of the repository's `environment` (production's
   * when absent, or a preview's own), created on first use and joined by
   * eserveless's own container when it runs in one. The same for every
   * spelling of the repository, as its URLs are.
   */
  forProject(repository: string, environment?: string): Promise<string> {
    const preview = isPreview(environment) ? environment : undefined;
    return this.#ensure(keyOf(repository, preview), { kind: "project", repository, environment: preview, join: true });
  }

  /**
   * The `NetworkMode` of a function container of the repository's
   * `environment` that is reached over its socket: the namespace of its
   * network's holder (see NetworkHolders), or the network itself when it has none.
   */
  async forFunction(repository: string, environment?: string): Promise<string> {
    const network = await this.forProject(repository, environment);
    if (!this.#holders) return network;
    const labels: Record<string, string> = { [`${LABEL}.repository`]: repository };
    if (isPreview(environment)) labels[`${LABEL}.environment`] = environment;
    return this.#holders.networkMode(network, labels);
  }

  /** The network image builds run on: it reaches the internet, not functions nor other builds. */
  forBuilds(): Promise<string> {
    return this.#ensure("\0build", { kind: "build", repository: undefined, environment: undefined, join: false });
  }

  /**
   * Forgets what is known of the network of the repository's `environment`,
   * so the next use checks it again (after a container failed to join it);
   * its holder too, when it is the one `networkMode` names (see NetworkHolders.forget).
   */
  forget(repository: string, environment?: string, networkMode?: string): void {
    const key = keyOf(repository, environment);
    this.#ready.delete(key);
    this.#holders?.forget(this.#names(key, "project").name, networkMode);
  }

  /**
   * Removes every network of the repository, its previews' included (true
   * when they are gone); a network that still has containers stays (logged)
   * until the next start.
   */
  async removeProject(repository: string): Promise<boolean> {
    let gone = true;
    for (const name of await this.#networksOf(repository)) gone = (await this.#remove(name)) && gone;
    return gone;
  }

  /** Removes the network of one environment of the repository (a closed preview's); as {@link removeProject} otherwise. */
  removeEnvironment(repository: string, environment: string): Promise<boolean> {
    const key = keyOf(repository, environment);
    this.#ready.delete(key);
    return this.#remove(this.#names(key, "project").name);
  }

  /**
   * Removes this instance's project and preview networks whose environment
   * is not in `keep` (after a restart removed their containers), except
   * those this process has used since it started (a first deployment under
   * way). Returns their names.
   */
  async prune(keep: Iterable<{ repository: string; environment?: string }>): Promise<string[]> {
    const kept = new Set([...keep].map((live) => keyOf(live.repository, live.environment)));
    const networks = await this.#list();
    const removed: string[] = [];
    for (const network of networks) {
      const repository = network.Labels?.[`${LABEL}.repository`];
      if (network.Labels?.[NETWORK_LABEL] !== "project" || repository === undefined) continue;
      const key = keyOf(repository, network.Labels?.[`${LABEL}.environment`]);
      if (kept.has(key) || this.#ready.has(key)) continue;
      if (await this.#remove(network.Name)) removed.push(network.Name);
    }
    return removed;
  }

  /** The names of every network of the repository: production's (whether it exists or not) and its previews' that exist. */
  async #networksOf(repository: string): Promise<string[]> {
    const key = repository.toLowerCase();
    for (const known of [...this.#ready.keys()]) if (known === key || known.startsWith(`${key}@`)) this.#ready.delete(known);
    const previews = (await this.#list()).filter(
      (network) => network.Labels?.[NETWORK_LABEL] === "project" && network.Labels?.[`${LABEL}.repository`]?.toLowerCase() === key && network.Labels?.[`${LABEL}.environment`] !== undefined,
    );
    return [this.#names(key, "project").name, ...previews.map((network) => network.Name)];
  }

  /** Removes every network of this instance, the build network included (when its containers are gone too). */
  async removeAll(): Promise<void> {
    this.#ready.clear();
    for (const network of await this.#list()) await this.#remove(network.Name);
  }

  #list(): Promise<Docker.NetworkInspectInfo[]> {
    return this.#docker.listNetworks({ filters: { label: [`${LABEL}.instance=${this.#instance}`] } });
  }

  /** A name (and bridge interface) of its own for each instance and key; the interface name fits Linux's 15 characters. */
  #names(key: string, kind: "project" | "build"): { name: string; bridge: string } {
    const hash = createHash("sha256").update(`${this.#instance}\0${key}`).digest("hex");
    const name = kind === "build" ? `es-build-${this.#instance}` : `es-${slug(key).slice(0, 40)}-${hash.slice(0, 12)}`;
    return { name, bridge: `es${hash.slice(0, 13)}` };
  }

  #ensure(key: string, input: NetworkInput): Promise<string> {
    const known = this.#ready.get(key);
    if (known) return known;
    const ready = this.#create(key, input);
    this.#ready.set(key, ready);
    // A failure is not remembered: the next use tries again.
    ready.catch(() => {
      if (this.#ready.get(key) === ready) this.#ready.delete(key);
    });
    return ready;
  }

  async #create(key: string, input: NetworkInput): Promise<string> {
    const { name, bridge } = this.#names(key, input.kind);
    let network = await this.#inspect(name);
    if (!network) {
      const created = this.#allocating.then(() => this.#createNetwork(name, bridge, input));
      this.#allocating = created.catch(() => undefined);
      network = await created;
    }
    if (network.Labels?.[`${LABEL}.instance`] !== this.#instance) {
      throw new UpstreamError(`A Docker network named ${name} exists that this eserveless did not make; remove it (docker network rm ${name})`, { code: "network_conflict" });
    }
    if (input.join && this.#self !== undefined) await this.#join(name, network);
    return name;
  }

  async #inspect(name: string): Promise<Docker.NetworkInspectInfo | undefined> {
    try {
      return (await this.#docker.getNetwork(name).inspect()) as Docker.NetworkInspectInfo;
    } catch (error) {
      if (statusCode(error) === 404) return undefined;
      throw new UpstreamError(`Docker could not look up the network ${name}: ${errorMessage(error)}`, { cause: error });
    }
  }

  async #createNetwork(name: string, bridge: string, input: NetworkInput): Promise<Docker.NetworkInspectInfo> {
    // Subnets Docker refused as overlapping, though no listed network had them (another engine user raced us).
    const refused: string[] = [];
    for (;;) {
      // It may exist by now: another process made it while this one waited.
      const existing = await this.#inspect(name);
      if (existing) return existing;
      const taken = (await this.#docker.listNetworks()).flatMap((n) => (n.IPAM?.Config ?? []).flatMap((c) => (c.Subnet ? [c.Subnet] : [])));
      const subnet = this.#subnets.next([...taken, ...refused]);
      try {
        const labels = {
          [`${LABEL}.managed`]: "true",
          [`${LABEL}.instance`]: this.#instance,
          [NETWORK_LABEL]: input.kind,
          ...(input.repository === undefined ? {} : { [`${LABEL}.repository`]: input.repository }),
          ...(input.environment === undefined ? {} : { [`${LABEL}.environment`]: input.environment }),
        };
        if (input.kind === "project" && this.#driver === "overlay") {
          // Not encrypted: that needs IPsec ESP in every node's kernel.
          await this.#docker.createNetwork({ Name: name, Driver: "overlay", Attachable: true, CheckDuplicate: true, IPAM: { Driver: "default", Config: [{ Subnet: subnet }] }, Labels: labels });
          this.#log.info({ network: name, subnet, driver: "overlay", repository: input.repository }, "created a network");
          continue;
        }
        await this.#docker.createNetwork({
          Name: name,
          Driver: "bridge",
          CheckDuplicate: true,
          Internal: false,
          EnableIPv6: false,
          IPAM: { Driver: "default", Config: [{ Subnet: subnet }] },
          Options: {
            "com.docker.network.bridge.name": bridge,
            // Builds must not reach each other; a project's containers and eserveless must.
            "com.docker.network.bridge.enable_icc": input.kind === "build" ? "false" : "true",
            "com.docker.network.bridge.enable_ip_masquerade": "true",
          },
          Labels: labels,
        });
        this.#log.info({ network: name, subnet, bridge, repository: input.repository, environment: input.environment }, "created a network");
      } catch (error) {
        if (statusCode(error) === 409) continue;
        if (/overlap/i.test(errorMessage(error))) {
          refused.push(subnet);
          continue;
        }
        throw new UpstreamError(`Docker could not create the network ${name} (${subnet}): ${errorMessage(error)}`, { cause: error, code: "network_failed" });
      }
    }
  }

  /** Connects eserveless's own container to the network, once. */
  async #join(name: string, network: Docker.NetworkInspectInfo): Promise<void> {
    const self = await this.#resolveSelf();
    if (network.Containers && self in network.Containers) return;
    try {
      await this.#docker.getNetwork(name).connect({ Container: self });
    } catch (error) {
      // Already connected (a race with another call of this process, or a restart).
      if (statusCode(error) === 403 && /already exists/i.test(errorMessage(error))) return;
      throw new UpstreamError(`Docker could not connect eserveless's container to the network ${name}: ${errorMessage(error)}`, { cause: error, code: "network_failed" });
    }
  }

  /** The full id of ESERVELESS_CONTAINER, checked once. */
  #resolveSelf(): Promise<string> {
    this.#selfId ??= this.#docker
      .getContainer(this.#self!)
      .inspect()
      .then(
        (info) => info.Id,
        (error: unknown) => {
          this.#selfId = undefined;
          throw new UpstreamError(
            statusCode(error) === 404
              ? `ESERVELESS_CONTAINER: Docker has no container "${this.#self}"; set it to the name or id of the container eserveless runs in (auto uses HOSTNAME, the short id Docker gives a container unless its hostname is set)`
              : `Docker could not look up eserveless's own container "${this.#self}": ${errorMessage(error)}`,
            { cause: error, code: "self_container_missing" },
          );
        },
      );
    return this.#selfId;
  }

  /** Disconnects eserveless's container, removes the network's holder and the network; false when it stays (still in use). */
  async #remove(name: string): Promise<boolean> {
    try {
      const sharing = this.#holders ? await this.#holders.remove(name) : [];
      if (sharing.length > 0) {
        this.#log.warn({ network: name, containers: sharing }, "could not remove a network: containers still share its holder's namespace; the next start tries again");
        return false;
      }
      // Not connected (never joined, or a restart in another container) is fine: the removal says what matters.
      if (this.#self !== undefined) await this.#docker.getNetwork(name).disconnect({ Container: this.#self, Force: true }).catch(() => undefined);
      await this.#docker.getNetwork(name).remove();
      this.#log.info({ network: name }, "removed a network");
      return true;
    } catch (error) {
      if (statusCode(error) === 404) return true;
      this.#log.warn({ err: error, network: name }, "could not remove a network; the next start tries again");
      return false;
    }
  }
}
