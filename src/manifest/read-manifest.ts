import * as v from "valibot";
import { type Document, isAlias, isMap, isNode, isScalar, isSeq } from "yaml";
import { closestName } from "../closest-name.js";
import { SourceError } from "../errors.js";
import { applyManifestLimits, defaultManifestLimits, functionCountProblem, type ManifestLimits, manifestSizeProblem } from "./manifest-limits.js";
import { FUNCTION_KEYS, type Manifest, ManifestSchema, metaVariableName, RUNTIME_VARIABLES, RUNTIMES } from "./manifest-schema.js";
import { parseManifestYaml } from "./parse-manifest-yaml.js";
import { TimeSlicer } from "./time-slicer.js";

/** The source files the manifest may look at (for runtime inference). */
export interface ManifestSource {
  has(path: string): boolean;
}

/** A problem or warning, with the line it is about when there is one. */
interface Note {
  line?: number;
  text: string;
}

const TOP_KEYS = Object.keys(ManifestSchema.entries);

/**
 * Most problems and most warnings listed: a hostile manifest can hold
 * thousands, and each costs a lookup and a line in the deployment log.
 */
const MAX_NOTES = 20;

/** Most aliases expanded when the document becomes values (yaml's default, said here): no "billion laughs". */
const MAX_ALIAS_COUNT = 100;

/** Unknown keys longer than this are not misspellings of a known one (and an edit distance costs their length). */
const MAX_GUESSED_KEY_LENGTH = 40;
/** How much of an unknown key a warning quotes. */
const MAX_QUOTED_KEY_LENGTH = 60;

/** Runtime values that projects of the original eserveless used or that people write; they map with a warning. */
const RUNTIME_ALIASES: Record<string, (typeof RUNTIMES)[number]> = {
  nodejs: "node",
  "node.js": "node",
  javascript: "node",
  js: "node",
  go: "golang",
};

/**
 * Parses and validates `.eserveless.yaml` (its text, or its bytes, which are
 * measured before they are decoded) against the server's `limits`; throws
 * SourceError listing every problem with its line. Its cost is linear in the
 * size of the file, which the limits cap, and it gives the event loop a turn
 * between its steps (and within the longest, reading the YAML): a hostile
 * manifest must not stop the server from answering.
 */
