import { join } from "node:path";
import * as v from "valibot";
import { defaultLimits } from "./default-limits.js";
import { githubWebUrl } from "./github/app-setup.js";
import { DEFAULT_MAX_TARBALL_BYTES } from "./github/download-tarball.js";
import { defaultManifestLimits } from "./manifest/manifest-limits.js";
import { memoryBytes } from "./manifest/manifest-schema.js";
import { defaultContainerBudget } from "./run/container-budget.js";
import { DEFAULT_SCALE_UP_AFTER_MS } from "./run/function-pool.js";
import { DEFAULT_SCALE_UP_IDLE_CPUS } from "./run/router-saturation.js";
import { sandboxDefaults } from "./run/sandbox.js";
import { subnetPoolProblem } from "./run/subnet-pool.js";
import { SOCKETS_DIR, socketRootProblem } from "./run/socket-dirs.js";
import { parseProxyRange } from "./http/trusted-proxies.js";
import { parseSecretsKey } from "./store/secret-box.js";

const port = v.pipe(
  v.string(),
  v.regex(/^\d+$/, "must be a port number such as 3000"),
  v.transform(Number),
  v.minValue(0, "must be between 0 and 65535"),
  v.maxValue(65535, "must be between 0 and 65535"),
);

const positiveInt = (hint: string) =>
  v.pipe(v.string(), v.regex(/^\d+$/, `must be a whole number (${hint})`), v.transform(Number), v.minValue(1, `must be at least 1 (${hint})`));

/** A size as the manifest writes memory: `1g`, `512m`, `4GiB` (a plain number is MiB); at least `minMiB` (16, a function's least). */
const memorySize = (hint: string, minMiB = 16) =>
  v.pipe(
    v.string(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const bytes = memoryBytes(dataset.value);
      if (bytes === undefined || bytes < minMiB * 1024 ** 2) {
        addIssue({ message: `must be a size of at least ${minMiB}m such as 512m or 2g (${hint})` });
        return NEVER;
      }
      return bytes;
    }),
  );

const httpUrl = v.pipe(
  v.string(),
  v.url("must be an absolute URL such as https://example.com"),
  v.regex(/^https?:\/\//, "must start with http:// or https://"),
  v.transform((url) => url.replace(/\/+$/, "")),
);

/** A whole number from `min` to `max`, with the hint said on every problem. */
const boundedInt = (min: number, max: number, hint: string) =>
  v.pipe(
    v.string(),
    v.regex(/^\d+$/, `must be a whole number (${hint})`),
    v.transform(Number),
    v.minValue(min, `must be at least ${min} (${hint})`),
    v.maxValue(max, `must be at most ${max} (${hint})`),
  );

const cpus = (hint: string) =>
  v.pipe(
    v.string(),
    v.regex(/^\d+(\.\d+)?$/, `must be a number of CPUs such as 1 or 0.5 (${hint})`),
    v.transform(Number),
    v.minValue(0.01, `must be at least 0.01 (${hint})`),
    v.maxValue(256, `must be at most 256 (${hint})`),
  );
/** A separate origin for function URLs: scheme, host and port only, since the router serves `/fn/…` at its root. */
const originUrl = v.pipe(
  httpUrl,
  v.check((url) => {
    const parsed = new URL(url);
    return parsed.pathname === "/" && !parsed.search && !parsed.hash && !parsed.username && !parsed.password;
  }, "must be an origin without a path, such as https://fn.example.net"),
);

/** Comma- or space-separated addresses and CIDR ranges, parsed once here. */
const proxyRanges = v.pipe(
  v.string(),
  v.transform((list) => list.split(/[\s,]+/).filter(Boolean)),
  v.check(
    (entries) => entries.every((entry) => parseProxyRange(entry) !== undefined),
    (issue) => {
      const bad = (issue.input as string[]).filter((entry) => parseProxyRange(entry) === undefined);
      return `${bad.map((entry) => JSON.stringify(entry)).join(", ")} ${bad.length === 1 ? "is not an IP address or CIDR range" : "are not IP addresses or CIDR ranges"}; list your reverse proxies, such as 127.0.0.1, 10.0.0.0/8, ::1`;
    },
  ),
  v.transform((entries) => entries.map((entry) => parseProxyRange(entry)!)),
);

/** A key that seals secrets: 32 bytes as 64 hex digits or base64. */
const secretsKey = v.pipe(
  v.string(),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const key = parseSecretsKey(dataset.value);
    if (!key) {
      addIssue({ message: "must be 32 bytes, as 64 hex digits or base64; generate one with `openssl rand -base64 32`" });
      return NEVER;
    }
    return key;
  }),
);
/** Credentials: a refusal names the variable and never echoes its value into the log. */
const UNQUOTED = new Set(["ESERVELESS_SECRETS_KEY", "ESERVELESS_SECRETS_KEY_PREVIOUS", "ESERVELESS_ADMIN_TOKEN", "WEBHOOK_SECRET", "PRIVATE_KEY"]);

