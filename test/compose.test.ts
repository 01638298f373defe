import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { sandboxedContainer } from "../src/run/sandbox.js";

const compose = parse(readFileSync(new URL("../compose.yaml", import.meta.url), "utf8")) as {
  services: Record<string, { build?: string; image?: string; group_add?: string[]; ports?: string[]; environment: Record<string, string>; networks?: string[]; volumes: string[] }>;
  networks?: Record<string, { name: string }>;
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
    if (composeCli()) execFileSync("docker", ["compose", "-f", "compose.yaml", "config", "--quiet"], { stdio: "pipe", env: { ...process.env, DOCKER_GID: "999" } });
    expect(service.build).toBe(".");
  });

  it("runs the image the README builds with npm run docker:build, as its user with the socket's group", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    expect(readme).toContain(`npm run docker:build -- ${service.image}`);
    expect(service.group_add).toEqual([expect.stringMatching(/^\$\{DOCKER_GID:\?/)]);
  });

  it("mounts the Docker socket and a data volume, and keeps DATA_DIR on it", () => {
    expect(service.volumes).toContain("/var/run/docker.sock:/var/run/docker.sock");
    const data = service.volumes.find((v) => v.endsWith(":/data"))!;
    expect(Object.keys(compose.volumes)).toContain(data.split(":")[0]);
    expect(service.environment.DATA_DIR).toBe("/data");
  });

  it("publishes the server's port, and lets it join each project's network instead of sharing one with every function", () => {
    expect(service.ports).toEqual(["${PORT:-3000}:3000"]);
    // Docker sets HOSTNAME to the container's id, which `auto` reads.
    expect(service.environment.ESERVELESS_CONTAINER).toBe("auto");
    expect(service.environment.ESERVELESS_DOCKER_NETWORK).toBeUndefined();
    expect(service.networks).toBeUndefined();
    expect(compose.networks).toBeUndefined();
  });
});

describe("function containers", () => {
  it("join their project's network, and publish their port only when told where", () => {
    const reachedByName = sandboxedContainer({ image: "i", name: "n", env: {}, labels: {}, network: "es-octo-hello-0123456789ab" });
    expect(reachedByName.HostConfig?.NetworkMode).toBe("es-octo-hello-0123456789ab");
    expect(reachedByName.HostConfig?.PortBindings).toBeUndefined();
    const published = sandboxedContainer({ image: "i", name: "n", env: {}, labels: {}, network: "es-octo-hello-0123456789ab", publishHost: "127.0.0.1" });
    expect(published.HostConfig?.NetworkMode).toBe("es-octo-hello-0123456789ab");
    expect(published.HostConfig?.PortBindings).toEqual({ "8080/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] });
  });
});
