import { describe, expect, it } from "vitest";
import { deployUpload } from "../support/deploy-upload.js";
import { useEserveless } from "../support/use-eserveless.js";

// A project whose install prints coloured output, as npm, go and many build tools do on
// a terminal or when forced: the stored build log keeps the words, not the escape codes.
const stack = useEserveless();

describe("the stored build log", () => {
  it("keeps what the build printed without its ANSI colour codes", async () => {
    const { deployment, log } = await deployUpload(stack.server, "colours", {
      ".eserveless.yaml": "runtime: node\nfunctions:\n  - name: API\n    type: http\n",
      "package.json": JSON.stringify({
        name: "colours",
        version: "1.0.0",
        private: true,
        scripts: { preinstall: "printf '\\033[1;31mcoloured-words\\033[0m and \\033[32mmore\\033[0m\\n'" },
      }),
      "functions.js": "module.exports = { API: (req, res) => res.end('ok') };\n",
    });
    expect(deployment.state, log.join("\n")).toBe("success");
    expect(log, log.join("\n")).toContain("coloured-words and more");
    expect(log.join("\n")).not.toContain("\x1b[");
  });
});
