import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Base image stand-ins and Chromium, made or found before any test runs (quick when present).
    globalSetup: ["test/support/prepare-test-machine.ts"],
    // Integration tests share one Docker engine on a 2-core machine.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    reporters: ["default"],
  },
});
