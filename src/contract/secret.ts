import * as v from "valibot";

/** Where a secret applies: live deployments of the default branch, or previews (pull requests). */
export const SECRET_ENVIRONMENTS = ["production", "preview"] as const;
export type SecretEnvironment = (typeof SECRET_ENVIRONMENTS)[number];

/** A secret's name: what the function reads from its environment. */
export const SECRET_NAME = /^[A-Z_][A-Z0-9_]{0,63}$/;
/** The most one value may hold, in UTF-8 bytes. */
export const MAX_SECRET_VALUE_BYTES = 64 * 1024;
/** The most secrets one function may declare. */
export const MAX_SECRETS_PER_FUNCTION = 100;
/** The most one function's secrets may hold together (`NAME=value` bytes): far below where exec fails (E2BIG). */
export const MAX_SECRET_BYTES_PER_FUNCTION = 256 * 1024;

/** Why `name` cannot be a secret's name ("is reserved: …"), or undefined when it can. */
export function secretNameRule(name: string): string | undefined {
  if (!SECRET_NAME.test(name)) return 'is not a secret name: use A-Z, 0-9 and "_", not starting with a digit, at most 64 characters (such as STRIPE_KEY)';
  if (name === "PORT" || name === "HOME" || name === "PATH") return "is reserved: the runtime sets it";
  if (name.startsWith("ESERVELESS_")) return "is reserved: ESERVELESS_* variables come from meta and from eserveless";
  return undefined;
}

/** Why `name` cannot be a secret's name, the name first, or undefined when it can. */
export function secretNameProblem(name: string): string | undefined {
  const rule = secretNameRule(name);
  return rule && `${JSON.stringify(name.slice(0, 80))} ${rule}`;
}

/** Why `value` cannot be a secret's value, or undefined when it can. */
export function secretValueProblem(value: string): string | undefined {
  if (value === "") return "the value is empty";
  if (value.includes("\0")) return "the value holds a NUL character (\\0), which an environment variable cannot hold";
  const bytes = Buffer.byteLength(value);
  if (bytes > MAX_SECRET_VALUE_BYTES) return `the value is ${bytes} bytes; a secret holds at most ${MAX_SECRET_VALUE_BYTES} (64 KiB)`;
  return undefined;
}

/** The bytes a secret takes in a process's environment block. */
export const secretEnvironmentBytes = (name: string, value: string) => Buffer.byteLength(name) + 1 + Buffer.byteLength(value) + 1;

/** The command that sets a secret, for messages. */
export function setSecretCommand(repository: string, name: string, environment: SecretEnvironment = "production"): string {
  return `eserveless secrets set ${repository} ${name}${environment === "production" ? "" : ` --env ${environment}`}`;
}

/** `PUT /api/projects/:owner/:repo/secrets/:name`: the value, never echoed back. */
export const SecretBodySchema = v.object({
  value: v.string("value must be a string"),
  environment: v.optional(v.picklist(SECRET_ENVIRONMENTS, "environment must be production or preview"), "production"),
});
export type SecretBody = v.InferInput<typeof SecretBodySchema>;

/** A secret as the API shows it: never its value. */
export const SecretInfoSchema = v.object({
  name: v.string(),
  environment: v.picklist(SECRET_ENVIRONMENTS),
  /** Last change, in ms since the epoch. */
  updatedAt: v.number(),
  /** Live functions that declare it. */
  functions: v.array(v.string()),
});
export type SecretInfo = v.InferOutput<typeof SecretInfoSchema>;

/** `GET /api/projects/:owner/:repo/secrets`: names only. */
export const SecretListSchema = v.object({ secrets: v.array(SecretInfoSchema) });

/** How a change reached the live functions that declare the secret. */
export const SecretRollSchema = v.object({
  /** `live`: they run with it now; `rolling`: under way (no wait); `none`: no live function declares it; `failed`: the old containers still serve. */
  state: v.picklist(["live", "rolling", "none", "failed"]),
  functions: v.array(v.string()),
  error: v.optional(v.string()),
});
export type SecretRoll = v.InferOutput<typeof SecretRollSchema>;

/** The answer of PUT and DELETE on a secret. */
export const SecretChangedSchema = v.object({
  secret: v.object({ name: v.string(), environment: v.picklist(SECRET_ENVIRONMENTS), deleted: v.boolean() }),
  roll: SecretRollSchema,
});
export type SecretChanged = v.InferOutput<typeof SecretChangedSchema>;

/** The secrets a deployment environment gets: production's for `production`, `preview` ones for every pull request's preview. */
export function secretEnvironmentOf(environment: string | undefined): SecretEnvironment {
  return environment === undefined || environment === "production" ? "production" : "preview";
}
