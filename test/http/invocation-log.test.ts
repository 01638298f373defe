import { describe, expect, it } from "vitest";
import { createInvocationLog, STATS_WINDOW_MS } from "../../src/http/invocation-log.js";

const call = (at: number, status: number) => ({ at, method: "GET", path: "/", status, ms: 1, cold: false, container: null });

describe("the invocation log's last hour", () => {
  it("counts every request and each 5xx of a function, whatever its case, and forgets what is older than an hour", () => {
    const log = createInvocationLog(2);
    const start = Date.parse("2026-12-02T10:00:30Z");
    for (let i = 0; i < 500; i++) log.record("acme/api/Hello", call(start + i * 1000, i % 5 === 0 ? 502 : 200));
    log.record("acme/api/hello", call(start, 404));
    // The list keeps 2; the counts stay exact.
    expect(log.recent("acme/api/hello")).toHaveLength(2);
    expect(log.stats("acme/api/HELLO", start + 500_000)).toEqual({ requests: 501, errors: 100 });
    expect(log.stats("acme/api/other", start)).toEqual({ requests: 0, errors: 0 });
    // An hour and a minute later, the first minute's calls are gone and the rest remain.
    const later = start + STATS_WINDOW_MS + 60_000;
    const stats = log.stats("acme/api/hello", later);
    expect(stats.requests).toBeLessThan(501);
    expect(stats.requests).toBeGreaterThan(0);
    expect(log.stats("acme/api/hello", start + 2 * STATS_WINDOW_MS)).toEqual({ requests: 0, errors: 0 });
  });
});
