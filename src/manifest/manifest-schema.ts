import { Cron } from "croner";
import * as v from "valibot";
import { MAX_SECRETS_PER_FUNCTION, secretNameRule } from "../contract/secret.js";

// The schema of `.eserveless.yaml`. It is the single source of the manifest
// types: they are inferred from its output, so defaults and normalised values
// (memory in bytes, meta as strings, lower-cased `type`) show in the types.
// Messages are phrased to follow a key path: readManifest prints
// `<file> line <n>: <path> <message>`.

/** Describes a YAML value for the "got …" part of a message. */
function describe(value: unknown): string {
  if (value === null || value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

function mustBe(what: string, input: unknown): string {
  return `must be ${what}, got ${describe(input)}`;
}

const must = (what: string) => (issue: v.BaseIssue<unknown>) => mustBe(what, issue.input);

// An object schema's own message is only used for a missing key here: whether a
// function or the manifest is a mapping at all is checked before.
const missingKey = (issue: v.BaseIssue<unknown>) => (issue.input === undefined ? "is required" : must("a mapping")(issue));

/** Path steps for issues that raw checks add; the formatter reads only `key`. */
function keyStep(input: Record<string, unknown>, key: string): v.ObjectPathItem {
  return { type: "object", origin: "value", input, key, value: input[key] };
}
function indexStep(input: unknown[], key: number): v.ArrayPathItem {
  return { type: "array", origin: "value", input, key, value: input[key] };
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** `schema`, for mappings only: valibot's record, object and variant take lists too. */
const mapping = <T extends v.GenericSchema>(schema: T, what: string) => v.pipe(v.unknown(), v.check(isRecord, must(what)), schema);

/** The variable a meta key becomes: `api-key` → `ESERVELESS_API_KEY`. */
export function metaVariableName(key: string): string {
  return `ESERVELESS_${key.toUpperCase().replace(/[^A-Z0-9_]/g, "_")}`;
}

/**
 * Variables that eserveless sets in every function container itself; a meta
 * key that becomes one of them is overridden (readManifest warns).
 */
export const RUNTIME_VARIABLES = ["ESERVELESS_FUNCTION", "ESERVELESS_FUNCTION_TYPE", "ESERVELESS_ENTRY", "ESERVELESS_HANDLER"] as const;

/** Runtimes that eserveless builds. */
export const RUNTIMES = ["node", "golang"] as const;

const MIB = 1024 ** 2;
const GIB = 1024 ** 3;
/** Memory of a function's container when its manifest entry says nothing, in MiB. */
const DEFAULT_MEMORY_MIB = 256;
/** The memory a function's container may ask for, in bytes. */
const MEMORY_RANGE = { min: 16 * MIB, max: 16 * GIB };
// Binary multiples whatever the spelling, as Docker reads `--memory 512m` and
// `512MB`: the limit ends up in a Docker HostConfig.
const MEMORY_UNITS: Record<string, number> = { b: 1, k: 1024, m: MIB, g: GIB, t: 1024 ** 4 };
const MEMORY_PATTERN = /^(\d+(?:\.\d+)?)\s*(b|[kmgt]i?b?)?$/i;

/** Bytes of a memory limit (`128m`, `256Mi`, `1g`, `512MB`, or a number of MiB); undefined if unreadable. */
export function memoryBytes(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value > 0 ? Math.round(value * MIB) : undefined;
  const match = MEMORY_PATTERN.exec(value.trim());
  if (!match) return undefined;
  const unit = match[2]?.[0]?.toLowerCase() ?? "m";
  return Math.round(Number(match[1]) * (MEMORY_UNITS[unit] ?? MIB));
}

/** Why croner refuses a schedule, or undefined when it accepts it. */
function cronProblem(expression: string): string | undefined {
  try {
    // Paused: the job is only parsed, never scheduled.
    new Cron(expression, { paused: true, mode: "5-or-6-parts" });
    return undefined;
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).replace(/^CronPattern: /, "");
    // croner counts "five, six, or seven parts"; the manifest takes 5 or 6 fields: say how many it got instead.
    if (/space separated parts are required/.test(message)) {
      const fields = expression.split(/\s+/).filter(Boolean).length;
      return `it has ${fields} ${fields === 1 ? "field" : "fields"}`;
    }
    return message;
  }
}

/** Longest `timeout`: an hour. Node's timers overflow past 2^31 ms (24.8 days) and fire at once. */
export const MAX_TIMEOUT_SECONDS = 3600;
/** Longest `idleTimeout`: a day. */
export const MAX_IDLE_TIMEOUT_SECONDS = 86_400;
/** Most `concurrency`: requests one container serves at once. */
export const MAX_CONCURRENCY = 1000;

const secondsMessage = must("a number of seconds greater than 0");
/** A duration in seconds, `fallback` when absent, at most `max` (a time limit that a timer can hold). */
const seconds = (fallback: number, max: number) =>
  v.nullish(
    v.pipe(
      v.number(secondsMessage),
      v.finite(secondsMessage),
      v.gtValue(0, secondsMessage),
      v.maxValue(max, (issue) => `must be at most ${max} seconds (${max / 3600} h), got ${describe(issue.input)}`),
    ),
    fallback,
  );

/** A whole number of at least `min` (and at most `max` when given), `fallback` when absent. */
const count = (min: number, fallback: number, max = Number.MAX_SAFE_INTEGER) => {
  const message = must(`a whole number of at least ${min}`);
  return v.nullish(
    v.pipe(v.number(message), v.integer(message), v.minValue(min, message), v.maxValue(max, (issue) => mustBe(`at most ${max}`, issue.input))),
    fallback,
  );
};

const NUL_MESSAGE = "must not contain a NUL character (\\0): an environment variable cannot hold one";
const noNul = (text: string) => !text.includes("\0");

/**
 * A value that ends up in an environment variable. Numbers and booleans become
 * strings; an empty value (`KEY:`) becomes "", as the original eserveless
 * (Go, decoding into map[string]string) read it.
 */
const variableValue = v.pipe(
  // One check rather than a union, which makes an issue per member: a hostile manifest has thousands of values.
  v.custom<string | number | boolean | null>(
    (value) => value === null || typeof value === "string" || typeof value === "number" || typeof value === "boolean",
    must("a string, number or boolean"),
  ),
  v.transform((value) => (value === null ? "" : String(value))),
  v.check(noNul, NUL_MESSAGE),
);

/** The `type` discriminator, case-insensitive as the original was lenient about `HTTP`. */
const functionType = <T extends string>(type: T) =>
  v.pipe(v.string(), v.trim(), v.toLowerCase(), v.literal(type));

const NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
const nameMessage = must('a name such as "api": a letter, then letters, digits, "_" or "-" (63 characters at most)');
const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Refuses meta keys that become the same variable (`a-b` and `a_b`). Runs even
 * when a value is invalid, so that every problem shows at once.
 */
const distinctMetaVariables = v.rawCheck<Record<string, string>>(({ dataset, addIssue }) => {
  const meta = dataset.value;
  if (!isRecord(meta)) return;
  const owners = new Map<string, string>();
  for (const key of Object.keys(meta)) {
    const variable = metaVariableName(key);
    const owner = owners.get(variable);
    if (owner === undefined) owners.set(variable, key);
    else addIssue({ message: `and meta ${JSON.stringify(owner)} both become ${variable}; rename one of them`, path: [keyStep(meta, key)] });
  }
});

/** Keys that http and cron functions share. */
const functionEntries = {
  /**
   * The exported function to call. It becomes part of URLs and Docker
   * container names, hence the character set; upper case is allowed because
   * the original used exported names like `API`.
   */
  name: v.pipe(v.string(nameMessage), v.regex(NAME_PATTERN, nameMessage)),
  /**
   * Memory limit of the function's container: `128m`, `256Mi`, `1g`, `512MB`
   * (all binary multiples) or a number of MiB; output in bytes. Default 256 MiB,
   * from 16 MiB to 16 GiB.
   */
  memory: v.nullish(
    v.pipe(
      v.union([v.string(), v.number()], must('a size such as "256m", "512Mi", "1g" or a number of MiB')),
      v.rawTransform(({ dataset, addIssue, NEVER }) => {
        const bytes = memoryBytes(dataset.value);
        if (bytes === undefined) {
          addIssue({ message: mustBe('a size such as "256m", "512Mi", "1g" or a number of MiB', dataset.value) });
          return NEVER;
        }
        if (bytes < MEMORY_RANGE.min || bytes > MEMORY_RANGE.max) {
          addIssue({ message: mustBe("between 16 MiB and 16 GiB", dataset.value) });
          return NEVER;
        }
        return bytes;
      }),
    ),
    DEFAULT_MEMORY_MIB,
  ),
  /**
   * Extra environment variables, passed as they are. Names must be valid
   * variable names and must not start with `ESERVELESS_`, which is meta's and
   * eserveless's own prefix.
   */
  env: v.nullish(
    mapping(
      v.record(
      v.pipe(
        v.string(),
        v.regex(ENV_NAME_PATTERN, 'is not a valid variable name: use letters, digits and "_", not starting with a digit'),
        v.check((key) => !key.startsWith("ESERVELESS_"), "is reserved: ESERVELESS_* variables come from meta and from eserveless"),
      ),
        variableValue,
      ),
      "a mapping of variable names to values",
    ),
    {},
  ),
  /**
   * Free-form metadata, as in the original eserveless: each key reaches the
   * function as `ESERVELESS_<KEY>` (see functionEnvironment).
   */
  meta: v.nullish(
    mapping(
      v.pipe(
        v.record(v.pipe(v.string(), v.minLength(1, "must not be an empty key"), v.check(noNul, "must not contain a NUL character (\\0)")), variableValue),
        distinctMetaVariables,
      ),
      "a mapping of keys to values",
    ),
    {},
  ),
  /**
   * The secrets the function gets as environment variables, under their own
   * names: set with `eserveless secrets set`, never in the repository. A
   * deployment that declares one not set fails before its build.
   */
  secrets: v.nullish(
    v.pipe(
      v.array(
        v.pipe(
          v.string(must("a secret name such as STRIPE_KEY")),
          v.rawCheck(({ dataset, addIssue }) => {
            const rule = dataset.typed ? secretNameRule(dataset.value) : undefined;
            if (rule) addIssue({ message: `${rule}, got ${describe(dataset.value)}` });
          }),
        ),
        must("a list of secret names such as [STRIPE_KEY, DB_URL]"),
      ),
      v.maxLength(MAX_SECRETS_PER_FUNCTION, (issue) => `must list at most ${MAX_SECRETS_PER_FUNCTION} secrets, got ${(issue.input as unknown[]).length}`),
      v.rawCheck(({ dataset, addIssue }) => {
        if (!dataset.typed) return;
        const seen = new Set<string>();
        dataset.value.forEach((name, index) => {
          if (seen.has(name)) addIssue({ message: `lists ${name} twice`, path: [indexStep(dataset.value, index)] });
          seen.add(name);
        });
      }),
    ),
    () => [],
  ),
  /** Requests one replica serves at a time. */
  concurrency: count(1, 100, MAX_CONCURRENCY),
  /** Replicas kept running when idle; 0 scales to zero. */
  minReplicas: count(0, 0),
  /** Most replicas run at once; at least minReplicas. */
  maxReplicas: count(1, 5),
  /** Seconds without requests before a replica above minReplicas stops. */
  idleTimeout: seconds(300, MAX_IDLE_TIMEOUT_SECONDS),
};

const cronOnly = (key: string) =>
  v.nullish(v.never(`is only allowed for cron functions (${key} of an http function would never be used)`));

/** How the node runtime calls an http function; see the `handler` key. */
export const HANDLERS = ["auto", "node", "fetch"] as const;
const handlerMessage = must('"node" (a (req, res) handler) or "fetch" (a (request) => Response handler)');

/** A function answering HTTP requests. */
const HttpFunctionSchema = v.object(
  {
    type: functionType("http"),
    ...functionEntries,
    /** Seconds a request may take; default 30, at most an hour. */
    timeout: seconds(30, MAX_TIMEOUT_SECONDS),
    /**
     * node only: how the function handles a request. `node`: a Node
     * `(req, res)` handler; `fetch`: a Fetch-style `(request) => Response`
     * function. Absent or `auto`: a function is a `(req, res)` handler and an
     * object with a `fetch` method (a Hono app, `{ fetch }`) is Fetch-style.
     */
    handler: v.optional(v.pipe(v.string(handlerMessage), v.trim(), v.toLowerCase(), v.picklist(HANDLERS, handlerMessage))),
    schedule: cronOnly("schedule"),
    timezone: cronOnly("timezone"),
  },
  missingKey,
);

const scheduleMessage = must('a cron expression such as "*/5 * * * *"');

/** A function run on a schedule. */
const CronFunctionSchema = v.object(
  {
    type: functionType("cron"),
    ...functionEntries,
    /** Seconds a run may take; default 60, at most an hour. */
    timeout: seconds(60, MAX_TIMEOUT_SECONDS),
    handler: v.nullish(v.never("is only allowed for http functions (a cron function is called with its meta, not a request)")),
    /**
     * When to run: 5 fields (`*\/5 * * * *`) or 6 with seconds first
     * (`*\/10 * * * * *`), as croner reads them.
     */
    schedule: v.pipe(
      v.string(scheduleMessage),
      v.trim(),
      v.rawCheck(({ dataset, addIssue }) => {
        if (!dataset.typed) return;
        const problem = cronProblem(dataset.value);
        if (problem !== undefined) {
          addIssue({
            message: `${JSON.stringify(dataset.value)} is not a valid cron expression (${problem}); use 5 fields "minute hour day month weekday", or 6 with seconds first`,
          });
        }
      }),
    ),
    /** IANA time zone the schedule is read in, such as "Europe/Paris"; default "UTC". */
    timezone: v.nullish(
      v.pipe(
        v.string(must('an IANA time zone such as "Europe/Paris"')),
        v.trim(),
        v.rawTransform(({ dataset, addIssue, NEVER }) => {
          try {
            // The canonical spelling: "europe/paris" → "Europe/Paris".
            return new Intl.DateTimeFormat(undefined, { timeZone: dataset.value }).resolvedOptions().timeZone;
          } catch {
            addIssue({ message: mustBe('an IANA time zone such as "Europe/Paris"', dataset.value) });
            return NEVER;
          }
        }),
      ),
      "UTC",
    ),
  },
  missingKey,
);

/** The keys a function may have. */
export const FUNCTION_KEYS = [...new Set([...Object.keys(HttpFunctionSchema.entries), ...Object.keys(CronFunctionSchema.entries)])];

/** One entry of `functions`, told apart by `type`. */
export const FunctionSchema = v.pipe(
  v.unknown(),
  v.check(isRecord, must("a mapping with name: and type:")),
  v.variant("type", [HttpFunctionSchema, CronFunctionSchema], must('"http" or "cron"')),
  v.forward(
    v.partialCheck(
      [["minReplicas"], ["maxReplicas"]],
      // May run on a function whose other keys failed (so that all problems
      // show at once); the typeof checks keep it to numbers.
      (fn) => typeof fn.minReplicas !== "number" || typeof fn.maxReplicas !== "number" || fn.maxReplicas >= fn.minReplicas,
      (issue) => mustBe("at least minReplicas", (issue.input as { maxReplicas?: unknown }).maxReplicas),
    ),
    ["maxReplicas"],
  ),
  // A variable comes from the repository or from a secret, never both.
  v.forward(
    v.partialCheck(
      [["secrets"], ["env"]],
      (fn) => !Array.isArray(fn.secrets) || !isRecord(fn.env) || !fn.secrets.some((name) => typeof name === "string" && name in (fn.env as object)),
      (issue) => {
        const fn = issue.input as { secrets: string[]; env: Record<string, unknown> };
        const both = fn.secrets.filter((name) => name in fn.env);
        return `lists ${both.join(", ")}, which ${both.length === 1 ? "is also a key" : "are also keys"} of env; a variable comes from env (in the repository) or from a secret, not both`;
      },
    ),
    ["secrets"],
  ),
  // http functions have no schedule or timezone, cron functions no handler, in the output type too.
  v.transform((fn) => {
    if (fn.type === "cron") {
      const { handler: _handler, ...cron } = fn;
      return cron;
    }
    const { schedule: _schedule, timezone: _timezone, ...http } = fn;
    return http;
  }),
);

/**
 * node: the module, relative to the repository root, that exports the
 * functions; default `functions.js` as in the original. golang builds the
 * root package and ignores it.
 */
const EntrySchema = v.nullish(
  v.pipe(
    v.string(must('a path such as "functions.js"')),
    v.trim(),
    v.check(
      (entry) => entry !== "" && noNul(entry) && !/^([/\\]|[A-Za-z]:)/.test(entry) && !entry.split(/[/\\]/).includes(".."),
      must('a path inside the repository such as "functions.js"'),
    ),
  ),
  "functions.js",
);

/**
 * `node` or `golang`. readManifest infers it from package.json or go.mod
 * when it is missing, and maps misspellings such as `nodejs`.
 */
const RuntimeSchema = v.pipe(v.string(must('"node" or "golang"')), v.trim(), v.toLowerCase(), v.picklist(RUNTIMES, must('"node" or "golang"')));

/** Most names `waitForChecks` may list, and their longest: a check's name is a status context or a check run's. */
const MAX_CHECKS = 50;
const MAX_CHECK_NAME = 200;
const checksMessage = must("true, false or a list of check names such as [ci/test, lint]");

/**
 * `waitForChecks`: `true` waits for every other status and check run on the
 * commit, a list for the named ones; absent or `false`, none.
 */
const WaitForChecksSchema = v.nullish(
  v.union(
    [
      v.boolean(),
      v.pipe(
        v.array(v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(MAX_CHECK_NAME))),
        v.minLength(1),
        v.maxLength(MAX_CHECKS),
        v.transform((names) => [...new Set(names)]),
      ),
    ],
    checksMessage,
  ),
  false,
);

/** The whole `.eserveless.yaml`. */
export const ManifestSchema = v.object(
  {
    /** The repository, for information only (the original wrote its URL here). */
    repo: v.optional(v.pipe(v.nullable(v.string(must("a string"))), v.transform((repo) => repo ?? undefined))),
    runtime: RuntimeSchema,
    entry: EntrySchema,
    /** Deploy only once the commit's other checks succeeded (production; see wait-for-checks.ts). */
    waitForChecks: WaitForChecksSchema,
    /** The functions to deploy: at least one, names unique regardless of case. */
    functions: v.pipe(
      v.array(FunctionSchema, (issue) => (issue.input == null ? "must list at least one function" : must("a list of functions")(issue))),
      v.minLength(1, "must list at least one function"),
      // Names become URLs and container names, where `api` and `API` collide.
      // Runs even when some functions are invalid, hence the defensive reads.
      v.rawCheck(({ dataset, addIssue }) => {
        const functions: unknown[] | undefined = Array.isArray(dataset.value) ? dataset.value : undefined;
        const seen = new Map<string, number>();
        functions?.forEach((fn, index) => {
          if (!isRecord(fn) || typeof fn.name !== "string") return;
          const first = seen.get(fn.name.toLowerCase());
          if (first === undefined) {
            seen.set(fn.name.toLowerCase(), index);
            return;
          }
          addIssue({
            message: `${JSON.stringify(fn.name)} is also the name of functions[${first}] (${JSON.stringify((functions[first] as { name: string }).name)}); names must differ regardless of case, as they become URLs and container names`,
            path: [indexStep(functions, index), keyStep(fn, "name")],
          });
        });
      }),
    ),
  },
  missingKey,
);

/** A validated manifest, defaults applied. */
export type Manifest = v.InferOutput<typeof ManifestSchema>;
/** One function of a manifest: http or cron. */
export type FunctionSpec = v.InferOutput<typeof FunctionSchema>;
/** An http function. */
export type HttpFunctionSpec = Extract<FunctionSpec, { type: "http" }>;
/** A cron function. */
export type CronFunctionSpec = Extract<FunctionSpec, { type: "cron" }>;
/** A runtime that eserveless builds. */
export type Runtime = Manifest["runtime"];

/**
 * What a deployment keeps of each function besides the manifest entry: the
 * manifest-wide settings it runs with. Memory is kept in bytes, the entry's
 * output; the manifest's own `memory` would read a number as MiB.
 */
const storedEntries = {
  memory: v.nullish(v.pipe(v.number(), v.integer(), v.minValue(MEMORY_RANGE.min), v.maxValue(MEMORY_RANGE.max)), DEFAULT_MEMORY_MIB * MIB),
  entry: EntrySchema,
  runtime: RuntimeSchema,
};
const { schedule: _schedule, timezone: _timezone, ...httpEntries } = HttpFunctionSchema.entries;
const { handler: _handler, ...cronEntries } = CronFunctionSchema.entries;

/**
 * An http function as its deployment keeps it live: its manifest entry (the
 * output of {@link FunctionSchema}) plus the manifest's `entry` and `runtime`.
 * Made of the manifest's own keys, so that it reads back what the manifest
 * schema wrote, and fills a key missing from an older record with the same
 * default.
 */
export const HttpSpecSchema = v.object({ ...httpEntries, ...storedEntries });
/** A cron function as its deployment keeps it live; see {@link HttpSpecSchema}. */
export const CronSpecSchema = v.object({ ...cronEntries, ...storedEntries });
/** The spec of a live function, told apart by `type`. */
export const StoredSpecSchema = v.variant("type", [HttpSpecSchema, CronSpecSchema]);

/** An http function as its deployment keeps it live, defaults applied. */
export type HttpSpec = v.InferOutput<typeof HttpSpecSchema>;
/** A cron function as its deployment keeps it live, defaults applied. */
export type CronSpec = v.InferOutput<typeof CronSpecSchema>;
/** The spec of a live function: http or cron. */
export type StoredSpec = HttpSpec | CronSpec;

/** What a deployment keeps of one function of its manifest. */
export function storedSpec(fn: FunctionSpec, manifest: Pick<Manifest, "entry" | "runtime">): StoredSpec {
  return { ...fn, entry: manifest.entry, runtime: manifest.runtime };
}