const optionalText = v.optional(v.pipe(v.string(), v.trim(), v.transform((s) => (s === "" ? undefined : s))));

/** The environment variables eserveless reads; Probot's names where Probot has one. */
const EnvFields = v.object({
  PORT: v.optional(port, "3000"),
  // Loopback: function containers reach the host's other addresses. The Dockerfile sets 0.0.0.0.
  HOST: v.optional(v.pipe(v.string(), v.nonEmpty("must not be empty")), "127.0.0.1"),
  PUBLIC_URL: v.optional(httpUrl),
  ESERVELESS_FUNCTIONS_URL: v.optional(originUrl),
  ESERVELESS_TRUSTED_PROXIES: v.optional(proxyRanges, ""),
  APP_ID: v.optional(v.pipe(v.string(), v.regex(/^\d+$/, "must be the numeric App ID shown on the App's settings page"))),
  PRIVATE_KEY: optionalText,
  PRIVATE_KEY_PATH: optionalText,
  WEBHOOK_SECRET: optionalText,
  GITHUB_API_URL: v.optional(httpUrl, "https://api.github.com"),
  GITHUB_URL: v.optional(httpUrl),
  ESERVELESS_ADMIN_TOKEN: v.optional(
    v.pipe(v.string(), v.minLength(16, "must be at least 16 characters; generate one with `openssl rand -hex 32`")),
  ),
  ESERVELESS_SECRETS_KEY: v.optional(secretsKey),
  ESERVELESS_SECRETS_KEY_PREVIOUS: v.optional(secretsKey),
  DATA_DIR: v.optional(v.pipe(v.string(), v.nonEmpty("must not be empty")), "./data"),
  ESERVELESS_NODE_IMAGE: v.optional(v.pipe(v.string(), v.nonEmpty()), "node:20-alpine"),
  ESERVELESS_GO_IMAGE: v.optional(v.pipe(v.string(), v.nonEmpty()), "golang:1.22-alpine"),
  ESERVELESS_MAX_SOURCE_BYTES: v.optional(positiveInt("bytes a commit may unpack to"), String(defaultLimits.sourceBytes)),
  ESERVELESS_MAX_SOURCE_FILES: v.optional(positiveInt("files a commit may hold"), String(defaultLimits.sourceFiles)),
  ESERVELESS_MAX_TARBALL_BYTES: v.optional(positiveInt("bytes of a commit's compressed tarball"), String(DEFAULT_MAX_TARBALL_BYTES)),
  ESERVELESS_MAX_BODY_BYTES: v.optional(positiveInt("bytes a request body may have"), String(defaultLimits.bodyBytes)),
  ESERVELESS_COLD_START_TIMEOUT: v.optional(positiveInt("seconds a request waits for a container to start"), "30"),
  ESERVELESS_QUEUE_SIZE: v.optional(positiveInt("requests per function that may wait for capacity"), "100"),
  ESERVELESS_MAX_WAITING: v.optional(positiveInt("requests that may wait for capacity across all functions"), "1000"),
  ESERVELESS_SCALE_UP_AFTER_MS: v.optional(
    boundedInt(0, 60_000, "milliseconds a request may wait for a slot on a running container before another starts"),
    String(DEFAULT_SCALE_UP_AFTER_MS),
  ),
  ESERVELESS_SCALE_UP_IDLE_CPUS: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d{1,4}(\.\d{1,3})?$/, "must be a number of CPUs such as 0.5 (0 leaves the host's CPU out of scaling)"),
      v.transform(Number),
      v.maxValue(1024, "must be at most 1024 CPUs"),
    ),
    String(DEFAULT_SCALE_UP_IDLE_CPUS),
  ),
  ESERVELESS_PAUSE_AFTER: v.optional(v.pipe(v.string(), v.regex(/^\d+$/, "must be a whole number of seconds (0 disables pausing)"), v.transform(Number)), "0"),
  ESERVELESS_DOCKER_NETWORK: v.optional(
    v.custom<never>(
      () => false,
      "is no longer read: each project now gets a Docker network of its own. When eserveless runs in a container, set ESERVELESS_CONTAINER=auto instead (compose.yaml does)",
    ),
  ),
  ESERVELESS_NETWORK_POOL: v.optional(v.pipe(v.string(), v.trim()), "10.207.0.0/16"),
  ESERVELESS_NETWORK_SIZE: v.optional(boundedInt(16, 29, "the prefix length of each project's network, 26 for 61 containers"), "26"),
  ESERVELESS_CONTAINER: optionalText,
  HOSTNAME: optionalText,
  ESERVELESS_TRANSPORT: v.optional(v.picklist(["auto", "unix", "tcp"], "must be auto, unix or tcp"), "auto"),
  // Read by dockerode itself; here only to tell a local engine from a remote one.
  DOCKER_HOST: optionalText,
  ESERVELESS_BUILD_MEMORY: v.optional(memorySize("the memory an image build may use", 64), "2g"),
  ESERVELESS_BUILD_CPUS: v.optional(cpus("the CPUs an image build may use"), "1"),
  ESERVELESS_BUILD_TIMEOUT: v.optional(boundedInt(1, 86_400, "seconds an image build may take"), "600"),
  ESERVELESS_MAX_CONCURRENT_BUILDS: v.optional(boundedInt(1, 64, "image builds that run at once; more wait"), "2"),
  ESERVELESS_MAX_MANIFEST_BYTES: v.optional(positiveInt("bytes a .eserveless.yaml may have"), String(defaultManifestLimits.maxManifestBytes)),
  ESERVELESS_MAX_FUNCTIONS: v.optional(positiveInt("functions a project may have"), String(defaultManifestLimits.maxFunctions)),
  ESERVELESS_MAX_REPLICAS: v.optional(positiveInt("minReplicas and maxReplicas a function may ask for"), String(defaultManifestLimits.maxReplicas)),
  ESERVELESS_MAX_MEMORY: v.optional(memorySize("memory a function may ask for"), `${defaultManifestLimits.maxMemoryBytes / 1024 ** 2}m`),
  ESERVELESS_MAX_CPUS: v.optional(cpus("the CPUs each function container may use"), String(sandboxDefaults.nanoCpus / 1e9)),
  ESERVELESS_MAX_CONTAINERS: v.optional(positiveInt("function containers at once, all projects together"), String(defaultContainerBudget.maxContainers)),
  ESERVELESS_MEMORY_BUDGET: v.optional(memorySize("memory all function containers may hold together"), `${defaultContainerBudget.memoryBytes / 1024 ** 2}m`),
  ESERVELESS_KEEP_RELEASES: v.optional(boundedInt(1, 100, "latest releases of a repository whose images are kept for a rollback"), "5"),
  ESERVELESS_CHECKS_GRACE: v.optional(boundedInt(0, 3600, "seconds a waitForChecks: true deployment waits for the first check to appear"), "60"),
  ESERVELESS_CHECKS_TIMEOUT: v.optional(boundedInt(1, 86_400, "seconds a waitForChecks deployment waits for its checks to end"), "1800"),
  ESERVELESS_MAX_PREVIEWS: v.optional(boundedInt(0, 1000, "pull-request previews per repository, the oldest removed first; 0 turns previews off"), "10"),
  ESERVELESS_PREVIEW_IDLE_TIMEOUT: v.optional(boundedInt(1, 86_400, "seconds a preview's replica stays up without requests"), "60"),
  ESERVELESS_ORCHESTRATOR: v.optional(v.picklist(["docker", "swarm"], "must be docker (containers on this host) or swarm (services on a Docker Swarm this engine manages)"), "docker"),
  ESERVELESS_REGISTRY: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$/i, "must be a registry's host:port such as registry.internal:5000, reachable from every node, without a scheme or path"),
    ),
  ),
  ESERVELESS_SWARM_NETWORK_SIZE: v.optional(boundedInt(16, 24, "the prefix length of each project's overlay network in swarm mode, 22 for 1021 addresses"), "22"),
  LOG_LEVEL: v.optional(v.picklist(["fatal", "error", "warn", "info", "debug", "trace", "silent"]), "info"),
  LOG_FORMAT: v.optional(v.picklist(["pretty", "json"], "must be pretty or json (unset: pretty on a terminal, JSON otherwise)")),
});

