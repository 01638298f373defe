import { describe, expect, it } from "vitest";
import { createDeliveryStore } from "../../src/store/delivery-store.js";
import { useTempStore } from "../support/temp-store.js";

const temp = useTempStore(createDeliveryStore);

describe("deliveries", () => {
  it("dedupes deliveries, even after a restart", () => {
    const deliveries = temp.store;
    expect(deliveries.recordDelivery("d-1", "push")).toBe(true);
    expect(deliveries.recordDelivery("d-1", "push")).toBe(false);
    expect(deliveries.recordDelivery("d-2", "push")).toBe(true);
    const reopened = temp.reopen();
    expect(reopened.recordDelivery("d-1", "push")).toBe(false);
    expect(reopened.recordDelivery("d-3", "ping")).toBe(true);
  });

  it("forgets delivery ids after a month, so the table does not grow without end", () => {
    const deliveries = temp.store;
    expect(deliveries.recordDelivery("old", "push")).toBe(true);
    temp.clock.at += 31 * 24 * 60 * 60 * 1000;
    for (let i = 0; i < 100; i++) deliveries.recordDelivery(`new-${i}`, "push");
    // Forgotten: the same id counts as new again.
    expect(deliveries.recordDelivery("old", "push")).toBe(true);
    expect(deliveries.recordDelivery("new-5", "push")).toBe(false);
  });

  it("forgets one delivery on request, so GitHub's redelivery of it is handled", () => {
    const deliveries = temp.store;
    expect(deliveries.recordDelivery("d-1", "push")).toBe(true);
    deliveries.forgetDelivery("d-1");
    expect(deliveries.recordDelivery("d-1", "push")).toBe(true);
    expect(deliveries.recordDelivery("d-1", "push")).toBe(false);
  });
});
