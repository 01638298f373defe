import type { Logger } from "pino";
import type { FunctionTarget } from "./container-pool.js";
import type { Pool } from "./pool.js";

/** How often to try again while Docker does not answer. */
const RETRY_MS = 5_000;

/**
 * Takes over the previous run's containers (see {@link Pool.adopt}),
 * so function URLs answer without a redeploy. While Docker does not answer it
 * tries again every `retryMs`, asking `live` for the live functions each time.
 * Resolves after the first try; `stop` ends the tries.
 */
export async function adoptContainers(options: {
  pool: Pool;
  live: () => FunctionTarget[];
  /** Clean-up that needs the adoption done (and Docker answering), retried with it. */
  then?: () => Promise<unknown>;
  log: Logger;
  retryMs?: number;
}): Promise<{ stop(): void }> {
  const { pool, log } = options;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const adopt = async (): Promise<void> => {
    try {
      const { adopted, removed } = await pool.adopt(options.live());
      if (adopted + removed > 0) log.info({ adopted, removed }, "took over the containers of the previous run");
      await options.then?.();
    } catch (error) {
      log.error({ err: error }, "Docker is not reachable: start the Docker engine or set DOCKER_HOST; deployments and function URLs fail until it answers");
      if (stopped) return;
      timer = setTimeout(() => void adopt(), options.retryMs ?? RETRY_MS);
      timer.unref();
    }
  };
  await adopt();
  return {
    stop(): void {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