type PoolFields = { ESERVELESS_NETWORK_POOL: string; ESERVELESS_NETWORK_SIZE: number };
const poolProblem = (input: PoolFields) => subnetPoolProblem(input.ESERVELESS_NETWORK_POOL, input.ESERVELESS_NETWORK_SIZE);

// Settings checked together: each is reported even when other variables are bad.
const EnvSchema = v.pipe(
  EnvFields,
  v.forward(
    v.partialCheck(
      [["ESERVELESS_NETWORK_POOL"], ["ESERVELESS_NETWORK_SIZE"]],
      (input) => poolProblem(input) === undefined,
      (issue) => poolProblem(issue.input as PoolFields) ?? "is not a pool of networks",
    ),
    ["ESERVELESS_NETWORK_POOL"],
  ),
  v.forward(
    v.partialCheck(
      [["ESERVELESS_ORCHESTRATOR"], ["ESERVELESS_REGISTRY"]],
      (input) => input.ESERVELESS_ORCHESTRATOR !== "swarm" || input.ESERVELESS_REGISTRY !== undefined,
      "swarm needs ESERVELESS_REGISTRY, the host:port of a registry every node pulls function images from (such as registry.internal:5000)",
    ),
    ["ESERVELESS_ORCHESTRATOR"],
  ),
  v.forward(
    v.partialCheck(
      [["ESERVELESS_ORCHESTRATOR"], ["ESERVELESS_CONTAINER"]],
      (input) => input.ESERVELESS_ORCHESTRATOR !== "swarm" || input.ESERVELESS_CONTAINER !== undefined,
      "swarm needs eserveless to run in a container on a manager node, with ESERVELESS_CONTAINER=auto, so it can join each project's overlay network",
    ),
    ["ESERVELESS_ORCHESTRATOR"],
  ),
  v.forward(
    v.partialCheck(
      [["ESERVELESS_CONTAINER"], ["HOSTNAME"]],
      (input) => input.ESERVELESS_CONTAINER !== "auto" || input.HOSTNAME !== undefined,
      "auto takes the container's id from HOSTNAME, which is not set; set ESERVELESS_CONTAINER to the name or id of the container eserveless runs in",
    ),
    ["ESERVELESS_CONTAINER"],
  ),
  v.forward(
    v.partialCheck(
      [["ESERVELESS_TRANSPORT"], ["ESERVELESS_CONTAINER"], ["DOCKER_HOST"], ["DATA_DIR"]],
      (input) => input.ESERVELESS_TRANSPORT !== "unix" || unixProblem(input) === undefined,
      (issue) => unixProblem(issue.input as TransportFields) ?? "cannot be unix here",
    ),
    ["ESERVELESS_TRANSPORT"],
  ),
);

