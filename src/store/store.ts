import { createCronRunStore, type CronRunStore } from "./cron-run-store.js";
import { createDeliveryStore, type DeliveryStore } from "./delivery-store.js";
import { createDeploymentStore, type DeploymentStore } from "./deployment-store.js";
import { createFunctionOutputStore, type FunctionOutputStore } from "./function-output-store.js";
import { createLiveFunctionStore, type LiveFunctionStore } from "./live-function-store.js";
import { openDatabase } from "./open-database.js";
import { createPreviewStore, type PreviewStore } from "./preview-store.js";
import { createRepositoryStore, type RepositoryStore } from "./repository-store.js";
import { createRevokedSessionStore, type RevokedSessionStore } from "./revoked-session-store.js";
import { createSecretStore, type SecretKeys, type SecretStore } from "./secrets-store.js";

/**
 * The SQLite-backed state of eserveless, every slice over one database:
 * repositories, deliveries, deployments, live functions, cron runs,
 * revoked dashboard sessions, what http functions print, and secrets
 * (sealed; known values are masked in the log lines, descriptions and output stored).
 * Callers declare the slices they use (`DeploymentStore & LiveFunctionStore`).
 */
export type Store = RepositoryStore &
  DeliveryStore &
  DeploymentStore &
  LiveFunctionStore &
  CronRunStore &
  RevokedSessionStore &
  FunctionOutputStore &
  SecretStore &
  PreviewStore & {
    /** Values the previous key (ESERVELESS_SECRETS_KEY_PREVIOUS) opened, sealed again under the key at open. */
    secretsReencrypted: number;
    close(): void;
  };

/**
 * Opens (and migrates) the SQLite database at `path` (":memory:" for a
 * throwaway one) and returns all of the store's slices over it. `now` is the
 * clock, in milliseconds; `secrets` the key that seals secrets. Throws a
 * SecretsKeyError, the file unchanged, when that key does not open those stored.
 */
export function createStore(path: string, options: { now?: () => number; secrets: SecretKeys }): Store {
  const db = openDatabase(path);
  const clock = { now: options.now ?? Date.now };
  let secrets;
  try {
    secrets = createSecretStore(db, { ...clock, keys: options.secrets });
  } catch (error) {
    db.close();
    throw error;
  }
  const { reencrypted, ...secretStore } = secrets;
  const mask = secretStore.maskSecrets;
  return {
    ...secretStore,
    secretsReencrypted: reencrypted,
    ...createRepositoryStore(db, clock),
    ...createDeliveryStore(db, clock),
    ...createDeploymentStore(db, { ...clock, mask }),
    ...createLiveFunctionStore(db),
    ...createCronRunStore(db, { ...clock, mask }),
    ...createRevokedSessionStore(db, clock),
    ...createFunctionOutputStore(db, { mask }),
    ...createPreviewStore(db, clock),
    /** Closes the database; the store is unusable after. */
    close: () => db.close(),
  };
}
