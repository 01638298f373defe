import { describe, expect, it } from "vitest";
import { SourceError } from "../../src/errors.js";
import { defaultManifestLimits } from "../../src/manifest/manifest-limits.js";
import { MAX_CONCURRENCY, MAX_IDLE_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS } from "../../src/manifest/manifest-schema.js";
import { type ManifestSource, readManifest } from "../../src/manifest/read-manifest.js";

const files = (...paths: string[]): ManifestSource => ({ has: (path) => paths.includes(path) });
const nodeProject = files("package.json", "functions.js");
const goProject = files("go.mod", "functions.go");

/** The lines of the SourceError that readManifest throws for `text`. */
async function problems(text: string, source: ManifestSource = nodeProject): Promise<string[]> {
  try {
    await readManifest(text, source);
  } catch (error) {
    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).code).toBe("manifest_invalid");
    return (error as SourceError).message.split("\n");
  }
  throw new Error("readManifest accepted the manifest");
}

/** A node manifest whose only function has `lines` (indented under `- name: F`). */
const oneFunction = (...lines: string[]) =>
  ["runtime: node", "functions:", "  - name: F", ...lines.map((line) => `    ${line}`)].join("\n");

describe("readManifest: the original eserveless projects", () => {
  it("reads the node example unchanged", async () => {
    // evanxg852000/node-eserveless-example, byte for byte (trailing space included).
    const text =
      'repo: https://github.com/evanxg852000/node-eserveless-example\nruntime: node\nfunctions:\n- name: API\n  type: http\n- name: Ticker\n  type: cron\n  schedule: "*/1 * * * *"\n  meta:\n    path: "/usr/bin"\n    name: prod \n';
    const { manifest, warnings } = await readManifest(text, nodeProject);
    expect(warnings).toEqual([]);
    expect(manifest.repo).toBe("https://github.com/evanxg852000/node-eserveless-example");
    expect(manifest.runtime).toBe("node");
    expect(manifest.entry).toBe("functions.js");
    expect(manifest.functions.map((fn) => [fn.name, fn.type])).toEqual([
      ["API", "http"],
      ["Ticker", "cron"],
    ]);
    const ticker = manifest.functions[1];
    expect(ticker?.type === "cron" && ticker.schedule).toBe("*/1 * * * *");
    expect(ticker?.meta).toEqual({ path: "/usr/bin", name: "prod" });
  });

  it("reads the go example, whose misspelt `rutime` leaves golang to be inferred from go.mod", async () => {
    // evanxg852000/go-eserveless-example, byte for byte.
    const text =
      'repo: https://github.com/evanxg852000/go-eserveless-example\nrutime: golang\nfunctions:\n- name: API\n  type: http\n- name: Ticker\n  type: cron\n  schedule: "*/1 * * * *"\n  meta:\n    path: "/usr/bin"\n    name: dev \n';
    const { manifest, warnings } = await readManifest(text, goProject);
    expect(manifest.runtime).toBe("golang");
    expect(manifest.functions.map((fn) => fn.name)).toEqual(["API", "Ticker"]);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/^\.eserveless\.yaml line 2: unknown key "rutime" .*did you mean "runtime"\?.*inferred from the source files/);
    expect(warnings[1]).toContain("inferred golang from go.mod — add `runtime: golang` to .eserveless.yaml");
  });
});

