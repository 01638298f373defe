import { SourceError } from "../errors.js";
import type { Manifest } from "../manifest/manifest-schema.js";
import type { SourceTree } from "../source/extract-tarball.js";

/**
 * The folder of the generated `main` package, relative to the module root.
 * A leading underscore keeps it out of `./...` patterns; the name is unusual
 * enough not to meet a project's own folder.
 */
export const GO_MAIN_DIR = "_eserveless_main";

/** The generated file's name inside {@link GO_MAIN_DIR}, next to the runtime's dispatcher.go. */
export const GO_FUNCTIONS_FILE = "functions_gen.go";

/** Go's exported identifiers, restricted to the ASCII that manifest names use. */
const EXPORTED_IDENTIFIER = /^[A-Z][A-Za-z0-9_]*$/;

/**
 * The module path that `go.mod` declares (`module example.com/m`, quoted or
 * not, comments allowed), or undefined when it declares none.
 */
export function goModulePath(goMod: string): string | undefined {
  for (const raw of goMod.split(/\r?\n/)) {
    const line = raw.replace(/\/\/.*$/, "").trim();
    const match = /^module\s+(.+)$/.exec(line);
    if (!match) continue;
    let path = match[1]!.trim();
    if (path.startsWith('"') || path.startsWith("`")) {
      try {
        path = path.startsWith("`") ? path.slice(1, -1) : (JSON.parse(path) as string);
      } catch {
        return undefined;
      }
    }
    return path === "" ? undefined : path;
  }
  return undefined;
}

/** A Go identifier that a manifest name could have meant: `api` → `Api`, `my-func` → `MyFunc`. */
function exportedSpelling(name: string): string {
  return name
    .split(/[^A-Za-z0-9_]+/)
    .filter(Boolean)
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join("");
}

/** Why a manifest function name cannot be called from Go, or undefined when it can. */
export function goNameProblem(name: string): string | undefined {
  if (EXPORTED_IDENTIFIER.test(name)) return undefined;
  const suggestion = exportedSpelling(name);
  const rename = EXPORTED_IDENTIFIER.test(suggestion) ? ` Rename it, e.g. to "${suggestion}", in .eserveless.yaml and functions.go.` : "";
  if (/[^A-Za-z0-9_]/.test(name)) {
    return `"${name}" is not a Go identifier: Go names have only letters, digits and "_".${rename}`;
  }
  return `"${name}" is not an exported Go name: eserveless can only call a function whose name starts with an upper-case letter.${rename}`;
}

/** Source text without comments and string contents, so that a regex sees only code. */
function stripGoComments(text: string): string {
  return text.replace(/\/\/[^\n]*|\/\*[\s\S]*?\*\/|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`/g, (match) =>
    match.startsWith("/") ? " " : `${match[0]}${match[0]}`,
  );
}

interface GoFile {
  path: string;
  packageName: string | undefined;
  /** Excluded from every build by `//go:build ignore` (or the old `// +build ignore`). */
  ignored: boolean;
  code: string;
}

/** The non-test .go files of the repository root. */
function rootGoFiles(source: SourceTree): GoFile[] {
  const files: GoFile[] = [];
  for (const entry of source.entries()) {
    if (entry.path.includes("/") || !entry.path.endsWith(".go") || entry.path.endsWith("_test.go")) continue;
    const text = source.text(entry.path);
    if (text === undefined) continue;
    const code = stripGoComments(text);
    const header = text.slice(0, Math.max(0, text.search(/^\s*package\s/m)));
    files.push({
      path: entry.path,
      packageName: /^\s*package\s+([A-Za-z_][A-Za-z0-9_]*)/m.exec(code)?.[1],
      ignored: /^\/\/(go:build|\s*\+build)\s+ignore\s*$/m.test(header),
      code,
    });
  }
  return files;
}

/**
 * Checks a golang project before its image is built, so that what would
 * otherwise be a compiler error deep in the build log is one clear message:
 * a go.mod with a module path, a library package at the root, and every
 * function of the manifest an exported name that the root package declares.
 * Returns the module path; throws SourceError listing every problem.
 */
export function checkGoProject(source: SourceTree, manifest: Pick<Manifest, "functions">): string {
  const problems: string[] = [];
  for (const fn of manifest.functions) {
    const problem = goNameProblem(fn.name);
    if (problem) problems.push(`Function ${problem}`);
  }
  const goMod = source.text("go.mod");
  const modulePath = goMod === undefined ? undefined : goModulePath(goMod);
  if (goMod === undefined) {
    problems.push("There is no go.mod at the root of the repository: a golang project is a Go module (run `go mod init example.com/functions` and commit go.mod).");
  } else if (modulePath === undefined) {
    problems.push("go.mod declares no module path: its first line should be like `module example.com/functions`.");
  }
  const files = rootGoFiles(source).filter((f) => !f.ignored);
  if (files.length === 0) {
    problems.push("There is no .go file at the root of the repository: put the functions in functions.go (package functions) next to go.mod.");
  } else if (files.every((f) => f.packageName === "main")) {
    problems.push(
      `The root package is package main (${files.map((f) => f.path).join(", ")}): eserveless imports it and adds its own main, so it must be a library package such as \`package functions\`.`,
    );
  } else {
    for (const fn of manifest.functions) {
      if (goNameProblem(fn.name)) continue;
      const declared = new RegExp(`(^|[^A-Za-z0-9_.])${fn.name}($|[^A-Za-z0-9_])`);
      if (!files.some((f) => declared.test(f.code))) {
        problems.push(
          `The root package (${files.map((f) => f.path).join(", ")}) declares no ${fn.name}: every function in .eserveless.yaml must be an exported function of the package next to go.mod, e.g. func ${fn.name}(w http.ResponseWriter, r *http.Request).`,
        );
      }
    }
  }
  if (problems.length > 0 || modulePath === undefined) {
    throw new SourceError(`Cannot build the Go functions. ${problems.join(" ")}`, { code: "go_project_invalid" });
  }
  return modulePath;
}

/** A Go string literal. */
const goString = (text: string) => JSON.stringify(text);

/**
 * The generated half of the `main` package: it imports the project's root
 * package by its module path and lists the manifest's functions by name. Each
 * is stored as an interface{}, so this compiles whatever a function's
 * signature is; the runtime's dispatcher.go checks the signature when the
 * container starts. Only Go 1.0 syntax, as the module's `go` directive may be
 * old (`go 1.14`) and sets the language version of this package too.
 */
export function generateGoFunctions(modulePath: string, names: string[]): string {
  const width = Math.max(0, ...names.map((name) => goString(name).length + 1));
  const entries = names.map((name) => `\t${`${goString(name)}:`.padEnd(width)} fn.${name},`);
  return [
    "// Code generated by eserveless. DO NOT EDIT.",
    "",
    "package main",
    "",
    `import fn ${goString(modulePath)}`,
    "",
    "func init() {",
    "\tfunctions = map[string]interface{}{",
    ...entries.map((entry) => `\t${entry}`),
    "\t}",
    "}",
    "",
  ].join("\n");
}
