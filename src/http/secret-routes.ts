import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Logger } from "pino";
import * as v from "valibot";
import { REPOSITORY_NAME } from "../contract/repository-name.js";
import {
  MAX_SECRET_BYTES_PER_FUNCTION,
  SECRET_ENVIRONMENTS,
  SecretBodySchema,
  SecretChangedSchema,
  SecretListSchema,
  secretEnvironmentBytes,
  secretNameProblem,
  secretValueProblem,
  type SecretEnvironment,
  type SecretRoll,
} from "../contract/secret.js";
import type { SecretRoller } from "../deploy/roll-secrets.js";
import { BadRequestError, EserveslessError, NotFoundError } from "../errors.js";
import type { SecretStore } from "../store/secrets-store.js";
import { bearerAuth, type TokenGuard } from "./bearer-auth.js";
import { toWire } from "./to-wire.js";

/** A JSON body holds one value of 64 KiB, escaped: a body past this is refused before it is read. */
const MAX_BODY_BYTES = 512 * 1024;

/** What the API and the dashboard do with a project's secrets: the rules checked once here. */
export type SecretActions = ReturnType<typeof secretActions>;

/** Sets, deletes and lists a project's secrets, rolling the live functions that declare one that changed. */
export function secretActions(options: { store: SecretStore; roller: SecretRoller; log: Logger }) {
  const { store, roller, log } = options;
  const repositoryOf = (owner: string, repo: string) => {
    const repository = `${owner}/${repo}`;
    if (!REPOSITORY_NAME.test(repository)) throw new BadRequestError(`"${repository}" is not OWNER/REPO`);
    return repository;
  };
  const nameOf = (name: string) => {
    const problem = secretNameProblem(name);
    if (problem) throw new BadRequestError(problem, { code: "invalid_secret" });
    return name;
  };
  /** Rolls the live functions getting `environment`'s secrets that declare `name` (production's, or every open preview's); waits when asked. */
  const rollAfter = async (repository: string, name: string, environment: SecretEnvironment, wait: boolean): Promise<SecretRoll> => {
    const rolling = roller.roll(repository, [name], environment);
    if (!wait) {
      const functions = roller.functionsDeclaring(repository, name, environment);
      return { state: functions.length ? "rolling" : "none", functions };
    }
    const roll = await rolling;
    return roll.error === undefined ? roll : { ...roll, error: store.maskSecrets(roll.error) };
  };

  return {
    repositoryOf,
    list(repository: string) {
      return store.listSecrets(repository).map((secret) => ({
        name: secret.name,
        environment: secret.environment,
        updatedAt: secret.updatedAt,
        functions: roller.functionsDeclaring(repository, secret.name, secret.environment),
      }));
    },
    async set(repository: string, name: string, input: { value: string; environment: SecretEnvironment }, wait: boolean) {
      nameOf(name);
      const problem = secretValueProblem(input.value);
      if (problem) throw new BadRequestError(`Secret not set: ${problem}`, { code: "invalid_secret" });
      // Every function that would get the value: production's, or every open preview's.
      for (const fn of roller.declaring(repository, name, input.environment)) {
        const others = store.secretValues(repository, input.environment, fn.spec.secrets.filter((secret) => secret !== name));
        const bytes = Object.entries({ ...others, [name]: input.value }).reduce((sum, [key, value]) => sum + secretEnvironmentBytes(key, value), 0);
        if (bytes > MAX_SECRET_BYTES_PER_FUNCTION) {
          throw new BadRequestError(`Secret not set: ${fn.name}'s secrets would hold ${Math.ceil(bytes / 1024)} KiB together; a function's may hold at most 256 KiB`, { code: "secrets_too_large" });
        }
      }
      store.setSecret({ repository, environment: input.environment, name, value: input.value });
      log.info({ repository, secret: name, environment: input.environment }, "secret set");
      return { secret: { name, environment: input.environment, deleted: false }, roll: await rollAfter(repository, name, input.environment, wait) };
    },
    async delete(repository: string, name: string, environment: SecretEnvironment, force: boolean, wait: boolean) {
      nameOf(name);
      // A preview one is in use while any open preview's function declares it.
      const users = roller.functionsDeclaring(repository, name, environment);
      if (users.length > 0 && !force) {
        throw new EserveslessError(
          `${name} (${environment}) is declared by live ${users.length === 1 ? "function" : "functions"} ${users.join(", ")} of ${repository}, whose new containers would start without it; remove it from their secrets: in .eserveless.yaml and deploy first, or delete with --force`,
          { status: 409, code: "secret_in_use" },
        );
      }
      if (!store.deleteSecret(repository, environment, name)) throw new NotFoundError(`No secret ${name} is set for ${repository} (${environment})`, { code: "secret_not_found" });
      log.info({ repository, secret: name, environment }, "secret deleted");
      return { secret: { name, environment, deleted: true }, roll: await rollAfter(repository, name, environment, wait) };
    },
  };
}

const Environment = v.optional(v.picklist(SECRET_ENVIRONMENTS, "?environment= must be production or preview"), "production");
const flag = (text: string | undefined) => text !== undefined && text !== "0" && text !== "false";

/**
 * `/api/projects/:owner/:repo/secrets` behind the admin token: GET lists
 * names (never values); PUT `/:name` with `{value, environment?}` sets one
 * and rolls the live functions declaring it (`?wait=1`: answers once they
 * serve it); DELETE `/:name?environment=&force=1` deletes one. No answer holds a value.
 */
export function secretRoutes(options: { adminToken: string | undefined; tokenGuard?: TokenGuard; actions: SecretActions }) {
  const { actions } = options;
  const app = new Hono();
  app.use("/api/projects/:owner/:repo/secrets/*", bearerAuth(options.adminToken, options.tokenGuard));
  app.use("/api/projects/:owner/:repo/secrets", bearerAuth(options.adminToken, options.tokenGuard));

  app.get("/api/projects/:owner/:repo/secrets", (c) =>
    c.json(toWire(SecretListSchema, { secrets: actions.list(actions.repositoryOf(c.req.param("owner"), c.req.param("repo"))) })),
  );

  app.put(
    "/api/projects/:owner/:repo/secrets/:name",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new EserveslessError(`A secret's body is at most ${MAX_BODY_BYTES} bytes; its value at most 64 KiB`, { status: 413, code: "body_too_large" });
      },
    }),
    async (c) => {
      const repository = actions.repositoryOf(c.req.param("owner"), c.req.param("repo"));
      const body = v.safeParse(SecretBodySchema, await c.req.json().catch(() => undefined));
      if (!body.success) throw new BadRequestError(`The body must be JSON {"value": "…", "environment": "production"|"preview"}: ${body.issues[0]!.message}`);
      const changed = await actions.set(repository, c.req.param("name"), body.output, flag(c.req.query("wait")));
      return c.json(toWire(SecretChangedSchema, changed));
    },
  );

  app.delete("/api/projects/:owner/:repo/secrets/:name", async (c) => {
    const repository = actions.repositoryOf(c.req.param("owner"), c.req.param("repo"));
    const environment = v.safeParse(Environment, c.req.query("environment"));
    if (!environment.success) throw new BadRequestError(environment.issues[0]!.message);
    const changed = await actions.delete(repository, c.req.param("name"), environment.output, flag(c.req.query("force")), flag(c.req.query("wait")));
    return c.json(toWire(SecretChangedSchema, changed));
  });
  return app;
}