describe("readManifest: defaults and normalisation", () => {
  it("applies every default", async () => {
    const { manifest } = await readManifest(
      "runtime: node\nfunctions:\n  - { name: Web, type: http }\n  - { name: Tick, type: cron, schedule: '0 * * * *' }\n",
      nodeProject,
    );
    const shared = { memory: 256 * 1024 ** 2, env: {}, meta: {}, secrets: [], concurrency: 100, minReplicas: 0, maxReplicas: 5, idleTimeout: 300 };
    expect(manifest).toEqual({
      runtime: "node",
      entry: "functions.js",
      waitForChecks: false,
      functions: [
        { name: "Web", type: "http", timeout: 30, ...shared },
        { name: "Tick", type: "cron", timeout: 60, schedule: "0 * * * *", timezone: "UTC", ...shared },
      ],
    });
    expect(manifest.functions[0]).not.toHaveProperty("schedule");
    expect(manifest.functions[0]).not.toHaveProperty("timezone");
  });

  it("keeps the values that are given", async () => {
    const { manifest } = await readManifest(
      oneFunction(
        "type: cron",
        'schedule: "*/10 * * * * *"',
        "timezone: europe/paris",
        "timeout: 2.5",
        "concurrency: 1",
        "minReplicas: 1",
        "maxReplicas: 1",
        "idleTimeout: 60",
      ) + "\nentry: src/index.mjs\n",
      nodeProject,
    );
    expect(manifest.entry).toBe("src/index.mjs");
    expect(manifest.functions[0]).toMatchObject({
      schedule: "*/10 * * * * *", // 6 fields: seconds first
      timezone: "Europe/Paris", // the canonical spelling
      timeout: 2.5,
      concurrency: 1,
      minReplicas: 1,
      maxReplicas: 1,
      idleTimeout: 60,
    });
  });

  it("reads type case-insensitively, as the original did", async () => {
    const { manifest } = await readManifest(oneFunction("type: HTTP"), nodeProject);
    expect(manifest.functions[0]?.type).toBe("http");
  });

  it.each([
    ["128m", 128 * 1024 ** 2],
    ["1g", 1024 ** 3],
    ["256Mi", 256 * 1024 ** 2],
    ["512MB", 512 * 1024 ** 2],
    ["1.5GiB", 1.5 * 1024 ** 3],
    ["300", 300 * 1024 ** 2],
    ["16m", 16 * 1024 ** 2],
    ["16g", 16 * 1024 ** 3],
  ])("reads memory %s as %i bytes", async (memory, bytes) => {
    // On a server that allows the schema's largest size.
    const limits = { ...defaultManifestLimits, maxMemoryBytes: 16 * 1024 ** 3 };
    const { manifest } = await readManifest(oneFunction("type: http", `memory: ${memory}`), nodeProject, ".eserveless.yaml", limits);
    expect(manifest.functions[0]?.memory).toBe(bytes);
  });

  it("reads meta and env values as written, numbers and booleans included", async () => {
    const { manifest } = await readManifest(
      oneFunction("type: http", "meta: { version: 1.10, retries: 3, debug: true, empty: }", "env: { PORT_OFFSET: 010, ON: false }"),
      nodeProject,
    );
    expect(manifest.functions[0]?.meta).toEqual({ version: "1.10", retries: "3", debug: "true", empty: "" });
    expect(manifest.functions[0]?.env).toEqual({ PORT_OFFSET: "010", ON: "false" });
  });
});

describe("readManifest: runtime", () => {
  it("infers node from package.json, with a warning", async () => {
    const { manifest, warnings } = await readManifest("functions: [{ name: A, type: http }]", nodeProject);
    expect(manifest.runtime).toBe("node");
    expect(warnings).toEqual([".eserveless.yaml: runtime not set; inferred node from package.json — add `runtime: node` to .eserveless.yaml"]);
  });

  it("warns about `rutime: node` and infers the runtime from the files", async () => {
    const { manifest, warnings } = await readManifest("rutime: node\nfunctions: [{ name: A, type: http }]", goProject);
    expect(manifest.runtime).toBe("golang");
    expect(warnings[0]).toContain('line 1: unknown key "rutime" is ignored — did you mean "runtime"?');
    expect(warnings[1]).toContain("inferred golang from go.mod");
  });

  it("refuses a missing runtime that neither or both files settle", async () => {
    const text = "functions: [{ name: A, type: http }]";
    expect(await problems(text, files())).toEqual([
      ".eserveless.yaml: runtime is not set and neither package.json nor go.mod exists: add `runtime: node` or `runtime: golang`",
    ]);
    expect((await problems(text, files("package.json", "go.mod")))[0]).toContain("both package.json and go.mod exist: add `runtime: node` or `runtime: golang`");
  });

  it.each([
    ["nodejs", "node"],
    ["javascript", "node"],
    ["go", "golang"],
    ["Node", "node"],
  ])("reads runtime %s as %s", async (written, runtime) => {
    const { manifest, warnings } = await readManifest(`runtime: ${written}\nfunctions: [{ name: A, type: http }]`, files());
    expect(manifest.runtime).toBe(runtime);
    expect(warnings).toEqual(written === "Node" ? [] : [`.eserveless.yaml line 1: runtime "${written}" is read as ${runtime} — write \`runtime: ${runtime}\``]);
  });

  it("refuses other runtimes, listing the allowed ones", async () => {
    expect(await problems("runtime: python\nfunctions: [{ name: A, type: http }]")).toEqual([
      '.eserveless.yaml line 1: runtime must be "node" or "golang", got "python"',
    ]);
  });
});

