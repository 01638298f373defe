import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkGoProject, generateGoFunctions, goModulePath, goNameProblem } from "../../src/image/golang-dispatcher.js";
import { createBuildContext, type RuntimeTemplate } from "../../src/image/build-context.js";
import { SourceError } from "../../src/errors.js";
import { readManifest } from "../../src/manifest/read-manifest.js";
import { SourceTree } from "../../src/source/extract-tarball.js";

const tree = (files: Record<string, string>) =>
  new SourceTree(Object.entries(files).map(([path, text]) => ({ type: "file" as const, path, mode: 0o644, content: Buffer.from(text) })));
const manifestOf = (...names: string[]) => ({ functions: names.map((name) => ({ name })) }) as Parameters<typeof checkGoProject>[1];

const GO_MOD = "module github.com/octo-org/go-hello\n\ngo 1.14\n";
const FUNCTIONS_GO = `package functions

import "net/http"

// API is an http function.
func API(w http.ResponseWriter, r *http.Request) {}

// Ticker is a cron function.
func Ticker(envs interface{}) {}
`;

/** The message of the SourceError that `fn` throws. */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SourceError);
    return (error as SourceError).message;
  }
  throw new Error("nothing was thrown");
}

describe("goModulePath", () => {
  it.each([
    ["module example.com/m\n", "example.com/m"],
    ["// a comment\nmodule   github.com/a/b/v2 // trailing\n\ngo 1.14\n", "github.com/a/b/v2"],
    ['module "example.com/quoted"\n', "example.com/quoted"],
    ["\r\nmodule example.com/crlf\r\ngo 1.22\r\n", "example.com/crlf"],
  ])("reads %j", (goMod, path) => {
    expect(goModulePath(goMod)).toBe(path);
  });

  it("is undefined without a module line", () => {
    expect(goModulePath("go 1.19\n")).toBeUndefined();
  });
});

describe("goNameProblem", () => {
  it("accepts exported identifiers", () => {
    for (const name of ["API", "Ticker", "Handle_v2", "X"]) expect(goNameProblem(name)).toBeUndefined();
  });

  it("explains unexported names and names with characters Go refuses, with a spelling that works", () => {
    expect(goNameProblem("api")).toBe('"api" is not an exported Go name: eserveless can only call a function whose name starts with an upper-case letter. Rename it, e.g. to "Api", in .eserveless.yaml and functions.go.');
    expect(goNameProblem("send-mail")).toContain('"send-mail" is not a Go identifier');
    expect(goNameProblem("send-mail")).toContain('"SendMail"');
  });
});

describe("checkGoProject", () => {
  it("returns the module path of a project in the original's shape", () => {
    expect(checkGoProject(tree({ "go.mod": GO_MOD, "functions.go": FUNCTIONS_GO }), manifestOf("API", "Ticker"))).toBe("github.com/octo-org/go-hello");
  });

  it("lists every problem at once", () => {
    const message = refusal(() => checkGoProject(tree({ "functions.go": FUNCTIONS_GO }), manifestOf("api", "my-fn", "API")));
    expect(message).toMatch(/^Cannot build the Go functions\. Function "api" is not/);
    expect(message).toContain('"api" is not an exported Go name');
    expect(message).toContain('"my-fn" is not a Go identifier');
    expect(message).toContain("There is no go.mod at the root of the repository");
  });

  it("refuses a go.mod without a module path", () => {
    expect(refusal(() => checkGoProject(tree({ "go.mod": "go 1.19\n", "functions.go": FUNCTIONS_GO }), manifestOf("API")))).toContain("go.mod declares no module path");
  });

  it("refuses a root package main, which cannot be imported", () => {
    const message = refusal(() => checkGoProject(tree({ "go.mod": GO_MOD, "main.go": "package main\n\nfunc API() {}\n" }), manifestOf("API")));
    expect(message).toContain("The root package is package main (main.go)");
  });

  it("ignores tests and files built only by hand", () => {
    const source = tree({
      "go.mod": GO_MOD,
      "functions.go": FUNCTIONS_GO,
      "functions_test.go": "package functions_test\n",
      "gen.go": "//go:build ignore\n\npackage main\n\nfunc main() {}\n",
    });
    expect(checkGoProject(source, manifestOf("API"))).toBe("github.com/octo-org/go-hello");
    expect(refusal(() => checkGoProject(tree({ "go.mod": GO_MOD, "gen.go": "// +build ignore\n\npackage main\n" }), manifestOf("API")))).toContain(
      "There is no .go file at the root",
    );
  });

  it("refuses a function the root package does not declare; comments, strings and subfolders do not count", () => {
    const source = tree({
      "go.mod": GO_MOD,
      "functions.go": `${FUNCTIONS_GO}\n// Report is not here yet.\nvar note = "Report"\n`,
      "sub/report.go": "package sub\n\nfunc Report() {}\n",
    });
    const message = refusal(() => checkGoProject(source, manifestOf("API", "Report")));
    expect(message).toContain("The root package (functions.go) declares no Report");
    expect(message).not.toContain("declares no API");
  });

  it("accepts a function declared as a variable", () => {
    const source = tree({ "go.mod": GO_MOD, "handlers.go": "package h\n\nimport \"net/http\"\n\nvar (\n\tAPI = http.NotFoundHandler()\n)\n" });
    expect(checkGoProject(source, manifestOf("API"))).toBe("github.com/octo-org/go-hello");
  });
});