type TransportFields = { ESERVELESS_CONTAINER?: string; DOCKER_HOST?: string; DATA_DIR: string };
/** Why function containers cannot share a socket directory with this eserveless, or undefined when they can. */
function unixProblem(input: TransportFields): string | undefined {
  if (input.ESERVELESS_CONTAINER !== undefined) {
    return "eserveless runs in a container (ESERVELESS_CONTAINER), so it cannot share a host folder with function containers; use tcp or auto";
  }
  if (input.DOCKER_HOST !== undefined && !input.DOCKER_HOST.startsWith("unix://")) {
    return `the Docker engine is remote (DOCKER_HOST=${input.DOCKER_HOST}), so its containers cannot reach this machine's folders; use tcp or auto`;
  }
  const tooLong = socketRootProblem(join(input.DATA_DIR, SOCKETS_DIR));
  if (tooLong !== undefined) return `DATA_DIR (${input.DATA_DIR}) is too deep: ${tooLong}; use a shorter DATA_DIR, or tcp or auto`;
  return undefined;
}
/** PUBLIC_URL, or where this server answers locally. */
const publicUrlOf = (env: { PUBLIC_URL?: string; PORT: number }) => env.PUBLIC_URL ?? `http://localhost:${env.PORT}`;

/** Raised with every bad variable listed, one per line, so an operator fixes all at once. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** The App's private key from PRIVATE_KEY (literal \n accepted) or PRIVATE_KEY_PATH; problems are added to `problems`. */
function readPrivateKey(env: Record<string, string | undefined>, readFile: (path: string) => string, problems: string[]): string | undefined {
  let key = env.PRIVATE_KEY?.trim().replace(/\\n/g, "\n");
  if (!key && env.PRIVATE_KEY_PATH) {
    try {
      key = readFile(env.PRIVATE_KEY_PATH.trim());
    } catch (error) {
      problems.push(`PRIVATE_KEY_PATH: cannot read ${env.PRIVATE_KEY_PATH} (${(error as Error).message})`);
    }
  }
  if (key && !/-----BEGIN (RSA )?PRIVATE KEY-----/.test(key)) {
    problems.push("PRIVATE_KEY: is not a PEM private key; paste the .pem file GitHub gave you, or set PRIVATE_KEY_PATH to it");
  }
  return key || undefined;
}

