import type Database from "better-sqlite3";
import * as v from "valibot";
import { CronSpecSchema, HttpSpecSchema, type StoredSpec } from "../manifest/manifest-schema.js";
import { PRODUCTION } from "./deployment-store.js";
import { parseRow } from "./parse-row.js";

const liveEntries = { repository: v.string(), environment: v.string(), name: v.string(), deploymentId: v.string(), commit: v.string(), image: v.string() };

/** A live function: where it comes from, and its spec, parsed once here with its type's schema. */
const LiveFunctionSchema = v.variant("type", [
  v.object({ ...liveEntries, type: v.literal("http"), spec: HttpSpecSchema }),
  v.object({ ...liveEntries, type: v.literal("cron"), spec: CronSpecSchema }),
]);

const LiveFunctionRow = v.pipe(
  v.object({
    repository: v.string(),
    environment: v.string(),
    name: v.string(),
    type: v.string(),
    deployment_id: v.string(),
    commit_sha: v.string(),
    image: v.string(),
    spec: v.pipe(v.string(), v.parseJson()),
  }),
  v.transform((row) => ({
    repository: row.repository,
    environment: row.environment,
    name: row.name,
    type: row.type,
    deploymentId: row.deployment_id,
    commit: row.commit_sha,
    image: row.image,
    spec: row.spec,
  })),
  LiveFunctionSchema,
);

/** A function of a repository's live deployment: an http or a cron one, with the spec of its type. */
export type LiveFunction = v.InferOutput<typeof LiveFunctionSchema>;
/** A live function that answers HTTP requests. */
export type LiveHttpFunction = Extract<LiveFunction, { type: "http" }>;
/** A live function that runs on a schedule. */
export type LiveCronFunction = Extract<LiveFunction, { type: "cron" }>;

/** The live function that `spec` becomes once its deployment is live. */
export function liveFunctionOf(input: { repository: string; environment?: string; deploymentId: string; commit: string; image: string }, spec: StoredSpec): LiveFunction {
  const deployment = { ...input, environment: input.environment ?? PRODUCTION };
  return spec.type === "http" ? { ...deployment, name: spec.name, type: "http", spec } : { ...deployment, name: spec.name, type: "cron", spec };
}

const UNREADABLE = ["a live function", "deploy its repository again to replace it"] as const;
const KeyRow = v.object({ repository: v.string(), environment: v.string(), name: v.string() });
const cacheKey = (repository: string, name: string, environment: string) => `${environment}:${repository}/${name}`.toLowerCase();

/** The functions each repository serves, per environment: those of the environment's live deployment. */
export type LiveFunctionStore = ReturnType<typeof createLiveFunctionStore>;

/** The functions table of `db`. */
export function createLiveFunctionStore(db: Database.Database) {
  const selectLive = db.prepare(`SELECT * FROM functions WHERE repository = ? AND environment = ? AND name = ?`);
  // Only this process writes the functions table, so the cache is dropped on each switch. A row is
  // parsed once (its schedule and time zone are checked again), then handed out as the same object.
  const liveCache = new Map<string, LiveFunction | undefined>();
  const toLiveFunction = (row: unknown): LiveFunction => {
    const { repository, name, environment } = parseRow(KeyRow, row, ...UNREADABLE);
    const key = cacheKey(repository, name, environment);
    let fn = liveCache.get(key);
    if (!fn) liveCache.set(key, (fn = parseRow(LiveFunctionRow, row, ...UNREADABLE)));
    return fn;
  };

  return {
    /** Switches a repository's live functions in `environment` to those of one deployment, atomically; other environments keep theirs. */
    setLiveFunctions(repository: string, deployment: { id: string; commit: string; image: string }, specs: StoredSpec[], environment: string = PRODUCTION): void {
      liveCache.clear();
      db.transaction(() => {
        db.prepare(`DELETE FROM functions WHERE repository = ? AND environment = ?`).run(repository, environment);
        const insert = db.prepare(
          `INSERT INTO functions (repository, environment, name, type, deployment_id, commit_sha, image, spec) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        );
        for (const spec of specs) {
          insert.run(repository, environment, spec.name, spec.type, deployment.id, deployment.commit, deployment.image, JSON.stringify(spec));
        }
      })();
    },

    /** One live function of `environment`; answered from memory after the first look-up (every invocation asks). */
    liveFunction(repository: string, name: string, environment: string = PRODUCTION): LiveFunction | undefined {
      const key = cacheKey(repository, name, environment);
      if (liveCache.has(key)) return liveCache.get(key);
      const row = selectLive.get(repository, environment, name);
      const fn = row === undefined ? undefined : toLiveFunction(row);
      liveCache.set(key, fn);
      return fn;
    },

    /**
     * Takes the live functions of a repository away: those of one environment
     * (a closed preview), or of every environment (`eserveless rm`). Returns
     * their distinct names.
     */
    removeLiveFunctions(repository: string, environment?: string): string[] {
      liveCache.clear();
      const rows = (
        environment === undefined
          ? db.prepare(`DELETE FROM functions WHERE repository = ? RETURNING name`).all(repository)
          : db.prepare(`DELETE FROM functions WHERE repository = ? AND environment = ? RETURNING name`).all(repository, environment)
      ) as Array<{ name: string }>;
      return [...new Set(rows.map((row) => row.name))].sort();
    },

    /** The live functions of `environment` (production unless told), of one repository (whatever its case) or of all, by repository and name. */
    liveFunctions(repository?: string, environment: string = PRODUCTION): LiveFunction[] {
      const rows = repository
        ? db.prepare(`SELECT * FROM functions WHERE repository = ? AND environment = ? ORDER BY name`).all(repository, environment)
        : db.prepare(`SELECT * FROM functions WHERE environment = ? ORDER BY repository, name`).all(environment);
      return rows.map(toLiveFunction);
    },

    /** Every live function of every environment (containers to adopt, images and networks in use). */
    allLiveFunctions(): LiveFunction[] {
      return db.prepare(`SELECT * FROM functions ORDER BY repository, environment, name`).all().map(toLiveFunction);
    },
  };
}
