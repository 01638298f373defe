import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { functionEnvironment, redactEnvironment } from "../../src/manifest/function-environment.js";
import { FunctionSchema } from "../../src/manifest/manifest-schema.js";
import { readManifest } from "../../src/manifest/read-manifest.js";

const spec = (input: Record<string, unknown>) => v.parse(FunctionSchema, { name: "F", type: "http", ...input });

describe("functionEnvironment", () => {
  it("turns meta keys into ESERVELESS_ variables", () => {
    expect(functionEnvironment(spec({ meta: { path: "/usr/bin", name: "prod", "api-key": "k", "db.host": "db", "my.app-id": "a", Mixed_Case9: "x" } }))).toEqual({
      ESERVELESS_PATH: "/usr/bin",
      ESERVELESS_NAME: "prod",
      ESERVELESS_API_KEY: "k",
      ESERVELESS_DB_HOST: "db",
      ESERVELESS_MY_APP_ID: "a",
      ESERVELESS_MIXED_CASE9: "x",
    });
  });

  it("passes numbers and booleans as strings", () => {
    expect(functionEnvironment(spec({ meta: { retries: 3, debug: false }, env: { RATIO: 0.5, ON: true } }))).toEqual({
      ESERVELESS_RETRIES: "3",
      ESERVELESS_DEBUG: "false",
      RATIO: "0.5",
      ON: "true",
    });
  });

  it("adds env as it is", () => {
    expect(functionEnvironment(spec({ env: { NODE_OPTIONS: "--enable-source-maps", lower_case: "ok" } }))).toEqual({
      NODE_OPTIONS: "--enable-source-maps",
      lower_case: "ok",
    });
  });

  it("is empty for a function with neither", () => {
    expect(functionEnvironment(spec({}))).toEqual({});
  });

  it("keeps meta values from YAML as they were written", async () => {
    const { manifest } = await readManifest(
      "runtime: node\nfunctions:\n  - name: F\n    type: http\n    meta:\n      version: 1.10\n      api-key: 0x1F\n      enabled: yes\n",
      { has: () => false },
    );
    expect(functionEnvironment(manifest.functions[0]!)).toEqual({
      ESERVELESS_VERSION: "1.10",
      ESERVELESS_API_KEY: "0x1F",
      ESERVELESS_ENABLED: "yes",
    });
  });
});

describe("redactEnvironment", () => {
  it("names the env values a message quotes, the longest first, and leaves words, flags and the runtime's settings", () => {
    const env = {
      DATABASE_URL: "postgres://app:s3cr3t@db:5432/app",
      DATABASE_PASSWORD: "s3cr3t@db",
      DEBUG: "true",
      ESERVELESS_ENTRY: "functions.js",
    };
    expect(redactEnvironment("cannot load functions.js: cannot reach postgres://app:s3cr3t@db:5432/app (s3cr3t@db), DEBUG true", env)).toBe(
      "cannot load functions.js: cannot reach $DATABASE_URL ($DATABASE_PASSWORD), DEBUG true",
    );
  });
});
