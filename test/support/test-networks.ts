import type Docker from "dockerode";
import { pino, type Logger } from "pino";
import { readConfig } from "../../src/config.js";
import { ProjectNetworks } from "../../src/run/project-networks.js";
import { SubnetPool } from "../../src/run/subnet-pool.js";

/**
 * Project networks as eserveless makes them with its default settings, for
 * tests that wire the parts by hand; `removeAll()` cleans them up.
 */
export function testNetworks(docker: Docker, instance: string, options: { self?: string; log?: Logger } = {}): ProjectNetworks {
  const { networks } = readConfig({});
  return new ProjectNetworks({
    docker,
    instance,
    subnets: new SubnetPool(networks.pool, networks.size),
    self: options.self,
    log: options.log ?? pino({ level: "silent" }),
  });
}
