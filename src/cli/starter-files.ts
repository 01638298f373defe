/** The runtimes `eserveless new` writes a starter for. */
export const STARTER_RUNTIMES = ["node", "golang"] as const;
export type StarterRuntime = (typeof STARTER_RUNTIMES)[number];

/**
 * The files of a new project named `name`, path → content: the manifest with
 * one http and one cron function, and the module that exports both, in the
 * shape of examples/hello-node and examples/hello-go.
 */
export function starterFiles(runtime: StarterRuntime, name: string): Record<string, string> {
  const manifest = (cron: string) =>
    [
      `# Deploy with: eserveless deploy ./${name}`,
      `runtime: ${runtime}`,
      "functions:",
      "  # http: answers at <server>/fn/local/<project>/API/…",
      "  - name: API",
      "    type: http",
      "    meta:",
      "      GREETING: hello",
      "  # cron: runs on its schedule (run it now: eserveless run local/<project>/" + cron + ")",
      `  - name: ${cron}`,
      "    type: cron",
      '    schedule: "0 7 * * *"',
      "    timezone: UTC",
      "    meta:",
      "      TARGET: world",
      "",
    ].join("\n");
  if (runtime === "node") {
    return {
      ".eserveless.yaml": manifest("Report"),
      "package.json": `${JSON.stringify({ name, version: "1.0.0", private: true, description: "An eserveless project: one http function and one cron function." }, null, 2)}\n`,
      "functions.js": `// One module exporting every function.
// \`meta\` keys of .eserveless.yaml arrive as ESERVELESS_<KEY>.

// http: a Node request listener; the path is the part after the function URL.
function API(req, res) {
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify({ message: \`\${process.env.ESERVELESS_GREETING}, world\`, method: req.method, path: req.url }));
}

// cron: called once per run with the ESERVELESS_* variables; what it prints is the run's output.
function Report(envs) {
  console.log(\`report for \${envs.ESERVELESS_TARGET} at \${new Date().toISOString()}\`);
}

module.exports = { API, Report };
`,
      ".gitignore": "node_modules/\n",
    };
  }
  return {
    ".eserveless.yaml": manifest("Cleanup"),
    "go.mod": `module example.com/${name}\n\ngo 1.14\n`,
    "functions.go": `package functions

import (
	"fmt"
	"net/http"
	"os"
)

// API answers HTTP requests at /fn/<owner>/<repo>/API.
func API(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "%s: you asked for %s\\n", os.Getenv("ESERVELESS_GREETING"), r.URL.RequestURI())
}

// Cleanup runs on its schedule with the ESERVELESS_* variables of its meta.
func Cleanup(envs interface{}) {
	vars := envs.(map[string]string)
	fmt.Printf("cleaning %s\\n", vars["ESERVELESS_TARGET"])
}
`,
  };
}
