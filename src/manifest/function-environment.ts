import { type FunctionSpec, type Manifest, metaVariableName } from "./manifest-schema.js";

/**
 * The variables a function's containers get from its manifest entry: each meta
 * key as `ESERVELESS_<KEY>` (upper-cased, anything but [A-Z0-9_] turned into
 * "_", as the original's functions read them), plus its `env` as is. The schema
 * rules out clashes: meta keys mapping to one name, and `ESERVELESS_` env names.
 */
export function functionEnvironment(fn: FunctionSpec): Record<string, string> {
  return {
    ...Object.fromEntries(Object.entries(fn.meta).map(([key, value]) => [metaVariableName(key), value])),
    ...fn.env,
  };
}

/**
 * Everything a function's containers get in their environment: its
 * {@link functionEnvironment} plus the runtime's settings from the manifest:
 * `ESERVELESS_ENTRY` (node: the module to load) and, for http functions,
 * `ESERVELESS_HANDLER` (node: `auto`, `node` or `fetch`). The runtime's own
 * variables come last so meta cannot override them.
 */
export function containerEnvironment(fn: FunctionSpec, manifest: Pick<Manifest, "entry">): Record<string, string> {
  return {
    ...functionEnvironment(fn),
    ESERVELESS_ENTRY: manifest.entry,
    ...(fn.type === "http" ? { ESERVELESS_HANDLER: fn.handler ?? "auto" } : {}),
  };
}

/** Values shorter than this are not taken out of messages: they are flags and words ("true", "hello"), not secrets. */
const REDACTED_MIN_LENGTH = 8;

/**
 * `text` with the value of each variable of a function's `env` (from its
 * manifest: its container's variables but the `ESERVELESS_` ones, which are
 * the runtime's settings and the meta values) at least
 * {@link REDACTED_MIN_LENGTH} characters long replaced by `$NAME`: for the
 * reasons quoted from a function's output into descriptions and public error
 * messages, where a crash that quotes a database URL would otherwise show it
 * to anyone.
 */
export function redactEnvironment(text: string, env: Record<string, string>): string {
  const values = Object.entries(env)
    .filter(([name, value]) => !name.startsWith("ESERVELESS_") && value.length >= REDACTED_MIN_LENGTH)
    // The longest first, so a value that contains another is replaced whole.
    .sort(([, a], [, b]) => b.length - a.length);
  return values.reduce((redacted, [name, value]) => redacted.replaceAll(value, `$${name}`), text);
}
