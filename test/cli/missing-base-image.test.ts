import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { STAND_IN_PREFIX } from "../../src/image/check-base-image.js";
import { fixtureDir } from "../support/fixtures.js";
import { runCli } from "../support/run-cli.js";
import { ADMIN_TOKEN } from "../support/start-eserveless.js";
import { useEserveless } from "../support/use-eserveless.js";

// A host without registry access whose stand-in base image was never built
// (or was removed): the deployment must say how to get one, once, and Docker
// must not be asked to pull the stand-in's name from Docker Hub.
const MISSING = `${STAND_IN_PREFIX}node:missing-${process.pid}`;
const stack = useEserveless({ env: { ESERVELESS_NODE_IMAGE: MISSING } });
const home = mkdtempSync(join(tmpdir(), "eserveless-home-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe("a deployment whose base image is a missing stand-in", () => {
  it("fails before any build step, names npm run images and both variables, and says it once", async () => {
    const result = await runCli(["deploy", fixtureDir("node-hello"), "--name", "no-base"], {
      ESERVELESS_URL: stack.server.url,
      ESERVELESS_ADMIN_TOKEN: ADMIN_TOKEN,
      HOME: home,
    });
    const output = result.stdout + result.stderr;
    expect(result.code, output).toBe(1);
    expect(output).toContain(`The base image ${MISSING} is not on this Docker host`);
    expect(output).toContain("npm run images");
    expect(output).toContain("ESERVELESS_NODE_IMAGE");
    expect(output).toContain("ESERVELESS_GO_IMAGE");
    // Once: not in a build line, a failure line and the CLI's summary.
    expect(output.split(`The base image ${MISSING}`).length - 1, output).toBe(1);
    // Checked before the build: Docker never ran the FROM step, so it never tried to pull the name.
    expect(output).not.toMatch(/^Step \d+\/\d+ : FROM/m);
    expect(output).not.toMatch(/pull access denied|repository does not exist/);
    expect(output).toContain("failed on the server's side");
  });
});
