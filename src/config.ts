import * as v from "valibot";

const port = v.pipe(
  v.string(),
  v.regex(/^\d+$/, "must be a port number such as 3000"),
  v.transform(Number),
  v.minValue(0, "must be between 0 and 65535"),
  v.maxValue(65535, "must be between 0 and 65535"),
);

const positiveInt = (hint: string) =>
  v.pipe(v.string(), v.regex(/^\d+$/, `must be a whole number (${hint})`), v.transform(Number), v.minValue(1, `must be at least 1 (${hint})`));

const httpUrl = v.pipe(
  v.string(),
  v.url("must be an absolute URL such as https://example.com"),
  v.regex(/^https?:\/\//, "must start with http:// or https://"),
  v.transform((url) => url.replace(/\/+$/, "")),
);

const optionalText = v.optional(v.pipe(v.string(), v.trim(), v.transform((s) => (s === "" ? undefined : s))));

/** The environment variables eserveless reads; Probot's names where Probot has one. */
const EnvSchema = v.object({
  PORT: v.optional(port, "3000"),
  HOST: v.optional(v.pipe(v.string(), v.nonEmpty("must not be empty")), "0.0.0.0"),
  PUBLIC_URL: v.optional(httpUrl),
  APP_ID: v.optional(v.pipe(v.string(), v.regex(/^\d+$/, "must be the numeric App ID shown on the App's settings page"))),
  PRIVATE_KEY: optionalText,
  PRIVATE_KEY_PATH: optionalText,
  WEBHOOK_SECRET: optionalText,
  GITHUB_API_URL: v.optional(httpUrl, "https://api.github.com"),
  ESERVELESS_ADMIN_TOKEN: v.optional(
    v.pipe(v.string(), v.minLength(16, "must be at least 16 characters; generate one with `openssl rand -hex 32`")),
  ),
  DATA_DIR: v.optional(v.pipe(v.string(), v.nonEmpty("must not be empty")), "./data"),
  ESERVELESS_NODE_IMAGE: v.optional(v.pipe(v.string(), v.nonEmpty()), "node:20-alpine"),
  ESERVELESS_GO_IMAGE: v.optional(v.pipe(v.string(), v.nonEmpty()), "golang:1.22-alpine"),
  ESERVELESS_MAX_SOURCE_BYTES: v.optional(positiveInt("bytes a commit may unpack to"), String(200 * 1024 * 1024)),
  ESERVELESS_MAX_SOURCE_FILES: v.optional(positiveInt("files a commit may hold"), "20000"),
  LOG_LEVEL: v.optional(v.picklist(["fatal", "error", "warn", "info", "debug", "trace", "silent"]), "info"),
});

/** Raised with every bad variable listed, one per line, so an operator fixes all at once. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
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
  if (!result.success) {
    throw new ConfigError(
      result.issues.map((issue) => `${v.getDotPath(issue) ?? "environment"}: ${issue.message} (got ${JSON.stringify(issue.input)})`),
    );
  }
  const e = result.output;
  const problems: string[] = [];
  let privateKey = e.PRIVATE_KEY?.replace(/\\n/g, "\n");
  if (!privateKey && e.PRIVATE_KEY_PATH) {
    try {
      privateKey = readFile(e.PRIVATE_KEY_PATH);
    } catch (error) {
      problems.push(`PRIVATE_KEY_PATH: cannot read ${e.PRIVATE_KEY_PATH} (${(error as Error).message})`);
    }
  }
  if (privateKey && !/-----BEGIN (RSA )?PRIVATE KEY-----/.test(privateKey)) {
    problems.push("PRIVATE_KEY: is not a PEM private key; paste the .pem file GitHub gave you, or set PRIVATE_KEY_PATH to it");
  }
  if (problems.length > 0) throw new ConfigError(problems);

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
    publicUrl: e.PUBLIC_URL ?? `http://localhost:${e.PORT}`,
    githubApiUrl: e.GITHUB_API_URL,
    github,
    /** Which GitHub settings are missing, to tell the operator at start. */
    missingGitHub: github ? [] : missingGitHub,
    adminToken: e.ESERVELESS_ADMIN_TOKEN,
    dataDir: e.DATA_DIR,
    images: { node: e.ESERVELESS_NODE_IMAGE, golang: e.ESERVELESS_GO_IMAGE },
    sourceLimits: { maxBytes: e.ESERVELESS_MAX_SOURCE_BYTES, maxFiles: e.ESERVELESS_MAX_SOURCE_FILES },
    logLevel: e.LOG_LEVEL,
  };
}
