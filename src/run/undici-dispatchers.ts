import { createRequire } from "node:module";
import type { Agent, Pool } from "undici";

// undici's index also loads fetch, WebSocket, the HTTP cache and their
// dependencies: ~9 MB of resident memory the router never uses. Its Pool and
// Agent are required from their own files (the package has no exports map),
// when the first replica needs one, so an idle server loads neither.

/** An undici connection pool to one origin, loaded on first use. */
export function newPool(origin: string, options: Pool.Options): Pool {
  const PoolClass = createRequire(import.meta.url)("undici/lib/dispatcher/pool.js") as typeof Pool;
  return new PoolClass(origin, options);
}

/** An undici agent (a pool per origin), loaded on first use. */
export function newAgent(options: Agent.Options): Agent {
  const AgentClass = createRequire(import.meta.url)("undici/lib/dispatcher/agent.js") as typeof Agent;
  return new AgentClass(options);
}
