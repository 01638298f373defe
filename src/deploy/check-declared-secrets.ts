import { MAX_SECRET_BYTES_PER_FUNCTION, secretEnvironmentBytes, setSecretCommand, type SecretEnvironment } from "../contract/secret.js";
import { SourceError } from "../errors.js";
import type { SecretStore } from "../store/secrets-store.js";
import type { DeploymentContext } from "./deployment-context.js";

/**
 * Before the build: every secret the manifest's functions declare must be
 * set in `environment`, and each function's together must fit in
 * {@link MAX_SECRET_BYTES_PER_FUNCTION}. Throws a SourceError whose message
 * (the commit status) names the missing secret and the command that sets it.
 */
export function checkDeclaredSecrets(
  { job, say }: Pick<DeploymentContext, "job" | "say">,
  store: Pick<SecretStore, "secretValues">,
  manifest: { functions: ReadonlyArray<{ name: string; secrets: readonly string[] }> },
  environment: SecretEnvironment = "production",
): void {
  const declared = manifest.functions.filter((fn) => fn.secrets.length > 0);
  if (declared.length === 0) return;
  const missing = new Set<string>();
  for (const fn of declared) {
    const values = store.secretValues(job.repository, environment, fn.secrets);
    for (const name of fn.secrets) if (!(name in values)) missing.add(name);
    const bytes = Object.entries(values).reduce((sum, [name, value]) => sum + secretEnvironmentBytes(name, value), 0);
    if (bytes > MAX_SECRET_BYTES_PER_FUNCTION) {
      throw new SourceError(`${fn.name}'s secrets hold ${Math.ceil(bytes / 1024)} KiB together; a function's may hold at most 256 KiB`, { code: "secrets_too_large" });
    }
  }
  if (missing.size > 0) {
    const names = [...missing];
    const which = environment === "production" ? "" : ` for ${environment}`;
    if (names.length > 1) say(`Secrets declared in .eserveless.yaml but not set${which}: ${names.join(", ")}. Set each with: ${setSecretCommand(job.repository, "NAME", environment)}`);
    throw new SourceError(
      names.length === 1
        ? `Secret ${names[0]} is not set${which}; set it with: ${setSecretCommand(job.repository, names[0]!, environment)}`
        : `Secrets ${names.join(", ")} are not set${which}; set each with: ${setSecretCommand(job.repository, "NAME", environment)}`,
      { code: "secret_missing" },
    );
  }
  say(`Secrets: ${declared.map((fn) => `${fn.name} gets ${fn.secrets.join(", ")}`).join("; ")}`);
}
