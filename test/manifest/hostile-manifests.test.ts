import { monitorEventLoopDelay } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import { SourceError } from "../../src/errors.js";
import { defaultManifestLimits } from "../../src/manifest/manifest-limits.js";
import { MAX_MANIFEST_ALIASES, MAX_MANIFEST_DEPTH, MAX_MANIFEST_NODES } from "../../src/manifest/parse-manifest-yaml.js";
import { type ManifestSource, readManifest } from "../../src/manifest/read-manifest.js";

const nodeProject: ManifestSource = { has: (path) => path === "package.json" };
const CAP = defaultManifestLimits.maxManifestBytes;
const FUNCTION = "runtime: node\nfunctions:\n  - name: A\n    type: http\n";

/** `head`, then `item(0)`, `item(1)`… while the text stays within `bytes` and the items within `count`, then `tail`. */
function fill(head: string, item: (i: number) => string, options: { bytes?: number; count?: number; tail?: string } = {}): string {
  const { bytes = CAP, count = Infinity, tail = "" } = options;
  const parts = [head];
  let length = Buffer.byteLength(head) + Buffer.byteLength(tail);
  for (let i = 0; i < count; i++) {
    const next = item(i);
    if (length + Buffer.byteLength(next) > bytes) break;
    parts.push(next);
    length += Buffer.byteLength(next);
  }
  return parts.join("") + tail;
}

/** Items whose nodes stay under MAX_MANIFEST_NODES when each makes `nodes` of them (the function above takes a dozen). */
const under = (nodes: number) => Math.floor((MAX_MANIFEST_NODES - 20) / nodes);

/**
 * The worst manifests a push can send within the caps: as large as the size
 * cap allows, each shaped to make one step of reading expensive.
 */
function hostileManifests(): Record<string, string> {
  const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth);
  return {
    // Keys: yaml's duplicate check compared each with every earlier one.
    "many long keys": fill(FUNCTION + "    meta:\n", (i) => `      key-${String(i).padStart(6, "0")}-${"k".repeat(24)}: v\n`, { count: under(3) }),
    "many short keys in a flow mapping": fill(FUNCTION + "    meta: {", (i) => `k${i}: 0, `, { count: under(4), tail: "}\n" }),
    "many duplicate keys": fill(FUNCTION + "    meta:\n", (i) => `      k${i % 7}: ${"v".repeat(20)}\n`, { count: under(3) }),
    "many unknown keys": fill(FUNCTION, (i) => `    shedule${i}: ${"x".repeat(20)}\n`, { count: under(3) }),
    "many invalid values": fill(FUNCTION + "    meta:\n", (i) => `      k${i}: [${"x".repeat(8)}]\n`, { count: under(5) }),
    "many NUL values": fill(FUNCTION + "    env:\n", (i) => `      K${i}: "${"\\0".repeat(8)}"\n`, { count: under(3) }),
    "many YAML errors": fill(FUNCTION, () => "  : :\n", { count: under(2) }),
    "many tags": fill(FUNCTION + "    meta:\n", (i) => `      k${i}: !!binary ${"AAAA".repeat(4)}\n`, { count: under(3) }),
    "the most functions, each with a schedule and a zone": fill(
      "runtime: node\nfunctions:\n",
      (i) => `  - {name: f${i}, type: cron, schedule: "*/5 1-23/2 * JAN-DEC MON-FRI", timezone: America/Argentina/Buenos_Aires, meta: {${"k: v, ".repeat(0)}a: ${"x".repeat(6000)}}}\n`,
      { count: defaultManifestLimits.maxFunctions },
    ),
    "a long cron expression": `${FUNCTION.replace("http", "cron")}    schedule: "${fill("", (i) => `${i % 60},`, { bytes: CAP - 200 })}0 * * * *"\n`,
    "a long time zone": `${FUNCTION.replace("http", "cron")}    schedule: "* * * * *"\n    timezone: "${"Europe/".repeat((CAP - 200) / 7)}"\n`,
    "nesting as deep as allowed, repeated": fill(FUNCTION, (i) => `x${i}: ${nested(MAX_MANIFEST_DEPTH - 1)}\n`, { count: under(2 * MAX_MANIFEST_DEPTH) }),
    "nesting far too deep": `${FUNCTION}x: ${nested((CAP - 200) / 2)}\n`,
    "a billion laughs": `x:\n  a0: &a0 [${Array(10).fill("lol").join(", ")}]\n${Array.from({ length: 9 }, (_, i) => `  a${i + 1}: &a${i + 1} [${Array(10).fill(`*a${i}`).join(", ")}]\n`).join("")}${FUNCTION}    meta: { k: *a9 }\n`,
    "the most aliases of a large anchor": fill(`${FUNCTION}x: &big [${Array(300).fill("y".repeat(50)).join(", ")}]\ny:\n`, () => "  - *big\n", { count: MAX_MANIFEST_ALIASES }),
    "too many aliases": fill(`${FUNCTION}    meta:\n      a: &a x\n`, (i) => `      k${i}: *a\n`, { count: under(3) }),
    "a long plain value": `${FUNCTION}    meta:\n      k: ${"x".repeat(CAP - 100)}\n`,
    "a long quoted value full of escapes": `${FUNCTION}    meta:\n      k: "${"\\u00e9".repeat((CAP - 100) / 6)}"\n`,
    "a long block value": `${FUNCTION}    meta:\n      k: |\n${fill("", () => `        ${"x".repeat(70)}\n`, { bytes: CAP - 100 })}`,
    "a long key": `${FUNCTION}    ? ${"k".repeat(CAP - 100)}\n    : 1\n`,
    "comments only": fill("", (i) => `# ${i} ${"-".repeat(60)}\n`),
    "many documents": fill(FUNCTION, () => "---\n"),
    "tabs and blank lines": fill(FUNCTION, () => "\t \n\n"),
  };
}