describe("readManifest: invalid values name the key path and its line", () => {
  it.each([
    [oneFunction("type: htp"), 4, 'functions[0].type must be "http" or "cron", got "htp"'],
    [oneFunction("memory: 1g"), 3, 'functions[0].type must be "http" or "cron", got nothing'],
    ["runtime: node\nfunctions:\n  - name: my api\n    type: http", 3, 'functions[0].name must be a name such as "api"'],
    [oneFunction("type: http", "timeout: 0"), 5, "functions[0].timeout must be a number of seconds greater than 0, got 0"],
    [oneFunction("type: http", 'timeout: "30"'), 5, 'functions[0].timeout must be a number of seconds greater than 0, got "30"'],
    [oneFunction("type: http", "memory: 8m"), 5, 'functions[0].memory must be between 16 MiB and 16 GiB, got "8m"'],
    [oneFunction("type: http", "memory: 17g"), 5, 'functions[0].memory must be between 16 MiB and 16 GiB, got "17g"'],
    [oneFunction("type: http", "memory: 4"), 5, "functions[0].memory must be between 16 MiB and 16 GiB, got 4"],
    [oneFunction("type: http", "memory: lots"), 5, 'functions[0].memory must be a size such as "256m"'],
    [oneFunction("type: http", "concurrency: 0"), 5, "functions[0].concurrency must be a whole number of at least 1, got 0"],
    [oneFunction("type: http", "minReplicas: 1.5"), 5, "functions[0].minReplicas must be a whole number of at least 0, got 1.5"],
    [oneFunction("type: http", "minReplicas: 3", "maxReplicas: 2"), 6, "functions[0].maxReplicas must be at least minReplicas, got 2"],
    [oneFunction("type: http", "idleTimeout: -5"), 5, "functions[0].idleTimeout must be a number of seconds greater than 0, got -5"],
    [oneFunction("type: http", 'schedule: "* * * * *"'), 5, "functions[0].schedule is only allowed for cron functions"],
    [oneFunction("type: http", "timezone: UTC"), 5, "functions[0].timezone is only allowed for cron functions"],
    [oneFunction("type: cron"), 3, "functions[0].schedule is required"],
    [oneFunction("type: cron", 'schedule: "61 * * * *"'), 5, 'functions[0].schedule "61 * * * *" is not a valid cron expression'],
    [oneFunction("type: cron", "schedule: every minute"), 5, 'functions[0].schedule "every minute" is not a valid cron expression'],
    [oneFunction("type: cron", 'schedule: "0 0 0 1 1 * 2030"'), 5, 'functions[0].schedule "0 0 0 1 1 * 2030" is not a valid cron expression'],
    [oneFunction("type: cron", 'schedule: "* * * * *"', "timezone: Mars/Olympus"), 6, 'functions[0].timezone must be an IANA time zone such as "Europe/Paris", got "Mars/Olympus"'],
    [oneFunction("type: http", "env:", "  1BAD: x"), 6, 'functions[0].env["1BAD"] is not a valid variable name'],
    [oneFunction("type: http", "env:", "  ESERVELESS_TOKEN: x"), 6, "functions[0].env.ESERVELESS_TOKEN is reserved"],
    [oneFunction("type: http", "env:", "  LIST: [1, 2]"), 6, "functions[0].env.LIST must be a string, number or boolean, got a list"],
    // The key's line, not the value's, when the value starts on the next line.
    [oneFunction("type: http", "env:", "  - A=1"), 5, "functions[0].env must be a mapping of variable names to values, got a list"],
    [oneFunction("type: http", "meta: on"), 5, 'functions[0].meta must be a mapping of keys to values, got "on"'],
    [oneFunction("type: http", "meta:", "  a-b: 1", "  A_B: 2"), 7, 'functions[0].meta.A_B and meta "a-b" both become ESERVELESS_A_B; rename one of them'],
    ["runtime: node\nentry: /etc/passwd\nfunctions: [{ name: A, type: http }]", 2, 'entry must be a path inside the repository such as "functions.js", got "/etc/passwd"'],
    ["runtime: node\nentry: ../up.js\nfunctions: [{ name: A, type: http }]", 2, "entry must be a path inside the repository"],
    ["runtime: node\nfunctions: []", 2, "functions must list at least one function"],
    ["runtime: node\nfunctions:", 2, "functions must list at least one function"],
    ["runtime: node\nfunctions:\n  - API", 3, 'functions[0] must be a mapping with name: and type:, got "API"'],
    ["runtime: node\nfunctions:\n  - [API, http]", 3, "functions[0] must be a mapping with name: and type:, got a list"],
    ["runtime: node", 1, "functions is required"],
  ])("%#: %j", async (text, line, message) => {
    const [first] = await problems(text);
    expect(first).toContain(`.eserveless.yaml line ${line}: ${message}`);
  });

  it("refuses duplicate names regardless of case, naming both functions", async () => {
    const text = "runtime: node\nfunctions:\n  - name: api\n    type: http\n  - name: Other\n    type: http\n  - name: API\n    type: http\n";
    expect(await problems(text)).toEqual([
      '.eserveless.yaml line 7: functions[2].name "API" is also the name of functions[0] ("api"); names must differ regardless of case, as they become URLs and container names',
    ]);
  });

  it("reports every problem at once, in line order", async () => {
    const text = [
      "runtime: node", //                   1
      "functions:", //                      2
      "  - name: API", //                   3
      "    type: htp", //                   4
      "  - name: Tick", //                  5
      "    type: cron", //                  6
      '    schedule: "*/5 * * *"', //       7
      "    memory: 2m", //                  8
      "  - name: api", //                   9
      "    type: http", //                 10
      "    timeout: -1", //                11
    ].join("\n");
    const lines = await problems(text);
    expect(lines).toHaveLength(5);
    expect(lines[0]).toBe('.eserveless.yaml line 4: functions[0].type must be "http" or "cron", got "htp"');
    expect(lines[1]).toMatch(/^\.eserveless\.yaml line 7: functions\[1\]\.schedule "\*\/5 \* \* \*" is not a valid cron expression/);
    expect(lines[2]).toBe('.eserveless.yaml line 8: functions[1].memory must be between 16 MiB and 16 GiB, got "2m"');
    expect(lines[3]).toMatch(/^\.eserveless\.yaml line 9: functions\[2\]\.name "api" is also the name of functions\[0\]/);
    expect(lines[4]).toBe(".eserveless.yaml line 11: functions[2].timeout must be a number of seconds greater than 0, got -1");
  });

  it("uses the file name it is given", async () => {
    await expect(readManifest("runtime: node\nfunctions: []", nodeProject, ".eserveless.yml")).rejects.toThrow(/^\.eserveless\.yml line 2: /);
  });
});