describe("generateGoFunctions", () => {
  const generated = generateGoFunctions("github.com/octo-org/go-hello", ["API", "Ticker"]);

  it("imports the module's root package under an alias and maps each name to its value", () => {
    expect(generated).toBe(
      [
        "// Code generated by eserveless. DO NOT EDIT.",
        "",
        "package main",
        "",
        'import fn "github.com/octo-org/go-hello"',
        "",
        "func init() {",
        "\tfunctions = map[string]interface{}{",
        '\t\t"API":    fn.API,',
        '\t\t"Ticker": fn.Ticker,',
        "\t}",
        "}",
        "",
      ].join("\n"),
    );
  });

  it("is formatted as gofmt formats it", () => {
    // Debian's golang-go, which scripts/start-docker.sh installs, ships gofmt.
    expect(hasGofmt(), "gofmt is missing: run `bash scripts/start-docker.sh` (it installs golang-go)").toBe(true);
    const dir = mkdtempSync(join(tmpdir(), "eserveless-gofmt-"));
    try {
      writeFileSync(join(dir, "functions_gen.go"), generated);
      expect(execFileSync("gofmt", ["-l", dir], { encoding: "utf8" })).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("createBuildContext with a manifest", () => {
  const template: RuntimeTemplate = { name: "golang", dockerfile: Buffer.from("FROM scratch\n"), files: [], dependencyFiles: ["go.mod", "go.sum"] };

  it("adds the generated main package for golang", async () => {
    const source = tree({ ".eserveless.yaml": "functions: [{ name: API, type: http }]\n", "go.mod": GO_MOD, "functions.go": FUNCTIONS_GO });
    const { manifest } = await readManifest(source.text(".eserveless.yaml")!, source);
    let tar = "";
    for await (const chunk of createBuildContext(source, template, manifest)) tar += Buffer.from(chunk as Uint8Array).toString("latin1");
    expect(tar).toContain(".eserveless/main/functions_gen.go");
    expect(tar).toContain('"API": fn.API,');
  });

  it("fails before building when a Go function name is not exported", async () => {
    const source = tree({ ".eserveless.yaml": "runtime: golang\nfunctions: [{ name: api, type: http }]\n", "go.mod": GO_MOD, "functions.go": FUNCTIONS_GO });
    const { manifest } = await readManifest(source.text(".eserveless.yaml")!, source);
    expect(refusal(() => createBuildContext(source, template, manifest))).toContain('"api" is not an exported Go name');
  });

  it("fails before building when the node entry is missing", async () => {
    const node = { ...template, name: "node", dependencyFiles: ["package.json"] };
    const source = tree({ ".eserveless.yaml": "runtime: node\nentry: ./src/index.mjs\nfunctions: [{ name: API, type: http }]\n", "package.json": "{}" });
    const { manifest } = await readManifest(source.text(".eserveless.yaml")!, source);
    expect(refusal(() => createBuildContext(source, node, manifest))).toMatch(/^src\/index\.mjs is not in the repository/);
  });
});

function hasGofmt(): boolean {
  try {
    execFileSync("gofmt", ["-h"], { stdio: "ignore" });
    return true;
  } catch (error) {
    // gofmt -h exits 2 after printing its usage: it exists.
    return (error as { status?: number }).status === 2;
  }
}
