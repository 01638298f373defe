import type Docker from "dockerode";
import { pino, type Logger } from "pino";
import { readConfig } from "../../src/config.js";
import { NetworkHolders } from "../../src/run/network-holders.js";
import { ProjectNetworks } from "../../src/run/project-networks.js";
import { SubnetPool } from "../../src/run/subnet-pool.js";
import type { BuildSandbox } from "../../src/image/build-sandbox.js";
import { Slots } from "../../src/slots.js";
import { testImages } from "./wire-app.js";

/**
 * Project networks as eserveless makes them with its default settings, for
 * tests that wire the parts by hand; `removeAll()` cleans them up.
 */
export function testNetworks(docker: Docker, instance: string, options: { self?: string; log?: Logger; holderImages?: string[] } = {}): ProjectNetworks {
  const { networks, images } = readConfig(testImages);
  const log = options.log ?? pino({ level: "silent" });
  return new ProjectNetworks({
    docker,
    instance,
    subnets: new SubnetPool(networks.pool, networks.size),
    self: options.self,
    holders: new NetworkHolders({ docker, instance, images: options.holderImages ?? [images.node, images.golang], log }),
    log,
  });
}

/** The build sandbox eserveless makes with its default settings, on `networks`' build network. */
export function testBuildSandbox(networks: ProjectNetworks): BuildSandbox {
  const { build } = readConfig({});
  return { ...build, network: () => networks.forBuilds(), slots: new Slots(build.maxConcurrent) };
}
