import { createCronRunStore, type CronRunStore } from "./cron-run-store.js";
import { createDeliveryStore, type DeliveryStore } from "./delivery-store.js";
import { createDeploymentStore, type DeploymentStore } from "./deployment-store.js";
import { createFunctionOutputStore, type FunctionOutputStore } from "./function-output-store.js";
import { createLiveFunctionStore, type LiveFunctionStore } from "./live-function-store.js";
import { openDatabase } from "./open-database.js";
import { createRepositoryStore, type RepositoryStore } from "./repository-store.js";
import { createRevokedSessionStore, type RevokedSessionStore } from "./revoked-session-store.js";

/**
 * The SQLite-backed state of eserveless, every slice over one database:
 * repositories, deliveries, deployments, live functions, cron runs,
 * revoked dashboard sessions and what http functions print.
 * Callers declare the slices they use (`DeploymentStore & LiveFunctionStore`).
 */
export type Store = RepositoryStore & DeliveryStore & DeploymentStore & LiveFunctionStore & CronRunStore & RevokedSessionStore & FunctionOutputStore & { close(): void };

/**
 * Opens (and migrates) the SQLite database at `path` (":memory:" for a
 * throwaway one) and returns all of the store's slices over it. `now` is the
 * clock, in milliseconds.
 */
export function createStore(path: string, options: { now?: () => number } = {}): Store {
  const db = openDatabase(path);
  const clock = { now: options.now ?? Date.now };
  return {
    ...createRepositoryStore(db, clock),
    ...createDeliveryStore(db, clock),
    ...createDeploymentStore(db, clock),
    ...createLiveFunctionStore(db),
    ...createCronRunStore(db, clock),
    ...createRevokedSessionStore(db, clock),
    ...createFunctionOutputStore(db),
    /** Closes the database; the store is unusable after. */
    close: () => db.close(),
  };
}