export async function readManifest(
  text: string | Uint8Array,
  source: ManifestSource,
  fileName = ".eserveless.yaml",
  limits: ManifestLimits = defaultManifestLimits,
): Promise<{ manifest: Manifest; warnings: string[] }> {
  const tooBig = manifestSizeProblem(fileName, typeof text === "string" ? Buffer.byteLength(text) : text.byteLength, limits);
  if (tooBig !== undefined) throw invalid([tooBig]);
  const slicer = new TimeSlicer();
  const parsed = await parseManifestYaml(typeof text === "string" ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString("utf8"), slicer);
  const { lineCounter } = parsed;
  const lineAt = (offset: number) => lineCounter.linePos(offset).line;
  const lineOf = (node: unknown) => (isNode(node) && node.range ? lineAt(node.range[0]) : undefined);
  const render = (notes: Note[], label = "") =>
    notes.map((note) => `${fileName}${note.line === undefined ? "" : ` line ${note.line}`}: ${label}${note.text}`);
  const byLine = (a: Note, b: Note) => (a.line ?? 0) - (b.line ?? 0);
  const more = (count: number, what: string) => (count > 0 ? [`${fileName}: … and ${count} more ${what}`] : []);
  /** The first MAX_NOTES notes in line order, then how many more there are (`unlisted` were never made). */
  const list = (notes: Note[], what: string, label = "", unlisted = 0) => [
    ...render(notes.sort(byLine).slice(0, MAX_NOTES), label),
    ...more(Math.max(0, notes.length - MAX_NOTES) + unlisted, what),
  ];

  const doc = parsed.doc;
  if (parsed.errors.length > 0 || doc === undefined) {
    const errors = parsed.errors.slice(0, MAX_NOTES).map((error) => {
      const { line, col } = lineCounter.linePos(error.offset);
      return `${fileName} line ${line}, column ${col}: ${error.message}`;
    });
    throw invalid([...errors, ...more(parsed.errors.length - errors.length, "YAML errors")]);
  }
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) {
    throw invalid([`${fileName} is empty: it needs a runtime and at least one function, e.g. "runtime: node" and "functions: [{ name: API, type: http }]"`]);
  }
  if (!isMap(root)) {
    throw invalid([`${fileName} must be a mapping with keys such as runtime: and functions:, got ${isSeq(root) ? "a list" : "a single value"}`]);
  }

  const warnings: Note[] = parsed.warnings.map((warning) => ({ line: lineAt(warning.offset), text: warning.message }));
  let unlistedWarnings = 0;
  const problems: Note[] = [];

  // Unknown keys only warn: the original ignored them, and its projects must deploy unchanged.
  let runtimeMisspelling: { key: string; line?: number } | undefined;
  const checkKeys = (map: unknown, known: string[], where: string) => {
    if (!isMap(map)) return;
    for (const pair of map.items) {
      const key = String(isScalar(pair.key) ? pair.key.value : pair.key);
      if (known.includes(key)) continue;
      // Past the listed ones, only counted: the guess costs an edit distance per known key.
      if (warnings.length >= MAX_NOTES) {
        unlistedWarnings++;
        continue;
      }
      const guess = key.length > MAX_GUESSED_KEY_LENGTH ? undefined : closestName(key, known, (candidate) => Math.max(1, Math.floor(candidate.length / 3)));
      if (guess === "runtime" && map === root) runtimeMisspelling = { key, line: lineOf(pair.key) };
      const hint = guess === undefined ? "" : ` — did you mean "${guess}"?`;
      const inferred = guess === "runtime" && map === root ? " The runtime is inferred from the source files instead." : "";
      const quoted = key.length > MAX_QUOTED_KEY_LENGTH ? `${key.slice(0, MAX_QUOTED_KEY_LENGTH)}…` : key;
      warnings.push({ line: lineOf(pair.key), text: `unknown key "${quoted}"${where} is ignored${hint}${inferred}` });
    }
  };
  checkKeys(root, TOP_KEYS, "");
  const functionsNode = root.get("functions", true);
  // Before any function is validated: that work grows with their number.
  const tooMany = isSeq(functionsNode) ? functionCountProblem(functionsNode.items.length, limits) : undefined;
  if (tooMany !== undefined) throw invalid(render([{ line: lineOf(root.items.find((pair) => pair.value === functionsNode)?.key), text: `functions ${tooMany}` }]));
  if (isSeq(functionsNode)) {
    functionsNode.items.forEach((item, index) => checkKeys(item, FUNCTION_KEYS, ` in functions[${index}]`));
  }

  keepSourceText(functionsNode);
  await slicer.yield();
  let raw: Record<string, unknown>;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as Record<string, unknown>;
  } catch (error) {
    // yaml refuses documents whose aliases expand too much.
    throw invalid([`${fileName}: ${error instanceof Error ? error.message : String(error)}`]);
  }

  // The runtime is settled here rather than in the schema because inference and
  // misspellings produce warnings, which a schema cannot.
  let runtime = raw.runtime;
  if (typeof runtime === "string" && RUNTIME_ALIASES[runtime.trim().toLowerCase()]) {
    const canonical = RUNTIME_ALIASES[runtime.trim().toLowerCase()];
    warnings.push({ line: lineOf(nodeAt(doc, ["runtime"])), text: `runtime "${runtime}" is read as ${canonical} — write \`runtime: ${canonical}\`` });
    runtime = canonical;
  } else if (runtime === undefined || runtime === null) {
    const hasPackageJson = source.has("package.json");
    const hasGoMod = source.has("go.mod");
    const advice = "add `runtime: node` or `runtime: golang`";
    const misspelt = runtimeMisspelling === undefined ? "" : ` ("${runtimeMisspelling.key}" is not "runtime")`;
    const line = runtimeMisspelling?.line;
    if (hasPackageJson === hasGoMod) {
      problems.push({
        line,
        text: `runtime is not set${misspelt} and ${hasPackageJson ? "both package.json and go.mod exist" : "neither package.json nor go.mod exists"}: ${advice}`,
      });
      runtime = "node"; // A stand-in so that the rest is still validated; the problem above fails the manifest.
    } else {
      runtime = hasPackageJson ? "node" : "golang";
      warnings.push({
        line,
        text: `runtime not set${misspelt}; inferred ${runtime} from ${hasPackageJson ? "package.json" : "go.mod"} — add \`runtime: ${runtime}\` to ${fileName}`,
      });
    }
  }

  await slicer.yield();
  const result = v.safeParse(ManifestSchema, { ...raw, runtime });
  const issues = result.success
    ? applyManifestLimits(result.output, raw, limits)
    : result.issues.map((issue) => ({ path: (issue.path ?? []).map((step) => step.key as string | number), message: issue.message }));
  await slicer.yield();
  // Only the listed ones are looked up (a scan of their mapping each); the others are counted.
  const looked = issues.slice(0, Math.max(0, MAX_NOTES - problems.length));
  for (const { path, message } of looked) problems.push({ line: lineOf(nodeAt(doc, path)), text: `${formatPath(path)} ${message}` });
  if (problems.length > 0 || !result.success) {
    // The warnings follow: a misspelt key often explains a problem ("schedule is required").
    throw invalid([...list(problems, "problems", "", issues.length - looked.length), ...list(warnings, "warnings", "warning: ", unlistedWarnings)]);
  }
  if (result.output.runtime === "golang" && raw.entry != null) {
    warnings.push({ line: lineOf(root.get("entry", true)), text: "entry is ignored for golang: eserveless builds the repository's root package" });
  }
  result.output.functions.forEach((fn, index) => {
    if (result.output.runtime === "golang" && fn.type === "http" && fn.handler !== undefined) {
      warnings.push({
        line: lineOf(nodeAt(doc, ["functions", index, "handler"])),
        text: `functions[${index}].handler is ignored for golang: a Go http function is a func(http.ResponseWriter, *http.Request) or an http.Handler`,
      });
    }
    for (const key of Object.keys(fn.meta)) {
      const variable = metaVariableName(key);
      if ((RUNTIME_VARIABLES as readonly string[]).includes(variable)) {
        warnings.push({
          line: lineOf(nodeAt(doc, ["functions", index, "meta", key])),
          text: `functions[${index}].meta[${JSON.stringify(key)}] becomes ${variable}, which eserveless sets itself: the function sees eserveless's value, not this one — rename the key`,
        });
      }
    }
  });
  return { manifest: result.output, warnings: list(warnings, "warnings", "", unlistedWarnings) };
}

