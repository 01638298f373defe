import { describe, expect, it } from "vitest";
import { routerSaturation } from "../../src/run/router-saturation.js";

/** Keeps the event loop busy for `ms`, as a router under load does. */
function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

describe("routerSaturation", () => {
  it("says the loop is saturated after a busy window and not after an idle one", async () => {
    const saturated = routerSaturation({ windowMs: 50 });
    spin(120);
    expect(saturated()).toBe(true);
    // Within the window the answer is the last sample's.
    expect(saturated()).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(saturated()).toBe(false);
  });
});
