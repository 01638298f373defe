import { Composer, CST, type Document, isAlias, isCollection, isMap, isNode, isPair, isScalar, Lexer, LineCounter, Parser } from "yaml";
import { TimeSlicer } from "./time-slicer.js";

/**
 * Deepest nesting of mappings and lists a manifest may have. A manifest
 * needs four (functions → function → meta → value); yaml's composer recurses
 * once per level and its parser slows down with depth, so a file of
 * brackets would otherwise overflow the stack or stall the server.
 */
export const MAX_MANIFEST_DEPTH = 32;

/** Most aliases (`*name`) a manifest may use: yaml resolves each one by scanning the document. */
export const MAX_MANIFEST_ALIASES = 100;

/**
 * Most YAML nodes a manifest may have (keys, values and list items, counted
 * as their scalars and indicators are read, about three a key); ten
 * functions with a dozen variables each make about 600. Turning the text into nodes and
 * validating them are not cut into slices, so this bounds how long each of
 * those steps holds the event loop.
 */
export const MAX_MANIFEST_NODES = 5000;

/** Lexemes that make a node (or an empty one, like `:` alone). */
const NODE_LEXEMES = new Set<string | null>([
  "scalar",
  "single-quoted-scalar",
  "double-quoted-scalar",
  "block-scalar-header",
  "alias",
  "seq-item-ind",
  "explicit-key-ind",
  "map-value-ind",
  "flow-map-start",
  "flow-seq-start",
  "comma",
]);

/** A YAML error or warning at a character offset of the text. */
export interface YamlNote {
  offset: number;
  message: string;
}

/**
 * The parsed document, unless it could not be parsed at all (nested too
 * deep); `errors`, in the order of the text, make it invalid either way.
 * `lineCounter` turns offsets into lines.
 */
export interface ManifestYaml {
  doc: Document.Parsed | undefined;
  errors: YamlNote[];
  warnings: YamlNote[];
  lineCounter: LineCounter;
}

/**
 * Parses a manifest's YAML in time linear in its length. yaml's own parse
 * is quadratic in the keys of one mapping (its duplicate-key check compares
 * each key with every earlier one), so that check is turned off and done
 * here with a hash map, with yaml's message and position. Refuses nesting
 * deeper than {@link MAX_MANIFEST_DEPTH} or with more than
 * {@link MAX_MANIFEST_NODES} nodes as it is read, and more than
 * {@link MAX_MANIFEST_ALIASES} aliases; alias expansion (a "billion laughs")
 * is bounded later by toJS's `maxAliasCount`. Reading the text, the costly
 * part, gives the event loop a turn every `slicer` slice.
 */
export async function parseManifestYaml(text: string, slicer = new TimeSlicer()): Promise<ManifestYaml> {
  const lineCounter = new LineCounter();
  const tokens = await parseTokens(text, lineCounter, slicer);
  if (!Array.isArray(tokens)) return { doc: undefined, errors: [tokens], warnings: [], lineCounter };
  await slicer.yield();

  const composer = new Composer({ uniqueKeys: false });
  let doc: Document.Parsed | undefined;
  const errors: YamlNote[] = [];
  // yaml's errors are Error objects, and capturing a stack for each of thousands
  // costs more than the parse: none is needed, only their message and offset.
  // Set back before anything else runs, as composing is synchronous.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    for (const next of composer.compose(tokens, true, text.length)) {
      if (doc) {
        errors.push({ offset: next.range[0], message: "A second YAML document starts here: a manifest is one document, so remove the `---` line or what follows it" });
        break;
      }
      doc = next;
    }
    // compose(…, true) always ends with a document, empty for an empty text.
    doc ??= new Composer().compose([], true, 0).next().value as Document.Parsed;
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
  await slicer.yield();
  errors.unshift(...doc.errors.map((error) => ({ offset: error.pos[0], message: withYamlHint(error.code, error.message) })), ...checkNodes(doc));
  const warnings = doc.warnings.map((warning) => ({ offset: warning.pos[0], message: warning.message }));
  return { doc, errors: errors.sort((a, b) => a.offset - b.offset), warnings, lineCounter };
}