/** Validated settings; GitHub credentials are absent until the App is set up. */
export type Config = ReturnType<typeof readConfig>;

/**
 * Reads and validates the configuration from an environment map (normally
 * `process.env`). Throws {@link ConfigError} naming each bad variable.
 */
export function readConfig(env: Record<string, string | undefined>, readFile: (path: string) => string = () => "") {
  // Empty strings mean "unset", as in shells and compose files.
  const defined = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ""));
  const result = v.safeParse(EnvSchema, defined);
  const problems = result.success
    ? []
    : result.issues.map((issue) => {
        const path = v.getDotPath(issue);
        // A check of several variables sees them all: echo the one it is about.
        const got = typeof issue.input === "object" && issue.input !== null && path ? defined[path] : issue.input;
        if (path !== null && UNQUOTED.has(path)) return `${path}: ${issue.message} (its value is not shown)`;
        return `${path ?? "environment"}: ${issue.message} (got ${JSON.stringify(got)})`;
      });
  const privateKey = readPrivateKey(defined, readFile, problems);
  if (result.success && result.output.ESERVELESS_FUNCTIONS_URL) {
    const publicUrl = publicUrlOf(result.output);
    // Cookies are scoped by hostname, not by port: only another hostname keeps the dashboard's cookie from functions.
    if (new URL(result.output.ESERVELESS_FUNCTIONS_URL).hostname === new URL(publicUrl).hostname) {
      problems.push(
        `ESERVELESS_FUNCTIONS_URL: must have another hostname than PUBLIC_URL (${publicUrl}); origins that differ only by port share cookies. Use a hostname of its own, best on another registrable domain (such as https://fn.example.net beside https://eserveless.example.com)`,
      );
    }
  }
  if (result.success && result.output.ESERVELESS_ORCHESTRATOR === "swarm") {
    const overlay = subnetPoolProblem(result.output.ESERVELESS_NETWORK_POOL, result.output.ESERVELESS_SWARM_NETWORK_SIZE);
    if (overlay !== undefined) {
      problems.push(
        `ESERVELESS_SWARM_NETWORK_SIZE: ESERVELESS_NETWORK_POOL ${result.output.ESERVELESS_NETWORK_POOL} ${overlay.replace("ESERVELESS_NETWORK_SIZE", "ESERVELESS_SWARM_NETWORK_SIZE").replace("one network", "one overlay network")}`,
      );
    }
  }
  if (!result.success || problems.length > 0) throw new ConfigError(problems);
  const e = result.output;

  const github =
    e.APP_ID && privateKey && e.WEBHOOK_SECRET
      ? { appId: Number(e.APP_ID), privateKey, webhookSecret: e.WEBHOOK_SECRET }
      : undefined;
  const missingGitHub = ["APP_ID", "PRIVATE_KEY", "WEBHOOK_SECRET"].filter(
    (name) => !(name === "PRIVATE_KEY" ? privateKey : e[name as "APP_ID" | "WEBHOOK_SECRET"]),
  );
  return {
    port: e.PORT,
    host: e.HOST,
    publicUrl: publicUrlOf(e),
    /** Where function URLs live when not under PUBLIC_URL: a hostname of their own. */
    functionsUrl: e.ESERVELESS_FUNCTIONS_URL,
    /** The reverse proxies whose forwarded headers are believed. */
    trustedProxies: e.ESERVELESS_TRUSTED_PROXIES,
    githubApiUrl: e.GITHUB_API_URL,
    /** GitHub's web host, where /setup sends people to create the App. */
    githubUrl: e.GITHUB_URL ?? githubWebUrl(e.GITHUB_API_URL),
    github,
    /** Which GitHub settings are missing, to tell the operator at start. */
    missingGitHub: github ? [] : missingGitHub,
    adminToken: e.ESERVELESS_ADMIN_TOKEN,
    dataDir: e.DATA_DIR,
    /** ESERVELESS_SECRETS_KEY (else DATA_DIR/secrets.key is used) and ESERVELESS_SECRETS_KEY_PREVIOUS, which start-up re-encrypts from. */
    secretsKey: { key: e.ESERVELESS_SECRETS_KEY, previous: e.ESERVELESS_SECRETS_KEY_PREVIOUS },
    images: { node: e.ESERVELESS_NODE_IMAGE, golang: e.ESERVELESS_GO_IMAGE },
    sourceLimits: { maxBytes: e.ESERVELESS_MAX_SOURCE_BYTES, maxFiles: e.ESERVELESS_MAX_SOURCE_FILES, maxTarballBytes: e.ESERVELESS_MAX_TARBALL_BYTES },
    pool: {
      maxBodyBytes: e.ESERVELESS_MAX_BODY_BYTES,
      coldStartTimeoutMs: e.ESERVELESS_COLD_START_TIMEOUT * 1000,
      queueSize: e.ESERVELESS_QUEUE_SIZE,
      maxWaiting: e.ESERVELESS_MAX_WAITING,
      pauseAfterMs: e.ESERVELESS_PAUSE_AFTER * 1000,
      scaleUpAfterMs: e.ESERVELESS_SCALE_UP_AFTER_MS,
      /** Idle CPUs the host needs over the last window for a container to start for queueing. */
      scaleUpIdleCpus: e.ESERVELESS_SCALE_UP_IDLE_CPUS,
    },
    networks: {
      pool: e.ESERVELESS_NETWORK_POOL,
      size: e.ESERVELESS_NETWORK_SIZE,
      /** The container eserveless runs in (Docker sets HOSTNAME to its short id), or undefined on the host. */
      container: e.ESERVELESS_CONTAINER === "auto" ? e.HOSTNAME : e.ESERVELESS_CONTAINER,
    },
    /**
     * How the router reaches function containers: `unix`, a socket in a folder
     * under DATA_DIR mounted into each container (no published port), or
     * `tcp`, a published port (or the container's name on its project network).
     * `auto` is unix unless eserveless runs in a container or the engine is remote.
     */
    transport: (e.ESERVELESS_TRANSPORT === "auto" ? (unixProblem(e) === undefined ? "unix" : "tcp") : e.ESERVELESS_TRANSPORT) as "unix" | "tcp",
    /** Where the socket folders live under unix: DATA_DIR/sockets. */
    socketsDir: join(e.DATA_DIR, SOCKETS_DIR),
    build: {
      memoryBytes: e.ESERVELESS_BUILD_MEMORY,
      cpus: e.ESERVELESS_BUILD_CPUS,
      timeoutMs: e.ESERVELESS_BUILD_TIMEOUT * 1000,
      maxConcurrent: e.ESERVELESS_MAX_CONCURRENT_BUILDS,
    },
    /** What a manifest may ask for; readManifest checks it. */
    manifestLimits: {
      maxManifestBytes: e.ESERVELESS_MAX_MANIFEST_BYTES,
      maxFunctions: e.ESERVELESS_MAX_FUNCTIONS,
      maxReplicas: e.ESERVELESS_MAX_REPLICAS,
      maxMemoryBytes: e.ESERVELESS_MAX_MEMORY,
    },
    /** What all function containers together may hold; checked at each container start. */
    containerBudget: { maxContainers: e.ESERVELESS_MAX_CONTAINERS, memoryBytes: e.ESERVELESS_MEMORY_BUDGET },
    /** CPUs each function container may use (its Docker NanoCpus): the manifest has no key for it. */
    functionCpus: e.ESERVELESS_MAX_CPUS,
    /** How many of a repository's latest releases keep their image, for an instant rollback. */
    keepReleases: e.ESERVELESS_KEEP_RELEASES,
    /** How a `waitForChecks` deployment waits for the commit's other checks. */
    checks: { graceMs: e.ESERVELESS_CHECKS_GRACE * 1000, timeoutMs: e.ESERVELESS_CHECKS_TIMEOUT * 1000 },
    /** Pull-request previews: how many per repository (0: none), and how soon their replicas stop when idle (seconds). */
    previews: { max: e.ESERVELESS_MAX_PREVIEWS, idleTimeout: e.ESERVELESS_PREVIEW_IDLE_TIMEOUT },
    /**
     * Who runs function replicas: `docker`, containers on this engine; `swarm`,
     * services on the swarm this engine manages, with images pushed to `registry`
     * and each project on an attachable overlay network of `networkSize`.
     */
    orchestrator:
      e.ESERVELESS_ORCHESTRATOR === "swarm"
        ? { kind: "swarm" as const, registry: e.ESERVELESS_REGISTRY!, networkSize: e.ESERVELESS_SWARM_NETWORK_SIZE }
        : { kind: "docker" as const },
    logLevel: e.LOG_LEVEL,
    /** `pretty` or `json`; undefined: pretty when the log goes to a terminal. */
    logFormat: e.LOG_FORMAT,
  };
}