describe("readManifest: durations and counts have ceilings", () => {
  it.each([
    // 3,000,000 s overflows Node's timers (2^31 ms): every request timed out after 1 ms.
    ["http", "timeout", 3_000_000, MAX_TIMEOUT_SECONDS],
    ["cron", "timeout", MAX_TIMEOUT_SECONDS + 1, MAX_TIMEOUT_SECONDS],
    ["http", "idleTimeout", 2 ** 31, MAX_IDLE_TIMEOUT_SECONDS],
  ])("refuses a %s function's %s of %i s, over %i s", async (type, key, seconds, max) => {
    const text = oneFunction(`type: ${type}`, ...(type === "cron" ? ['schedule: "* * * * *"'] : []), `${key}: ${seconds}`);
    expect(await problems(text)).toEqual([
      `.eserveless.yaml line ${type === "cron" ? 6 : 5}: functions[0].${key} must be at most ${max} seconds (${max / 3600} h), got ${seconds}`,
    ]);
  });

  it("accepts the longest durations", async () => {
    const text = oneFunction("type: http", `timeout: ${MAX_TIMEOUT_SECONDS}`, `idleTimeout: ${MAX_IDLE_TIMEOUT_SECONDS}`);
    const { manifest } = await readManifest(text, nodeProject);
    expect(manifest.functions[0]).toMatchObject({ timeout: MAX_TIMEOUT_SECONDS, idleTimeout: MAX_IDLE_TIMEOUT_SECONDS });
  });

  it("refuses a concurrency over its ceiling", async () => {
    expect(await problems(oneFunction("type: http", `concurrency: ${MAX_CONCURRENCY + 1}`))).toEqual([
      `.eserveless.yaml line 5: functions[0].concurrency must be at most ${MAX_CONCURRENCY}, got ${MAX_CONCURRENCY + 1}`,
    ]);
  });
});