function invalid(lines: string[]): SourceError {
  return new SourceError(lines.join("\n"), { code: "manifest_invalid" });
}

/**
 * The YAML node for a key path, or the closest existing one above it (a
 * missing key is reported on its parent's line). For a map key, its key node,
 * which is on the key's line even when the value starts on the next one.
 */
function nodeAt(doc: Document, keys: (string | number)[]): unknown {
  let node: unknown = doc.contents;
  let found: unknown = node;
  for (const key of keys) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((item) => String(isScalar(item.key) ? item.key.value : item.key) === String(key));
      if (!pair) break;
      found = pair.key;
      node = pair.value;
    } else if (isSeq(node) && typeof key === "number" && node.items[key] !== undefined) {
      found = node = node.items[key];
    } else {
      break;
    }
  }
  return found;
}

/**
 * Makes meta and env values keep their text as written (`1.10` stays "1.10",
 * not "1.1"), as the original read them into strings.
 */
function keepSourceText(functions: unknown): void {
  if (!isSeq(functions)) return;
  for (const fn of functions.items) {
    if (!isMap(fn)) continue;
    for (const key of ["meta", "env"]) {
      const map = fn.get(key, true);
      if (!isMap(map)) continue;
      for (const { value } of map.items) {
        if (isScalar(value) && (typeof value.value === "number" || typeof value.value === "boolean") && value.source !== undefined) {
          value.value = value.source;
        }
      }
    }
  }
}

/** `functions[1].meta["api-key"]` from a valibot issue path. */
function formatPath(keys: (string | number)[]): string {
  return keys
    .map((key, index) => {
      if (typeof key === "number") return `[${key}]`;
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return `[${JSON.stringify(key)}]`;
      return index === 0 ? key : `.${key}`;
    })
    .join("");
}

