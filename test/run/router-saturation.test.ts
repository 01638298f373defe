import { describe, expect, it } from "vitest";
import { routerSaturation } from "../../src/run/router-saturation.js";

/** Keeps the event loop busy for `ms`, as a router under load does. */
function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("routerSaturation", () => {
  it("says the loop is saturated after a busy window and not after an idle one", async () => {
    const saturated = routerSaturation({ windowMs: 100, minIdleCores: 0 });
    spin(150);
    expect(saturated()).toBe(true);
    // Within the window the answer is the last sample's.
    expect(saturated()).toBe(true);
    await sleep(120);
    expect(saturated()).toBe(false);
  });

  it("does not read a load that follows an idle spell as idle: saturated until a window of it was measured", async () => {
    const saturated = routerSaturation({ windowMs: 100, minIdleCores: 0 });
    expect(saturated()).toBe(false);
    // Quiet for many windows, then busy: the utilization since the last sample would be mostly idle.
    await sleep(800);
    spin(120);
    expect(saturated()).toBe(true);
    // One whole window of the load measured: still saturated.
    spin(120);
    expect(saturated()).toBe(true);
    // And one of quiet after it: not.
    await sleep(120);
    expect(saturated()).toBe(false);
  });

  it("says saturated when the host's CPUs were not idle for at least minIdleCores of the window, whatever the router's loop did", async () => {
    // The window's length by a clock of the test's own; the loop really idles meanwhile.
    let at = 0;
    let idleMs = 0;
    const saturated = routerSaturation({ windowMs: 100, minIdleCores: 0.5, now: () => at, idleMs: () => idleMs });
    // The router's loop idle, the host busy: 0.2 of a core idle over the window.
    await sleep(50);
    at += 120;
    idleMs += 24;
    expect(saturated()).toBe(true);
    // Then a core and a half idle: room for another container.
    await sleep(50);
    at += 120;
    idleMs += 180;
    expect(saturated()).toBe(false);
  });
});