describe("readManifest: NUL characters, which no environment variable can hold", () => {
  it.each([
    ["an env value", ["env:", '  TOKEN: "a\\0b"'], "functions[0].env.TOKEN must not contain a NUL character (\\0): an environment variable cannot hold one"],
    ["a meta value", ["meta:", '  region: "eu\\0"'], "functions[0].meta.region must not contain a NUL character (\\0): an environment variable cannot hold one"],
    ["a meta key", ["meta:", '  "re\\0gion": eu'], 'functions[0].meta["re\\u0000gion"] must not contain a NUL character (\\0)'],
    ["an env name", ["env:", '  "TO\\0KEN": x'], 'functions[0].env["TO\\u0000KEN"] is not a valid variable name: use letters, digits and "_", not starting with a digit'],
  ])("are refused in %s, naming the key", async (_where, lines, message) => {
    const [first, ...others] = await problems(oneFunction("type: http", ...lines));
    expect(others).toEqual([]);
    expect(first).toBe(`.eserveless.yaml line 6: ${message}`);
  });

  it("are refused in entry, which reaches the container as a variable", async () => {
    expect((await problems('runtime: node\nentry: "index\\0.js"\nfunctions: [{ name: A, type: http }]'))[0]).toBe(
      '.eserveless.yaml line 2: entry must be a path inside the repository such as "functions.js", got "index\\u0000.js"',
    );
  });
});

describe("readManifest: unknown keys", () => {
  it("warns with the line and the likely key, and still deploys", async () => {
    const text = "runtime: node\nfunctions:\n  - name: A\n    type: http\n    memroy: 1g\n    colour: blue\nFunction: x\n";
    const { manifest, warnings } = await readManifest(text, nodeProject);
    expect(manifest.functions[0]?.memory).toBe(256 * 1024 ** 2);
    expect(warnings).toEqual([
      '.eserveless.yaml line 5: unknown key "memroy" in functions[0] is ignored — did you mean "memory"?',
      '.eserveless.yaml line 6: unknown key "colour" in functions[0] is ignored',
      '.eserveless.yaml line 7: unknown key "Function" is ignored — did you mean "functions"?',
    ]);
  });

  it("adds the warnings to the error they may explain", async () => {
    const lines = await problems(oneFunction("type: cron", 'shedule: "* * * * *"'));
    expect(lines).toEqual([
      ".eserveless.yaml line 3: functions[0].schedule is required",
      '.eserveless.yaml line 5: warning: unknown key "shedule" in functions[0] is ignored — did you mean "schedule"?',
    ]);
  });
});

