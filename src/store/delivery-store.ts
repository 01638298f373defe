import type Database from "better-sqlite3";

/** How long delivery ids are remembered to drop redeliveries. */
const DELIVERY_MEMORY_MS = 30 * 24 * 60 * 60 * 1000;

/** The webhook deliveries seen, to drop GitHub's redeliveries. */
export type DeliveryStore = ReturnType<typeof createDeliveryStore>;

/** The deliveries table of `db`; `now` is the clock, in milliseconds. */
export function createDeliveryStore(db: Database.Database, options: { now: () => number }) {
  const { now } = options;
  let deliveriesSincePrune = 0;
  return {
    /** Records a webhook delivery id; false when it was seen before (a redelivery). */
    recordDelivery(id: string, event: string): boolean {
      // GitHub only redelivers recent deliveries: ids a month old are forgotten, now and then.
      if (++deliveriesSincePrune >= 100) {
        deliveriesSincePrune = 0;
        db.prepare(`DELETE FROM deliveries WHERE received_at < ?`).run(now() - DELIVERY_MEMORY_MS);
      }
      return db.prepare(`INSERT OR IGNORE INTO deliveries (id, event, received_at) VALUES (?, ?, ?)`).run(id, event, now()).changes === 1;
    },

    /** Forgets a delivery that could not be handled, so GitHub's redelivery is handled again. */
    forgetDelivery(id: string): void {
      db.prepare(`DELETE FROM deliveries WHERE id = ?`).run(id);
    },
  };
}