/** The CST of `text`, or an error once it nests too deep or has too many nodes. */
async function parseTokens(text: string, lineCounter: LineCounter, slicer: TimeSlicer): Promise<CST.Token[] | YamlNote> {
  const parser = new Parser(lineCounter.addNewLine);
  const tokens: CST.Token[] = [];
  lineCounter.addNewLine(0); // As Parser.parse does before the first lexeme.
  let count = 0;
  let nodes = 0;
  let atScalar = false; // The lexeme after a scalar marker is the scalar's text, of no type.
  for (const lexeme of new Lexer().lex(text)) {
    if (++count % 64 === 0) await slicer.maybeYield();
    const type: string | null = atScalar ? null : CST.tokenType(lexeme);
    atScalar = type === "scalar";
    if (NODE_LEXEMES.has(type) && ++nodes > MAX_MANIFEST_NODES) {
      return { offset: parser.offset, message: `More than ${MAX_MANIFEST_NODES} keys, values and list items; a manifest needs a few hundred` };
    }
    for (const token of parser.next(lexeme)) tokens.push(token);
    // The parser's stack holds the document and each open collection.
    if (parser.stack.length > MAX_MANIFEST_DEPTH + 1) {
      return { offset: parser.offset, message: `Nested more than ${MAX_MANIFEST_DEPTH} levels deep; a manifest needs four (functions, a function, its meta, a value)` };
    }
  }
  for (const token of parser.end()) tokens.push(token);
  return tokens;
}

/** Duplicate keys and too many aliases, in one pass over the document's nodes. */
function checkNodes(doc: Document.Parsed): YamlNote[] {
  const notes: YamlNote[] = [];
  let aliases = 0;
  const pending: unknown[] = [doc.contents];
  while (pending.length > 0) {
    const node = pending.pop();
    if (isAlias(node)) {
      aliases++;
      if (aliases === MAX_MANIFEST_ALIASES + 1) {
        notes.push({ offset: node.range?.[0] ?? 0, message: `More than ${MAX_MANIFEST_ALIASES} aliases (*${node.source}): write the values out instead` });
      }
    } else if (isMap(node)) {
      // yaml's equality: scalar keys by value, other keys (a mapping as a key) never equal.
      const seen = new Set<unknown>();
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? pair.key.value : pair.key;
        if (seen.has(key) && isNode(pair.key)) notes.push({ offset: pair.key.range?.[0] ?? node.range?.[0] ?? 0, message: "Map keys must be unique" });
        seen.add(key);
      }
    }
    // Children in reverse, so that they are popped in the order of the text.
    if (isCollection(node)) {
      for (const item of [...node.items].reverse()) pending.push(...(isPair(item) ? [item.value, item.key] : [item]));
    }
  }
  return notes;
}

/** What to do about the YAML library's errors whose wording does not say it. */
const YAML_HINTS: Partial<Record<string, string>> = {
  BLOCK_AS_IMPLICIT_KEY:
    "a key's value that is itself keys goes on the lines below it, indented deeper (`meta:` then `  GREETING: hello` on the next line), or inline in braces (`meta: { GREETING: hello }`); a value holding `: ` needs quotes",
  BAD_INDENT: "keys of one mapping start in the same column, and keys under a key (such as those of `meta:`) are indented deeper than it, with spaces",
  TAB_AS_INDENT: "indent with spaces: YAML does not allow tabs there",
};

function withYamlHint(code: string, message: string): string {
  // BAD_INDENT also names an unclosed flow collection, whose message says what to do.
  const hint = code === "BAD_INDENT" && !message.startsWith("All mapping items") ? undefined : YAML_HINTS[code];
  return hint ? `${message}: ${hint}` : message;
}