describe("readManifest: not a manifest", () => {
  it("reports a YAML syntax error with its line and column", async () => {
    expect(await problems("runtime: node\nfunctions:\n  - name: A: B\n    type: http\n")).toEqual([
      expect.stringMatching(/^\.eserveless\.yaml line 3, column 11: Nested mappings are not allowed in compact mappings: /),
    ]);
  });

  it("says what to do about a mis-indented meta:", async () => {
    const [inline] = await problems("runtime: node\nfunctions:\n  - name: API\n    type: http\n    meta: GREETING: hi\n");
    expect(inline).toMatch(/^\.eserveless\.yaml line 5, column 11: Nested mappings are not allowed in compact mappings: .*indented deeper \(`meta:` then ` {2}GREETING: hello`/);
    const [shallow] = await problems("runtime: node\nfunctions:\n  - name: API\n    type: http\n    meta:\n  GREETING: hi\n");
    expect(shallow).toMatch(/^\.eserveless\.yaml line 5, column \d+: .*keys under a key \(such as those of `meta:`\) are indented deeper than it/);
  });

  it("says how many fields a schedule has, in the same terms as what it asks for", async () => {
    const [line] = await problems(oneFunction("type: cron", 'schedule: "* * * *"'));
    expect(line).toBe('.eserveless.yaml line 5: functions[0].schedule "* * * *" is not a valid cron expression (it has 4 fields); use 5 fields "minute hour day month weekday", or 6 with seconds first');
    expect(line).not.toMatch(/seven|parts/);
  });

  it("reports duplicate keys as YAML errors", async () => {
    expect((await problems("runtime: node\nruntime: golang\nfunctions: []"))[0]).toMatch(/^\.eserveless\.yaml line 2, column 1: Map keys must be unique/);
  });

  it.each(["", "# nothing yet\n", "~"])("refuses an empty file (%j)", async (text) => {
    expect(await problems(text)).toEqual([expect.stringMatching(/^\.eserveless\.yaml is empty: it needs a runtime and at least one function/)]);
  });

  it("refuses a document that is not a mapping", async () => {
    expect(await problems("- name: A\n  type: http")).toEqual([".eserveless.yaml must be a mapping with keys such as runtime: and functions:, got a list"]);
    expect((await problems("hello"))[0]).toContain("got a single value");
  });
});

describe("readManifest: waitForChecks", () => {
  const withChecks = (value: string) => `waitForChecks: ${value}\n${oneFunction("type: http")}`;

  it("is false when absent, and takes true or a list of names (the original format stays valid)", async () => {
    expect((await readManifest(oneFunction("type: http"), nodeProject)).manifest.waitForChecks).toBe(false);
    expect((await readManifest(withChecks("true"), nodeProject)).manifest.waitForChecks).toBe(true);
    expect((await readManifest(withChecks("[ci/test, lint, lint]"), nodeProject)).manifest.waitForChecks).toEqual(["ci/test", "lint"]);
  });

  it("refuses anything else, with the key's line", async () => {
    expect((await problems(withChecks("yes please"))).join("\n")).toMatch(/line 1: waitForChecks must be true, false or a list of check names/);
    expect((await problems(withChecks("[]"))).join("\n")).toMatch(/waitForChecks/);
    expect((await problems(withChecks(`[${Array.from({ length: 51 }, (_, i) => `c${i}`).join(", ")}]`))).join("\n")).toMatch(/waitForChecks/);
  });
});
