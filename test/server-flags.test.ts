import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

// The server's node flags (the young generation's cap, see the README's "How the
// router reaches a function") are in package.json's start script and in the
// image's CMD: an operator gets the same server either way.

const root = new URL("../", import.meta.url);
const start = (JSON.parse(readFileSync(new URL("package.json", root), "utf8")) as { scripts: { start: string } }).scripts.start;
const cmd = /^CMD (\[.*\])$/m.exec(readFileSync(new URL("Dockerfile", root), "utf8"))?.[1];

describe("the server's node flags", () => {
  it("are the same for npm start and the image, and cap V8's young generation", () => {
    expect(cmd).toBeDefined();
    expect((JSON.parse(cmd!) as string[]).join(" ")).toBe(start);
    expect(start).toMatch(/^node .*--max-semi-space-size=\d+ .*dist\/main\.js$/);
  });
});
