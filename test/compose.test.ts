import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { sandboxedContainer } from "../src/run/sandbox.js";

const compose = parse(readFileSync(new URL("../compose.yaml", import.meta.url), "utf8")) as {
  services: Record<string, { build?: string; ports?: string[]; environment: Record<string, string>; networks: string[]; volumes: string[] }>;
  networks: Record<string, { name: string }>;
  volumes: Record<string, unknown>;
};
const service = compose.services.eserveless!;

/** `docker compose` where the plugin is installed; Debian's docker.io ships without it. */
function composeCli(): boolean {
  try {
    execFileSync("docker", ["compose", "version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("compose.yaml", () => {
  it("is accepted by docker compose where it is installed, and parses as YAML everywhere", () => {
    if (composeCli()) execFileSync("docker", ["compose", "-f", "compose.yaml", "config", "--quiet"], { stdio: "pipe" });
    expect(service.build).toBe(".");
  });

  it("mounts the Docker socket and a data volume, and keeps DATA_DIR on it", () => {
    expect(service.volumes).toContain("/var/run/docker.sock:/var/run/docker.sock");
    const data = service.volumes.find((v) => v.endsWith(":/data"))!;
    expect(Object.keys(compose.volumes)).toContain(data.split(":")[0]);
    expect(service.environment.DATA_DIR).toBe("/data");
  });

  it("publishes the server's port and puts functions on a network the server shares", () => {
    expect(service.ports).toEqual(["${PORT:-3000}:3000"]);
    const network = service.environment.ESERVELESS_DOCKER_NETWORK;
    const declared = Object.entries(compose.networks).find(([, n]) => n.name === network);
    expect(declared).toBeDefined();
    expect(service.networks).toContain(declared![0]);
  });
});

describe("function containers on a Docker network", () => {
  it("join the network and publish nothing", () => {
    const options = sandboxedContainer({ image: "i", name: "n", env: {}, labels: {}, network: "eserveless-functions" });
    expect(options.HostConfig?.NetworkMode).toBe("eserveless-functions");
    expect(options.HostConfig?.PortBindings).toBeUndefined();
  });
});
