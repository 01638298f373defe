import { describe, expect, it } from "vitest";
import { Slots, type SlotWait } from "../src/slots.js";

describe("Slots", () => {
  it("lets `max` builds run, queues the rest first come first served, and says so to each that waits", async () => {
    const slots = new Slots(2);
    const order: string[] = [];
    const waits: Record<string, SlotWait> = {};
    const take = (name: string) =>
      slots
        .acquire(undefined, (wait) => {
          waits[name] = wait;
        })
        .then((release) => {
          order.push(name);
          return release;
        });
    const a = await take("a");
    const b = await take("b");
    const c = take("c");
    const d = take("d");
    await Promise.resolve();
    expect(order).toEqual(["a", "b"]);
    expect([slots.running, slots.waiting]).toEqual([2, 2]);
    expect(waits).toEqual({ c: { running: 2, ahead: 0, max: 2 }, d: { running: 2, ahead: 1, max: 2 } });

    a();
    a(); // Releasing twice frees one slot, not two.
    const releaseC = await c;
    expect(order).toEqual(["a", "b", "c"]);
    expect([slots.running, slots.waiting]).toEqual([2, 1]);
    b();
    (await d)();
    releaseC();
    expect([slots.running, slots.waiting]).toEqual([0, 0]);
  });

  it("gives up the place in line when the build is cut short while waiting", async () => {
    const slots = new Slots(1);
    const first = await slots.acquire();
    const abort = new AbortController();
    const waiting = slots.acquire(abort.signal);
    const next = slots.acquire();
    abort.abort(new Error("superseded"));
    await expect(waiting).rejects.toThrow("superseded");
    expect(slots.waiting).toBe(1);
    first();
    (await next)();
    expect(slots.running).toBe(0);
    await expect(slots.acquire(AbortSignal.abort(new Error("already")))).rejects.toThrow("already");
  });

  it("takes a free slot without waiting, or none when all are taken or others wait", async () => {
    const slots = new Slots(1);
    const release = slots.tryTake();
    expect(release).toBeTypeOf("function");
    expect(slots.tryTake()).toBeUndefined();
    const queued = slots.acquire();
    release!();
    // The freed slot went to the caller in line, not to whoever asks next.
    expect(slots.tryTake()).toBeUndefined();
    (await queued)();
    const again = slots.tryTake();
    again!();
    again!(); // twice frees one slot only
    expect(slots.running).toBe(0);
  });
});
