import type { Logger } from "pino";
import { secretEnvironmentOf, type SecretEnvironment, type SecretRoll } from "../contract/secret.js";
import type { ContainerPool } from "../run/container-pool.js";
import type { Replica } from "../run/function-pool.js";
import { PRODUCTION } from "../store/deployment-store.js";
import type { LiveFunction, LiveFunctionStore } from "../store/live-function-store.js";
import { functionTarget } from "./function-target.js";

/** Rolls the live containers of the functions that declare a secret when its value changes. */
export type SecretRoller = ReturnType<typeof createSecretRoller>;

/** How a rolled function is named in answers: its name, with its preview's environment (`API (pr-5)`). */
const labelOf = (fn: LiveFunction) => (fn.environment === PRODUCTION ? fn.name : `${fn.name} (${fn.environment})`);

/**
 * After a secret changed: for each live http function that declares it, as
 * many new containers as serve now (at least minReplicas) are started with
 * the new value and ready on HTTP before the switch; then requests go to
 * them and the old ones drain (ContainerPool.replace). Nothing is rebuilt.
 * Cron functions read the value at each run. A `production` secret rolls
 * production's functions; a `preview` one, those of every open preview.
 * Rolls of one repository run one after another, so the last change wins.
 *
 * A deployment that starts its containers while a value changes is the
 * deployer's to catch, in one place: it reads {@link generation} before its
 * containers start and, once live, rolls when the count moved. So a roll
 * that finds another deployment went live while it started containers drops
 * them: that deployment's own containers either read the new value or are
 * rolled by its going live.
 */
export function createSecretRoller(parts: {
  store: Pick<LiveFunctionStore, "liveFunction" | "liveFunctions" | "allLiveFunctions">;
  pool: Pick<ContainerPool, "start" | "discard" | "replace" | "replicaCount">;
  log: Logger;
}) {
  const { store, pool } = parts;
  const chains = new Map<string, Promise<unknown>>();
  const generations = new Map<string, number>();

  /** The live functions that get `environment`'s secrets: production's, or those of every open preview of the repository. */
  const liveIn = (repository: string, environment: SecretEnvironment): LiveFunction[] =>
    environment === "production"
      ? store.liveFunctions(repository)
      : store.allLiveFunctions().filter((fn) => fn.repository.toLowerCase() === repository.toLowerCase() && secretEnvironmentOf(fn.environment) === environment);

  /** The live functions of `repository` getting `environment`'s secrets that declare one of `names`. */
  const declaring = (repository: string, names: readonly string[], environment: SecretEnvironment): LiveFunction[] =>
    liveIn(repository, environment).filter((fn) => fn.spec.secrets.some((name) => names.includes(name)));

  async function rollFunction(live: LiveFunction, names: readonly string[]): Promise<void> {
    const fn = store.liveFunction(live.repository, live.name, live.environment);
    if (!fn || fn.type !== "http" || !fn.spec.secrets.some((secret) => names.includes(secret))) return;
    const target = functionTarget(fn);
    const count = Math.min(Math.max(pool.replicaCount(fn.repository, fn.name, fn.environment), fn.spec.minReplicas), fn.spec.maxReplicas);
    const started = await Promise.allSettled(Array.from({ length: count }, () => pool.start(target)));
    const replicas = started.filter((s): s is PromiseFulfilledResult<Replica> => s.status === "fulfilled").map((s) => s.value);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed) {
      await pool.discard(replicas);
      throw new Error(`${fn.name} could not start with the new value: ${(failed.reason as Error).message}`);
    }
    // A deployment went live meanwhile: these are the old one's, and its going live rolls its own if they predate the change.
    if (store.liveFunction(fn.repository, fn.name, fn.environment)?.deploymentId !== fn.deploymentId) {
      await pool.discard(replicas);
      return;
    }
    pool.replace(target, replicas);
    parts.log.info({ repository: fn.repository, environment: fn.environment, function: fn.name, containers: count }, "secrets rolled: new containers serve");
  }

  return {
    /** The live functions of `repository` getting `environment`'s secrets that declare `name`. */
    declaring: (repository: string, name: string, environment: SecretEnvironment = "production") => declaring(repository, [name], environment),

    /** The live functions of `repository` that declare `name` of `environment`: names, with the preview for a preview's (`API (pr-5)`). */
    functionsDeclaring: (repository: string, name: string, environment: SecretEnvironment = "production") => declaring(repository, [name], environment).map(labelOf),

    /** Counts the changes of a repository's secrets of `environment`: a deployment reads it before its containers start and rolls once live when it moved. */
    generation: (repository: string, environment: SecretEnvironment = "production") => generations.get(`${environment}:${repository.toLowerCase()}`) ?? 0,

    /**
     * Rolls the functions of `repository` getting `environment`'s secrets
     * (production's, or every open preview's) that declare one of `names`
     * (every secret when absent); resolves once new containers serve, with
     * what happened.
     */
    roll(repository: string, names?: readonly string[], environment: SecretEnvironment = "production"): Promise<SecretRoll> {
      const key = repository.toLowerCase();
      const generation = `${environment}:${key}`;
      generations.set(generation, (generations.get(generation) ?? 0) + 1);
      const run = async (): Promise<SecretRoll> => {
        const wanted = names ?? [...new Set(liveIn(repository, environment).flatMap((fn) => fn.spec.secrets))];
        const live = declaring(repository, wanted, environment);
        const functions = live.map(labelOf);
        if (functions.length === 0) return { state: "none", functions };
        try {
          for (const fn of live) await rollFunction(fn, wanted);
          return { state: "live", functions };
        } catch (error) {
          parts.log.warn({ err: error, repository, environment }, "secrets roll failed; the previous containers still serve");
          return { state: "failed", functions, error: `${(error as Error).message}; the previous containers still serve` };
        }
      };
      const result = (chains.get(key) ?? Promise.resolve()).then(run, run);
      chains.set(key, result);
      void result.finally(() => {
        if (chains.get(key) === result) chains.delete(key);
      });
      return result;
    },
  };
}