/**
 * The longest the event loop was held while `read` ran: the largest delay of
 * a 1 ms timer, in milliseconds. The least of three tries (five when all
 * three are long), as other programs on a busy host delay timers too, while
 * a long synchronous step delays every try.
 */
async function worstStall(read: () => Promise<unknown>): Promise<number> {
  let least = Infinity;
  for (let i = 0; i < 5 && (i < 3 || least >= 50); i++) {
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    // Its first tick only starts the count: a stall before it would go unseen.
    await new Promise((resolve) => setTimeout(resolve, 5));
    await Promise.resolve().then(read).catch(() => undefined);
    // A stall at the very end shows only once the loop turns again.
    await new Promise((resolve) => setTimeout(resolve, 5));
    histogram.disable();
    least = Math.min(least, histogram.max / 1e6);
  }
  return least;
}

async function problems(text: string | Uint8Array): Promise<string[]> {
  try {
    await readManifest(text, nodeProject);
  } catch (error) {
    expect(error).toBeInstanceOf(SourceError);
    return (error as SourceError).message.split("\n");
  }
  throw new Error("readManifest accepted the manifest");
}

describe("hostile manifests", () => {
  it("are each within the size cap, the largest close to it", () => {
    const sizes = Object.values(hostileManifests()).map((text) => Buffer.byteLength(text));
    for (const size of sizes) expect(size).toBeLessThanOrEqual(CAP);
    expect(Math.max(...sizes)).toBeGreaterThan(CAP - 100);
  });

  it("never hold the event loop for 100 ms or more while they are read", { timeout: 300_000 }, async () => {
    // Warm up the code paths once, as on a server that has read manifests before.
    await readManifest(FUNCTION, nodeProject);
    const stalls: Array<[string, number]> = [];
    for (const [shape, text] of Object.entries(hostileManifests())) stalls.push([shape, await worstStall(() => readManifest(text, nodeProject))]);
    const [shape, worst] = stalls.reduce((a, b) => (b[1] > a[1] ? b : a));
    console.info(`worst event-loop stall while reading hostile ${CAP / 1024} KiB manifests: ${worst.toFixed(1)} ms (${shape})`);
    for (const [name, stall] of stalls) expect(stall, name).toBeLessThan(100);
  });

  it("are refused with their line when the shape passes a ceiling", async () => {
    const all = hostileManifests();
    expect((await problems(all["nesting far too deep"]!))[0]).toMatch(/^\.eserveless\.yaml line 5, column \d+: Nested more than/);
    expect((await problems(all["too many aliases"]!))[0]).toMatch(new RegExp(`line \\d+, column \\d+: More than ${MAX_MANIFEST_ALIASES} aliases`));
    expect(await problems(all["a billion laughs"]!)).toEqual([
      ".eserveless.yaml: Excessive alias count indicates a resource exhaustion attack",
    ]);
    expect((await problems(fill(FUNCTION, (i) => `k${i}: 0\n`)))[0]).toMatch(new RegExp(`line \\d+, column \\d+: More than ${MAX_MANIFEST_NODES} keys, values and list items`));
  });

  it("list the first 20 problems and count the others", async () => {
    const lines = await problems(hostileManifests()["many invalid values"]!);
    expect(lines).toHaveLength(21);
    expect(lines[0]).toBe(".eserveless.yaml line 6: functions[0].meta.k0 must be a string, number or boolean, got a list");
    expect(lines[20]).toMatch(/^\.eserveless\.yaml: … and \d+ more problems$/);
    const yamlErrors = await problems(hostileManifests()["many YAML errors"]!);
    expect(yamlErrors).toHaveLength(21);
    expect(yamlErrors[20]).toMatch(/^\.eserveless\.yaml: … and \d+ more YAML errors$/);
  });
});

