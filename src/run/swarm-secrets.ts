import { createHmac, randomBytes } from "node:crypto";
import type Docker from "dockerode";
import { UpstreamError } from "../errors.js";
import { slug } from "../slug.js";
import { LABEL, eserveslessLabels, sandboxDefaults } from "./sandbox.js";
import { statusCode } from "./docker-error.js";

/** The label naming the variable a Docker secret of eserveless holds. */
export const SECRET_NAME_LABEL = `${LABEL}.secret`;

/** How a service's task spec mounts one Docker secret: `/run/secrets/NAME`, readable by the sandbox's user only. */
export interface SecretReference {
  SecretID: string;
  SecretName: string;
  File: { Name: string; UID: string; GID: string; Mode: number };
}

/** The deployment a set of values belongs to: its secrets are labelled with it. */
export interface SecretScope {
  repository: string;
  commit: string;
  deployment: string;
  environment?: string | undefined;
}

/** The sandbox's user owns the files: the runtime reads them, nothing else in the task can. */
const [UID = "65534", GID = "65534"] = sandboxDefaults.user.split(":");

/**
 * A function's secrets on a swarm as Docker secrets (kept encrypted in the
 * swarm's Raft log, sent only to the nodes running a task that mounts one),
 * never as environment variables of the service spec, which anyone with the
 * manager's API reads with `docker service inspect`. The runtimes export
 * `/run/secrets/*` into the environment before loading the user's code.
 *
 * Docker secrets are immutable: each value of each deployment gets its own,
 * named with a keyed hash (a random key per process, so a name tells nothing
 * of the value), and {@link prune} removes those no service mounts any more.
 */
export class SwarmSecrets {
  readonly #key = randomBytes(32);
  /** Secrets mounted by a service being created: prune leaves them. */
  readonly #pending = new Map<string, number>();
  /** Creations in flight, by name: concurrent starts of one deployment share one secret. */
  readonly #creating = new Map<string, Promise<string>>();
  #queued: Promise<number> | undefined;
  #last: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly docker: Docker,
    private readonly instance: string,
  ) {}

  /**
   * Creates (or reuses) a Docker secret per value and returns how a task
   * mounts them; call `release` once the service that mounts them exists (or
   * failed): until then {@link prune} leaves them.
   */
  async mount(values: Record<string, string>, scope: SecretScope): Promise<{ references: SecretReference[]; release(): void }> {
    const entries = Object.entries(values);
    const names = entries.map(([name, value]) => this.#secretName(name, value, scope));
    for (const name of names) this.#pending.set(name, (this.#pending.get(name) ?? 0) + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      for (const name of names) {
        const count = (this.#pending.get(name) ?? 1) - 1;
        if (count > 0) this.#pending.set(name, count);
        else this.#pending.delete(name);
      }
    };
    try {
      const references = await Promise.all(
        entries.map(async ([variable, value], index) => {
          const name = names[index]!;
          const id = await this.#ensure(name, variable, value, scope);
          return { SecretID: id, SecretName: name, File: { Name: variable, UID, GID, Mode: 0o400 } };
        }),
      );
      return { references, release };
    } catch (error) {
      release();
      throw error;
    }
  }

  /**
   * Removes this instance's Docker secrets that no service mounts (after a
   * service is removed, at start); those of a service being created stay.
   * Runs one at a time; calls made while one waits share it. Counts removals.
   */
  prune(): Promise<number> {
    if (this.#queued) return this.#queued;
    const run = this.#last
      .catch(() => undefined)
      .then(() => {
        this.#queued = undefined;
        return this.#prune();
      });
    this.#queued = run;
    this.#last = run;
    return run;
  }

  async #prune(): Promise<number> {
    const secrets = (await this.docker.listSecrets({ filters: { label: [`${LABEL}.instance=${this.instance}`] } })) as unknown as Array<{ ID: string; Spec: { Name: string } }>;
    if (secrets.length === 0) return 0;
    const services = (await this.docker.listServices()) as Array<{ Spec?: { TaskTemplate?: { ContainerSpec?: { Secrets?: Array<{ SecretID?: string }> } } } }>;
    const used = new Set(services.flatMap((s) => (s.Spec?.TaskTemplate?.ContainerSpec?.Secrets ?? []).map((r) => r.SecretID)));
    let removed = 0;
    for (const secret of secrets) {
      if (used.has(secret.ID) || this.#pending.has(secret.Spec.Name)) continue;
      try {
        await this.docker.getSecret(secret.ID).remove();
        removed++;
      } catch (error) {
        // Gone already, or mounted by a service created since the list was read (Docker refuses): the next prune sees it.
        if (statusCode(error) !== 404 && statusCode(error) !== 400) throw error;
      }
    }
    return removed;
  }

  /** A Docker secret name (at most 64 characters) unique to this value of this variable in this deployment. */
  #secretName(variable: string, value: string, scope: SecretScope): string {
    const hash = createHmac("sha256", this.#key).update(JSON.stringify([scope.repository, scope.environment ?? "", scope.deployment, variable, value])).digest("hex").slice(0, 12);
    const environment = slug(scope.environment ?? "production").slice(0, 8);
    return `eserveless-${this.instance.slice(0, 8)}-${slug(scope.repository).slice(0, 12)}-${environment}-${variable.slice(0, 12)}`.replace(/[^A-Za-z0-9_.-]/g, "-").slice(0, 51) + `-${hash}`;
  }

  #ensure(name: string, variable: string, value: string, scope: SecretScope): Promise<string> {
    let creating = this.#creating.get(name);
    if (!creating) {
      creating = this.#create(name, variable, value, scope).finally(() => this.#creating.delete(name));
      this.#creating.set(name, creating);
    }
    return creating;
  }

  async #create(name: string, variable: string, value: string, scope: SecretScope): Promise<string> {
    const labels = { ...eserveslessLabels({ instance: this.instance, ...scope }), [SECRET_NAME_LABEL]: variable };
    try {
      const created = (await this.docker.createSecret({ Name: name, Labels: labels, Data: Buffer.from(value, "utf8").toString("base64") })) as { id?: string; ID?: string };
      const id = created.id ?? created.ID;
      if (id) return id;
    } catch (error) {
      if (statusCode(error) !== 409) throw new UpstreamError(`Docker Swarm could not create the secret for ${variable}: ${(error as Error).message}`, { cause: error, code: "secret_create_failed" });
    }
    // Made already (by another start of this deployment): same name, same value.
    const found = ((await this.docker.listSecrets({ filters: { name: [name] } })) as unknown as Array<{ ID: string; Spec: { Name: string } }>).find((s) => s.Spec.Name === name);
    if (!found) throw new UpstreamError(`Docker Swarm could not create the secret for ${variable}`, { code: "secret_create_failed" });
    return found.ID;
  }
}
