import type { FunctionTarget, PoolStats } from "./container-pool.js";
import type { Lease, Replica, CallerGone } from "./function-pool.js";

/**
 * What the deployer, the router and the API ask of the replicas of http
 * functions, whichever orchestrator runs them: containers on one Docker host
 * ({@link ContainerPool}) or services on a Docker Swarm ({@link SwarmPool}).
 */
export interface Pool {
  /**
   * Starts one replica of `target` and waits until it answers HTTP (a
   * deployment's first). `onStarting` is told once the engine was asked to
   * run it: what else the caller has to do can run while it starts.
   */
  start(target: FunctionTarget, signal?: AbortSignal, onStarting?: () => void): Promise<Replica>;
  /**
   * Lends a ready replica of the function's deployment, cold-starting one
   * when none runs; a request that has to wait gives its place up (499)
   * once `gone` says its caller left.
   */
  acquire(target: FunctionTarget, gone?: CallerGone): Promise<Lease>;
  /** Makes freshly started replicas current (a deployment going live); the previous deployment's drain. */
  activate(repository: string, targets: Array<{ target: FunctionTarget; replicas: Replica[] }>, environment?: string): void;
  /** How many replicas of a function serve now. */
  replicaCount(repository: string, name: string, environment?: string): number;
  /** Swaps a live function's replicas for freshly started ones of the same deployment (a secret changed). */
  replace(target: FunctionTarget, replicas: Replica[]): void;
  /** Takes a removed project's (or closed preview's) functions out; resolves to how many replicas there were. */
  removeProject(repository: string, environment?: string): Promise<number>;
  /** Removes replicas that never went live. */
  discard(replicas: Replica[]): Promise<void>;
  /** After a restart: takes over what the previous run left for live deployments and removes the rest. */
  adopt(live: FunctionTarget[]): Promise<{ adopted: number; removed: number }>;
  /** Scales idle functions down and keeps minReplicas warm; runs on a timer. */
  reap(): Promise<void>;
  stats(): PoolStats;
  /** Stops; with `keepContainers` (a restart) replicas stay up for the next start to adopt. */
  close(options?: { keepContainers?: boolean }): Promise<void>;
}