describe("the manifest size cap (ESERVELESS_MAX_MANIFEST_BYTES)", () => {
  it("reads a manifest of exactly the cap", async () => {
    const text = fill(FUNCTION, () => "#\n", { bytes: CAP });
    expect(Buffer.byteLength(text)).toBe(CAP);
    const { manifest } = await readManifest(text, nodeProject);
    expect(manifest.functions[0]?.name).toBe("A");
  });

  it("refuses one byte more, saying the size, the cap and the setting", async () => {
    const text = fill(FUNCTION, () => "#\n", { bytes: CAP }) + "\n";
    expect(await problems(text)).toEqual([
      `.eserveless.yaml is ${CAP + 1} bytes, more than the ${CAP} bytes (${CAP / 1024} KiB) this server reads (ESERVELESS_MAX_MANIFEST_BYTES); a manifest needs a few hundred bytes: keep data out of it`,
    ]);
  });

  it("refuses a 25 MB manifest at once, before decoding it", async () => {
    // Two-byte characters: decoding them all would take a while.
    const bytes = Buffer.from(`${FUNCTION}    meta:\n${"      k: é\n".repeat(2_200_000)}`);
    expect(bytes.length).toBeGreaterThan(25e6);
    const started = performance.now();
    const [line] = await problems(bytes);
    expect(performance.now() - started).toBeLessThan(50);
    expect(line).toMatch(new RegExp(`^\\.eserveless\\.yaml is ${bytes.length} bytes, more than the ${CAP} bytes \\(${CAP / 1024} KiB\\) this server reads \\(ESERVELESS_MAX_MANIFEST_BYTES\\)`));
  });

  it("is the limit it is given", async () => {
    const limits = { ...defaultManifestLimits, maxManifestBytes: 100 };
    await expect(readManifest(FUNCTION + "#".repeat(60), nodeProject, ".eserveless.yml", limits)).rejects.toThrow(
      /^\.eserveless\.yml is 112 bytes, more than the 100 bytes this server reads \(ESERVELESS_MAX_MANIFEST_BYTES\)/,
    );
  });
});
