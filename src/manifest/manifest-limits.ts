import type { Manifest } from "./manifest-schema.js";

const KIB = 1024;
const MIB = 1024 ** 2;
const GIB = 1024 ** 3;

/**
 * What this server lets a manifest ask for, from its configuration
 * (`ESERVELESS_MAX_*`). The manifest schema has absolute bounds; these are
 * the operator's, usually lower.
 */
export interface ManifestLimits {
  /** Largest `.eserveless.yaml` read, in bytes (ESERVELESS_MAX_MANIFEST_BYTES). */
  maxManifestBytes: number;
  /** Most functions per project (ESERVELESS_MAX_FUNCTIONS). */
  maxFunctions: number;
  /** Most `minReplicas` and `maxReplicas` per function (ESERVELESS_MAX_REPLICAS). */
  maxReplicas: number;
  /** Largest `memory` per function, in bytes (ESERVELESS_MAX_MEMORY). */
  maxMemoryBytes: number;
}

/** The limits of a server that sets none; config.ts takes its defaults from here. */
export const defaultManifestLimits: ManifestLimits = {
  maxManifestBytes: 64 * KIB,
  maxFunctions: 10,
  maxReplicas: 10,
  maxMemoryBytes: 1 * GIB,
};

/** A limit broken: the key path it is about and what to say. */
export interface LimitProblem {
  path: (string | number)[];
  message: string;
}

/** `1 GiB`, `512 MiB`, `64 KiB`: sizes as the messages and the README spell them. */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [["GiB", GIB], ["MiB", MIB], ["KiB", KIB]] as const) {
    if (bytes >= size) return `${Math.round((bytes / size) * 10) / 10} ${unit}`;
  }
  return `${bytes} bytes`;
}

/** Why a manifest file of `bytes` is refused, or undefined when it is small enough. */
export function manifestSizeProblem(fileName: string, bytes: number, limits: ManifestLimits): string | undefined {
  const cap = limits.maxManifestBytes;
  if (bytes <= cap) return undefined;
  return (
    `${fileName} is ${bytes} bytes, more than the ${cap} bytes${cap >= KIB ? ` (${formatSize(cap)})` : ""} this server reads ` +
    "(ESERVELESS_MAX_MANIFEST_BYTES); a manifest needs a few hundred bytes: keep data out of it"
  );
}

/** Why a list of `count` functions is refused, or undefined. */
export function functionCountProblem(count: number, limits: ManifestLimits): string | undefined {
  if (count <= limits.maxFunctions) return undefined;
  return `lists ${count} functions, more than this server's maximum of ${limits.maxFunctions} (ESERVELESS_MAX_FUNCTIONS); split the project, or ask the operator to raise it`;
}

/**
 * Checks a validated manifest against the server's limits. Values the
 * manifest wrote out (`raw`, as parsed) that pass a limit are problems;
 * defaults that pass it are lowered to it, so that a server with
 * ESERVELESS_MAX_REPLICAS=2 still deploys manifests that do not say.
 */
export function applyManifestLimits(manifest: Manifest, raw: unknown, limits: ManifestLimits): LimitProblem[] {
  const problems: LimitProblem[] = [];
  const rawFunctions = isRecord(raw) && Array.isArray(raw.functions) ? raw.functions : [];
  manifest.functions.forEach((fn, index) => {
    const written = isRecord(rawFunctions[index]) ? rawFunctions[index] : {};
    const given = (key: string) => written[key] !== undefined && written[key] !== null;
    const over = (key: string, value: unknown, limit: string, setting: string) =>
      problems.push({
        path: ["functions", index, key],
        message: `${JSON.stringify(value)} is over this server's maximum of ${limit} (${setting}); ask for less, or ask the operator to raise it`,
      });
    if (fn.memory > limits.maxMemoryBytes) {
      if (given("memory")) over("memory", written.memory, formatSize(limits.maxMemoryBytes), "ESERVELESS_MAX_MEMORY");
      else fn.memory = limits.maxMemoryBytes;
    }
    for (const key of ["minReplicas", "maxReplicas"] as const) {
      if (fn[key] <= limits.maxReplicas) continue;
      if (given(key)) over(key, written[key], String(limits.maxReplicas), "ESERVELESS_MAX_REPLICAS");
      else fn[key] = limits.maxReplicas;
    }
  });
  return problems;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
