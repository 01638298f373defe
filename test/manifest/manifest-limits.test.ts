import { describe, expect, it } from "vitest";
import { SourceError } from "../../src/errors.js";
import { defaultManifestLimits, type ManifestLimits } from "../../src/manifest/manifest-limits.js";
import { type ManifestSource, readManifest } from "../../src/manifest/read-manifest.js";

const nodeProject: ManifestSource = { has: (path) => path === "package.json" };
const MIB = 1024 ** 2;

/** A node manifest whose only function has `lines` (indented under `- name: F`). */
const oneFunction = (...lines: string[]) => ["runtime: node", "functions:", "  - name: F", "    type: http", ...lines.map((line) => `    ${line}`)].join("\n");

async function problems(text: string, limits: ManifestLimits = defaultManifestLimits): Promise<string[]> {
  try {
    await readManifest(text, nodeProject, ".eserveless.yaml", limits);
  } catch (error) {
    expect(error).toBeInstanceOf(SourceError);
    return (error as SourceError).message.split("\n");
  }
  throw new Error("readManifest accepted the manifest");
}

describe("readManifest: this server's maximums", () => {
  it("refuses what the review deployed: 16g of memory and a million replicas, naming each setting", async () => {
    expect(await problems(oneFunction("memory: 16g", "minReplicas: 1000000", "maxReplicas: 1000000"))).toEqual([
      `.eserveless.yaml line 5: functions[0].memory "16g" is over this server's maximum of 1 GiB (ESERVELESS_MAX_MEMORY); ask for less, or ask the operator to raise it`,
      `.eserveless.yaml line 6: functions[0].minReplicas 1000000 is over this server's maximum of ${defaultManifestLimits.maxReplicas} (ESERVELESS_MAX_REPLICAS); ask for less, or ask the operator to raise it`,
      `.eserveless.yaml line 7: functions[0].maxReplicas 1000000 is over this server's maximum of ${defaultManifestLimits.maxReplicas} (ESERVELESS_MAX_REPLICAS); ask for less, or ask the operator to raise it`,
    ]);
  });

  it("refuses more functions than allowed before validating any of them", async () => {
    const count = defaultManifestLimits.maxFunctions + 1;
    // Each is invalid too: only the count is reported, as nothing else was looked at.
    const text = `runtime: node\nfunctions:\n${Array.from({ length: count }, (_, i) => `  - { name: f${i}, type: htp }`).join("\n")}\n`;
    expect(await problems(text)).toEqual([
      `.eserveless.yaml line 2: functions lists ${count} functions, more than this server's maximum of ${defaultManifestLimits.maxFunctions} (ESERVELESS_MAX_FUNCTIONS); split the project, or ask the operator to raise it`,
    ]);
  });

  it("takes the limits it is given, not its defaults", async () => {
    const limits: ManifestLimits = { maxManifestBytes: 4096, maxFunctions: 1, maxReplicas: 2, maxMemoryBytes: 128 * MIB };
    const two = "runtime: node\nfunctions: [{ name: A, type: http }, { name: B, type: http }]\n";
    expect((await problems(two, limits))[0]).toContain("more than this server's maximum of 1 (ESERVELESS_MAX_FUNCTIONS)");
    expect(await problems(oneFunction("memory: 129", "maxReplicas: 3"), limits)).toEqual([
      `.eserveless.yaml line 5: functions[0].memory 129 is over this server's maximum of 128 MiB (ESERVELESS_MAX_MEMORY); ask for less, or ask the operator to raise it`,
      `.eserveless.yaml line 6: functions[0].maxReplicas 3 is over this server's maximum of 2 (ESERVELESS_MAX_REPLICAS); ask for less, or ask the operator to raise it`,
    ]);
    const { manifest } = await readManifest(oneFunction("memory: 128m", "minReplicas: 2", "maxReplicas: 2"), nodeProject, ".eserveless.yaml", limits);
    expect(manifest.functions[0]).toMatchObject({ memory: 128 * MIB, minReplicas: 2, maxReplicas: 2 });
  });

  it("lowers the defaults a manifest did not write to the server's maximums", async () => {
    const limits: ManifestLimits = { ...defaultManifestLimits, maxReplicas: 2, maxMemoryBytes: 64 * MIB };
    const { manifest } = await readManifest(oneFunction(), nodeProject, ".eserveless.yaml", limits);
    expect(manifest.functions[0]).toMatchObject({ memory: 64 * MIB, minReplicas: 0, maxReplicas: 2 });
    // On the default limits, the schema's defaults stand.
    const { manifest: plain } = await readManifest(oneFunction(), nodeProject);
    expect(plain.functions[0]).toMatchObject({ memory: 256 * MIB, minReplicas: 0, maxReplicas: 5 });
  });
});
