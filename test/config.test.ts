import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ConfigError, readConfig } from "../src/config.js";
import { defaultManifestLimits } from "../src/manifest/manifest-limits.js";
import { defaultContainerBudget } from "../src/run/container-budget.js";
import { DEFAULT_SCALE_UP_AFTER_MS } from "../src/run/function-pool.js";
import { DEFAULT_SCALE_UP_IDLE_CPUS } from "../src/run/router-saturation.js";
import { sandboxDefaults } from "../src/run/sandbox.js";

/** A real PEM, as GitHub hands out (PKCS#1, "BEGIN RSA PRIVATE KEY"). */
const PEM = generateKeyPairSync("rsa", {
  modulusLength: 1024,
  privateKeyEncoding: { type: "pkcs1", format: "pem" },
  publicKeyEncoding: { type: "spki", format: "pem" },
}).privateKey;

/** The same key on one line, as it is pasted into a .env file or a compose `environment:` entry. */
const PEM_ONE_LINE = PEM.trimEnd().replace(/\n/g, "\\n");

/** Runs `fn`, which must throw a ConfigError, and returns that error. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError, but readConfig returned");
}

describe("readConfig", () => {
  it("reads the secrets keys as 64 hex digits or base64 of 32 bytes, and never echoes a bad one", () => {
    const hex = "ab".repeat(32);
    const base64 = Buffer.alloc(32, 9).toString("base64");
    const config = readConfig({ ESERVELESS_SECRETS_KEY: hex, ESERVELESS_SECRETS_KEY_PREVIOUS: base64 });
    expect(config.secretsKey.key).toEqual(Buffer.from(hex, "hex"));
    expect(config.secretsKey.previous).toEqual(Buffer.alloc(32, 9));
    expect(readConfig({}).secretsKey).toEqual({ key: undefined, previous: undefined });
    const error = configError(() => readConfig({ ESERVELESS_SECRETS_KEY: "my-short-password", ESERVELESS_SECRETS_KEY_PREVIOUS: Buffer.alloc(16).toString("base64") }));
    expect(error.problems).toEqual([
      expect.stringMatching(/^ESERVELESS_SECRETS_KEY: must be 32 bytes.*openssl rand -base64 32.*not shown/),
      expect.stringMatching(/^ESERVELESS_SECRETS_KEY_PREVIOUS: must be 32 bytes/),
    ]);
    expect(error.message).not.toContain("my-short-password");
  });

  it("fills every default when the environment is empty", () => {
    const config = readConfig({});
    expect(config).toMatchObject({
      port: 3000,
      // Loopback unless told otherwise: function containers reach every other address of the host.
      host: "127.0.0.1",
      publicUrl: "http://localhost:3000",
      githubApiUrl: "https://api.github.com",
      github: undefined,
      missingGitHub: ["APP_ID", "PRIVATE_KEY", "WEBHOOK_SECRET"],
      adminToken: undefined,
      dataDir: "./data",
      images: { node: "node:20-alpine", golang: "golang:1.22-alpine" },
      sourceLimits: { maxBytes: 200 * 1024 * 1024, maxFiles: 20000, maxTarballBytes: 100 * 1024 * 1024 },
      logLevel: "info",
    });
    expect(config.github).toBeUndefined();
    expect(config.adminToken).toBeUndefined();
  });

  it("defaults the request limits and converts the timeouts it reads in seconds to milliseconds", () => {
    expect(readConfig({}).pool).toEqual({
      maxBodyBytes: 100 * 1024 * 1024,
      coldStartTimeoutMs: 30_000,
      queueSize: 100,
      maxWaiting: 1000,
      pauseAfterMs: 0,
      scaleUpAfterMs: DEFAULT_SCALE_UP_AFTER_MS,
      scaleUpIdleCpus: DEFAULT_SCALE_UP_IDLE_CPUS,
    });
    expect(
      readConfig({
        ESERVELESS_MAX_BODY_BYTES: "1024",
        ESERVELESS_COLD_START_TIMEOUT: "5",
        ESERVELESS_QUEUE_SIZE: "7",
        ESERVELESS_MAX_WAITING: "50",
        ESERVELESS_PAUSE_AFTER: "60",
        ESERVELESS_SCALE_UP_AFTER_MS: "0",
        ESERVELESS_SCALE_UP_IDLE_CPUS: "1.5",
      }).pool,
    ).toEqual({ maxBodyBytes: 1024, coldStartTimeoutMs: 5000, queueSize: 7, maxWaiting: 50, pauseAfterMs: 60_000, scaleUpAfterMs: 0, scaleUpIdleCpus: 1.5 });
  });

  it("refuses idle CPUs for scaling that are not a plain number up to 1024, naming the setting", () => {
    for (const value of ["-1", "half", "0.5.1", "1e3", "2000"]) {
      expect(() => readConfig({ ESERVELESS_SCALE_UP_IDLE_CPUS: value })).toThrow(/ESERVELESS_SCALE_UP_IDLE_CPUS: must be/);
    }
    expect(readConfig({ ESERVELESS_SCALE_UP_IDLE_CPUS: "0" }).pool.scaleUpIdleCpus).toBe(0);
  });

  it("refuses a scale-up wait that is not a whole number of milliseconds up to a minute, naming the setting", () => {
    for (const value of ["-1", "0.5", "fifty", "60001"]) {
      expect(() => readConfig({ ESERVELESS_SCALE_UP_AFTER_MS: value })).toThrow(/ESERVELESS_SCALE_UP_AFTER_MS: must be/);
    }
  });

  it("defaults the maximums of a manifest and the container budget to the values their modules document", () => {
    const config = readConfig({});
    expect(config.manifestLimits).toEqual(defaultManifestLimits);
    expect(config.containerBudget).toEqual(defaultContainerBudget);
    expect(config.functionCpus * 1e9).toBe(sandboxDefaults.nanoCpus);
  });

  it("reads the maximums and the budget, sizes as the manifest writes memory", () => {
    const config = readConfig({
      ESERVELESS_MAX_MANIFEST_BYTES: "16384",
      ESERVELESS_MAX_FUNCTIONS: "3",
      ESERVELESS_MAX_REPLICAS: "2",
      ESERVELESS_MAX_MEMORY: "512m",
      ESERVELESS_MAX_CPUS: "0.5",
      ESERVELESS_MAX_CONTAINERS: "6",
      ESERVELESS_MEMORY_BUDGET: "2GiB",
    });
    expect(config.manifestLimits).toEqual({ maxManifestBytes: 16384, maxFunctions: 3, maxReplicas: 2, maxMemoryBytes: 512 * 1024 ** 2 });
    expect(config.containerBudget).toEqual({ maxContainers: 6, memoryBytes: 2 * 1024 ** 3 });
    expect(config.functionCpus).toBe(0.5);
  });

  it("names each bad maximum", () => {
    const env = {
      ESERVELESS_MAX_MANIFEST_BYTES: "64k",
      ESERVELESS_MAX_FUNCTIONS: "0",
      ESERVELESS_MAX_REPLICAS: "-1",
      ESERVELESS_MAX_MEMORY: "8m",
      ESERVELESS_MAX_CPUS: "0",
      ESERVELESS_MAX_CONTAINERS: "lots",
      ESERVELESS_MEMORY_BUDGET: "all of it",
    };
    const error = configError(() => readConfig(env));
    expect(error.problems.map((problem) => problem.split(":")[0]).sort()).toEqual(Object.keys(env).sort());
    expect(error.problems).toContain('ESERVELESS_MAX_MEMORY: must be a size of at least 16m such as 512m or 2g (memory a function may ask for) (got "8m")');
  });

  it("treats empty strings as unset, as shells and compose files do", () => {
    const config = readConfig({ PORT: "", HOST: "", DATA_DIR: "", PUBLIC_URL: "", LOG_LEVEL: "", WEBHOOK_SECRET: "" });
    expect(config.port).toBe(3000);
    expect(config.host).toBe("127.0.0.1");
    expect(config.dataDir).toBe("./data");
    expect(config.publicUrl).toBe("http://localhost:3000");
    expect(config.logLevel).toBe("info");
    expect(config.missingGitHub).toContain("WEBHOOK_SECRET");
  });

  it("derives the default PUBLIC_URL from PORT", () => {
    const config = readConfig({ PORT: "8080" });
    expect(config.port).toBe(8080);
    expect(config.publicUrl).toBe("http://localhost:8080");
  });

  it("keeps an explicit PUBLIC_URL whatever PORT is", () => {
    const config = readConfig({ PORT: "8080", PUBLIC_URL: "https://fn.example.com" });
    expect(config.publicUrl).toBe("https://fn.example.com");
  });

  it("reads the numbers and names it is given", () => {
    const config = readConfig({
      HOST: "0.0.0.0",
      DATA_DIR: "/var/lib/eserveless",
      ESERVELESS_NODE_IMAGE: "node:22-alpine",
      ESERVELESS_GO_IMAGE: "golang:1.23-alpine",
      ESERVELESS_MAX_SOURCE_BYTES: "1048576",
      ESERVELESS_MAX_SOURCE_FILES: "50",
      ESERVELESS_MAX_TARBALL_BYTES: "524288",
      ESERVELESS_ADMIN_TOKEN: "0123456789abcdef0123",
      LOG_LEVEL: "debug",
    });
    expect(config.host).toBe("0.0.0.0");
    expect(config.dataDir).toBe("/var/lib/eserveless");
    expect(config.images).toEqual({ node: "node:22-alpine", golang: "golang:1.23-alpine" });
    expect(config.sourceLimits).toEqual({ maxBytes: 1048576, maxFiles: 50, maxTarballBytes: 524288 });
    expect(config.adminToken).toBe("0123456789abcdef0123");
    expect(config.logLevel).toBe("debug");
  });

  it("removes the trailing slashes of PUBLIC_URL and GITHUB_API_URL", () => {
    const config = readConfig({ PUBLIC_URL: "https://fn.example.com/", GITHUB_API_URL: "https://ghe.example.com/api/v3//" });
    expect(config.publicUrl).toBe("https://fn.example.com");
    expect(config.githubApiUrl).toBe("https://ghe.example.com/api/v3");
  });

  it("assembles the GitHub App settings when all three are set", () => {
    const config = readConfig({ APP_ID: "12345", PRIVATE_KEY: PEM, WEBHOOK_SECRET: "s3cret" });
    // The value is trimmed, like every text setting.
    expect(config.github).toEqual({ appId: 12345, privateKey: PEM.trimEnd(), webhookSecret: "s3cret" });
    expect(config.missingGitHub).toEqual([]);
  });

  it("turns the literal \\n of a one-line PRIVATE_KEY into newlines", () => {
    expect(PEM_ONE_LINE).not.toContain("\n");
    const config = readConfig({ APP_ID: "1", PRIVATE_KEY: PEM_ONE_LINE, WEBHOOK_SECRET: "s3cret" });
    expect(config.github?.privateKey).toBe(PEM.trimEnd());
    expect(config.github?.privateKey.split("\n")[0]).toBe("-----BEGIN RSA PRIVATE KEY-----");
  });

  it("accepts a PKCS#8 key (BEGIN PRIVATE KEY) too", () => {
    const pkcs8 = generateKeyPairSync("rsa", {
      modulusLength: 1024,
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    }).privateKey;
    expect(readConfig({ APP_ID: "1", PRIVATE_KEY: pkcs8, WEBHOOK_SECRET: "s" }).github?.privateKey).toBe(pkcs8.trimEnd());
  });

  it("reads PRIVATE_KEY_PATH through the readFile option", () => {
    const paths: string[] = [];
    const config = readConfig({ APP_ID: "7", PRIVATE_KEY_PATH: "/run/secrets/app.pem", WEBHOOK_SECRET: "s3cret" }, (path) => {
      paths.push(path);
      return PEM;
    });
    expect(paths).toEqual(["/run/secrets/app.pem"]);
    expect(config.github).toEqual({ appId: 7, privateKey: PEM, webhookSecret: "s3cret" });
  });

  it("prefers PRIVATE_KEY over PRIVATE_KEY_PATH and does not read the file", () => {
    const paths: string[] = [];
    const config = readConfig({ APP_ID: "7", PRIVATE_KEY: PEM, PRIVATE_KEY_PATH: "/nowhere.pem", WEBHOOK_SECRET: "s" }, (path) => {
      paths.push(path);
      return "not used";
    });
    expect(paths).toEqual([]);
    expect(config.github?.privateKey).toBe(PEM.trimEnd());
  });

  it("names PRIVATE_KEY_PATH and the reason when the file cannot be read", () => {
    const error = configError(() =>
      readConfig({ APP_ID: "7", PRIVATE_KEY_PATH: "/missing/app.pem", WEBHOOK_SECRET: "s" }, () => {
        throw new Error("ENOENT: no such file or directory");
      }),
    );
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^PRIVATE_KEY_PATH: /);
    expect(error.problems[0]).toContain("/missing/app.pem");
    expect(error.problems[0]).toContain("ENOENT");
  });

  it("rejects a PRIVATE_KEY that is not a PEM, naming the variable", () => {
    const error = configError(() => readConfig({ APP_ID: "7", PRIVATE_KEY: "ghp_thisIsATokenNotAKey", WEBHOOK_SECRET: "s" }));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^PRIVATE_KEY: /);
    expect(error.message).toContain("PRIVATE_KEY");
  });

  it("rejects a file at PRIVATE_KEY_PATH that is not a PEM", () => {
    const error = configError(() => readConfig({ APP_ID: "7", PRIVATE_KEY_PATH: "/x.pem", WEBHOOK_SECRET: "s" }, () => "hello"));
    expect(error.problems.join("\n")).toMatch(/PRIVATE_KEY/);
  });

  it("lists every bad value, each named with its variable, in one ConfigError", () => {
    const env = {
      PORT: "http",
      PUBLIC_URL: "fn.example.com",
      GITHUB_API_URL: "ftp://ghe.example.com",
      APP_ID: "my-app",
      ESERVELESS_MAX_SOURCE_BYTES: "0",
      ESERVELESS_MAX_SOURCE_FILES: "many",
      ESERVELESS_MAX_TARBALL_BYTES: "100MiB",
      LOG_LEVEL: "verbose",
      ESERVELESS_COLD_START_TIMEOUT: "0",
      ESERVELESS_PAUSE_AFTER: "-1",
    };
    const error = configError(() => readConfig(env));
    for (const [name, value] of Object.entries(env)) {
      const problem = error.problems.find((p) => p.startsWith(`${name}: `));
      expect(problem, `a problem naming ${name}`).toBeDefined();
      // The bad value is echoed, so the operator sees what was read.
      // The bad value is echoed, so the operator sees what was read (numbers after their conversion).
      expect([`(got ${JSON.stringify(value)})`, `(got ${value})`].some((end) => problem!.endsWith(end)), problem).toBe(true);
      expect(error.message).toContain(`  - ${problem}`);
    }
  });

  it("never echoes a credential it refuses: the admin token, the webhook secret, the private key", () => {
    const token = "short-Tk9";
    const error = configError(() => readConfig({ ESERVELESS_ADMIN_TOKEN: token }));
    expect(error.problems).toEqual([expect.stringMatching(/^ESERVELESS_ADMIN_TOKEN: must be at least 16 characters.*\(its value is not shown\)$/)]);
    expect(error.message).not.toContain(token);
    expect(error.name).toBe("ConfigError");
    expect(error.message.split("\n")[0]).toBe("Invalid configuration:");
  });

  it("defaults the project networks and the build limits, and reads them", () => {
    const defaults = readConfig({});
    expect(defaults.networks).toEqual({ pool: "10.207.0.0/16", size: 26, container: undefined });
    expect(defaults.build).toEqual({ memoryBytes: 2 * 1024 ** 3, cpus: 1, timeoutMs: 600_000, maxConcurrent: 2 });
    const set = readConfig({
      ESERVELESS_NETWORK_POOL: "10.50.0.0/20",
      ESERVELESS_NETWORK_SIZE: "28",
      ESERVELESS_BUILD_MEMORY: "512m",
      ESERVELESS_BUILD_CPUS: "0.5",
      ESERVELESS_BUILD_TIMEOUT: "90",
      ESERVELESS_MAX_CONCURRENT_BUILDS: "1",
    });
    expect(set.networks).toEqual({ pool: "10.50.0.0/20", size: 28, container: undefined });
    expect(set.build).toEqual({ memoryBytes: 512 * 1024 ** 2, cpus: 0.5, timeoutMs: 90_000, maxConcurrent: 1 });
  });

  it("takes eserveless's own container from HOSTNAME with ESERVELESS_CONTAINER=auto, or as named", () => {
    expect(readConfig({ ESERVELESS_CONTAINER: "auto", HOSTNAME: "3f4c395412b9" }).networks.container).toBe("3f4c395412b9");
    expect(readConfig({ ESERVELESS_CONTAINER: "eserveless-1", HOSTNAME: "3f4c395412b9" }).networks.container).toBe("eserveless-1");
    expect(readConfig({ HOSTNAME: "my-laptop" }).networks.container).toBeUndefined();
    expect(configError(() => readConfig({ ESERVELESS_CONTAINER: "auto" })).problems).toEqual([expect.stringMatching(/^ESERVELESS_CONTAINER: auto takes the container's id from HOSTNAME/)]);
  });

  it("reaches functions over a socket on a local engine, over TCP from a container or to a remote engine, as told", () => {
    expect(readConfig({}).transport).toBe("unix");
    expect(readConfig({ DOCKER_HOST: "unix:///run/user/1000/docker.sock" }).transport).toBe("unix");
    expect(readConfig({ DOCKER_HOST: "tcp://docker.internal:2376" }).transport).toBe("tcp");
    expect(readConfig({ DOCKER_HOST: "ssh://me@builder" }).transport).toBe("tcp");
    expect(readConfig({ ESERVELESS_CONTAINER: "auto", HOSTNAME: "3f4c395412b9" }).transport).toBe("tcp");
    expect(readConfig({ ESERVELESS_TRANSPORT: "tcp" }).transport).toBe("tcp");
    expect(readConfig({ ESERVELESS_TRANSPORT: "unix" }).transport).toBe("unix");
    expect(configError(() => readConfig({ ESERVELESS_TRANSPORT: "unix", ESERVELESS_CONTAINER: "eserveless-1" })).problems).toEqual([
      expect.stringMatching(/^ESERVELESS_TRANSPORT: eserveless runs in a container \(ESERVELESS_CONTAINER\), so it cannot share a host folder with function containers; use tcp or auto/),
    ]);
    expect(configError(() => readConfig({ ESERVELESS_TRANSPORT: "unix", DOCKER_HOST: "tcp://docker.internal:2376" })).problems).toEqual([
      expect.stringMatching(/^ESERVELESS_TRANSPORT: the Docker engine is remote \(DOCKER_HOST=tcp:\/\/docker.internal:2376\).*use tcp or auto/),
    ]);
    // A socket's path has at most 107 bytes: a deep DATA_DIR cannot hold them.
    const deep = `/srv/${"d".repeat(80)}`;
    expect(readConfig({ DATA_DIR: deep }).transport).toBe("tcp");
    expect(configError(() => readConfig({ ESERVELESS_TRANSPORT: "unix", DATA_DIR: deep })).problems).toEqual([
      expect.stringMatching(/^ESERVELESS_TRANSPORT: DATA_DIR \(\/srv\/d+\) is too deep: its sockets' paths would be 120 bytes long, past the 107 a Unix socket's path may have; use a shorter DATA_DIR, or tcp or auto/),
    ]);
    expect(readConfig({ DATA_DIR: "/var/lib/eserveless" })).toMatchObject({ transport: "unix", socketsDir: "/var/lib/eserveless/sockets" });
    expect(configError(() => readConfig({ ESERVELESS_TRANSPORT: "socket" })).problems).toEqual([expect.stringMatching(/^ESERVELESS_TRANSPORT: must be auto, unix or tcp/)]);
  });

  it("runs functions on this engine unless told swarm, which needs a registry and eserveless in a container", () => {
    expect(readConfig({}).orchestrator).toEqual({ kind: "docker" });
    expect(readConfig({ ESERVELESS_ORCHESTRATOR: "swarm", ESERVELESS_REGISTRY: "10.0.9.2:5000", ESERVELESS_CONTAINER: "auto", HOSTNAME: "abc" }).orchestrator).toEqual({
      kind: "swarm",
      registry: "10.0.9.2:5000",
      networkSize: 22,
    });
    const problems = configError(() => readConfig({ ESERVELESS_ORCHESTRATOR: "swarm" })).problems;
    expect(problems).toEqual([
      expect.stringMatching(/^ESERVELESS_ORCHESTRATOR: swarm needs ESERVELESS_REGISTRY, the host:port of a registry every node pulls/),
      expect.stringMatching(/^ESERVELESS_ORCHESTRATOR: swarm needs eserveless to run in a container on a manager node, with ESERVELESS_CONTAINER=auto/),
    ]);
    expect(configError(() => readConfig({ ESERVELESS_ORCHESTRATOR: "kubernetes" })).problems).toEqual([expect.stringMatching(/^ESERVELESS_ORCHESTRATOR: must be docker .* or swarm/)]);
    expect(configError(() => readConfig({ ESERVELESS_REGISTRY: "https://registry.example/v2" })).problems).toEqual([expect.stringMatching(/^ESERVELESS_REGISTRY: must be a registry's host:port/)]);
    const small = configError(() =>
      readConfig({ ESERVELESS_ORCHESTRATOR: "swarm", ESERVELESS_REGISTRY: "r:5000", ESERVELESS_CONTAINER: "x", ESERVELESS_NETWORK_POOL: "10.1.0.0/24", ESERVELESS_NETWORK_SIZE: "26" }),
    ).problems;
    expect(small).toEqual(["ESERVELESS_SWARM_NETWORK_SIZE: ESERVELESS_NETWORK_POOL 10.1.0.0/24 is smaller than one overlay network of ESERVELESS_SWARM_NETWORK_SIZE /22"]);
  });

  it("refuses a bad network pool, build limits, and the old ESERVELESS_DOCKER_NETWORK, saying what to do", () => {
    const error = configError(() =>
      readConfig({
        ESERVELESS_NETWORK_POOL: "10.207.0.0/30",
        ESERVELESS_BUILD_MEMORY: "lots",
        ESERVELESS_BUILD_CPUS: "0",
        ESERVELESS_BUILD_TIMEOUT: "1000000",
        ESERVELESS_MAX_CONCURRENT_BUILDS: "0",
        ESERVELESS_DOCKER_NETWORK: "eserveless-functions",
      }),
    );
    const problem = (name: string) => error.problems.find((p) => p.startsWith(`${name}: `));
    expect(problem("ESERVELESS_DOCKER_NETWORK")).toMatch(/no longer read: each project now gets a Docker network of its own.*ESERVELESS_CONTAINER=auto/);
    expect(problem("ESERVELESS_BUILD_MEMORY")).toMatch(/must be a size of at least 64m such as 512m or 2g/);
    expect(problem("ESERVELESS_BUILD_CPUS")).toMatch(/must be at least 0.01/);
    expect(problem("ESERVELESS_BUILD_TIMEOUT")).toMatch(/must be at most 86400/);
    expect(problem("ESERVELESS_MAX_CONCURRENT_BUILDS")).toMatch(/must be at least 1/);
    expect(problem("ESERVELESS_NETWORK_POOL")).toMatch(/^ESERVELESS_NETWORK_POOL: is smaller than one network of ESERVELESS_NETWORK_SIZE \/26/);
    expect(configError(() => readConfig({ ESERVELESS_NETWORK_POOL: "10.207.0.0/16", ESERVELESS_NETWORK_SIZE: "30" })).problems).toEqual([
      expect.stringMatching(/^ESERVELESS_NETWORK_SIZE: must be at most 29/),
    ]);
  });

  it("rejects a PORT above 65535", () => {
    const error = configError(() => readConfig({ PORT: "70000" }));
    expect(error.problems).toEqual([expect.stringMatching(/^PORT: must be between 0 and 65535/)]);
  });

  it("reports a bad PRIVATE_KEY together with the other bad values, so all are fixed at once", () => {
    const error = configError(() => readConfig({ PORT: "http", APP_ID: "7", PRIVATE_KEY: "not a key", WEBHOOK_SECRET: "s" }));
    expect(error.problems.some((p) => p.startsWith("PORT: "))).toBe(true);
    expect(error.problems.some((p) => p.startsWith("PRIVATE_KEY: "))).toBe(true);
  });

  it("lists the missing GitHub settings and still returns the server config", () => {
    const config = readConfig({ PORT: "4000", APP_ID: "7", WEBHOOK_SECRET: "   " });
    expect(config.github).toBeUndefined();
    expect(config.missingGitHub).toEqual(["PRIVATE_KEY", "WEBHOOK_SECRET"]);
    expect(config.port).toBe(4000);
    expect(config.publicUrl).toBe("http://localhost:4000");
  });

  it("counts a key read from PRIVATE_KEY_PATH as present", () => {
    const config = readConfig({ PRIVATE_KEY_PATH: "/k.pem" }, () => PEM);
    expect(config.github).toBeUndefined();
    expect(config.missingGitHub).toEqual(["APP_ID", "WEBHOOK_SECRET"]);
  });
});

describe("readConfig: functions host and trusted proxies", () => {
  it("has no functions host and trusts no proxy by default", () => {
    const config = readConfig({});
    expect(config.functionsUrl).toBeUndefined();
    expect(config.trustedProxies).toEqual([]);
  });

  it("takes a functions origin on another hostname", () => {
    expect(readConfig({ PUBLIC_URL: "https://eserveless.example.com", ESERVELESS_FUNCTIONS_URL: "https://fn.example.net/" }).functionsUrl).toBe("https://fn.example.net");
  });

  it("refuses a functions URL on PUBLIC_URL's hostname (cookies ignore ports), or with a path", () => {
    const samePlace = configError(() => readConfig({ PUBLIC_URL: "https://example.com", ESERVELESS_FUNCTIONS_URL: "https://EXAMPLE.com:8443" }));
    expect(samePlace.problems).toEqual([expect.stringMatching(/^ESERVELESS_FUNCTIONS_URL: must have another hostname than PUBLIC_URL .*registrable domain/)]);
    // PUBLIC_URL's default counts too.
    expect(configError(() => readConfig({ PORT: "4000", ESERVELESS_FUNCTIONS_URL: "http://localhost:5000" })).problems).toHaveLength(1);
    const withPath = configError(() => readConfig({ ESERVELESS_FUNCTIONS_URL: "https://fn.example.net/functions" }));
    expect(withPath.problems).toEqual([expect.stringMatching(/^ESERVELESS_FUNCTIONS_URL: must be an origin without a path/)]);
  });

  it("parses trusted proxies as addresses and CIDR ranges, and names every bad entry", () => {
    expect(readConfig({ ESERVELESS_TRUSTED_PROXIES: "127.0.0.1, 10.0.0.0/8 ::1,fd00::/8" }).trustedProxies).toEqual([
      { address: "127.0.0.1", prefix: 32, family: "ipv4" },
      { address: "10.0.0.0", prefix: 8, family: "ipv4" },
      { address: "::1", prefix: 128, family: "ipv6" },
      { address: "fd00::", prefix: 8, family: "ipv6" },
    ]);
    const error = configError(() => readConfig({ ESERVELESS_TRUSTED_PROXIES: "127.0.0.1, 10.0.0.0/33, proxy.internal, ::1/x" }));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^ESERVELESS_TRUSTED_PROXIES: "10\.0\.0\.0\/33", "proxy\.internal", "::1\/x" are not IP addresses or CIDR ranges/);
  });
});
