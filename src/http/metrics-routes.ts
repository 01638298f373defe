import { Hono } from "hono";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { PoolStats } from "../run/container-pool.js";

/** Prometheus metrics of one eserveless instance, in its own registry (no globals). */
export type Metrics = ReturnType<typeof createMetrics>;

/** Creates the metrics; pool gauges are read from `stats` at each scrape. */
export function createMetrics(stats: () => PoolStats) {
  const registry = new Registry();
  const invocations = new Counter({
    name: "eserveless_invocations_total",
    help: "Function invocations by function and HTTP status",
    labelNames: ["function", "status"] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "eserveless_invocation_duration_seconds",
    help: "Time to the response headers of proxied invocations",
    labelNames: ["function"] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const coldStarts = new Counter({ name: "eserveless_cold_starts_total", help: "Invocations that waited for a container to start", labelNames: ["function"] as const, registers: [registry] });
  const coldStartDuration = new Histogram({
    name: "eserveless_cold_start_duration_seconds",
    help: "How long invocations waited for a container to start",
    labelNames: ["function"] as const,
    buckets: [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30],
    registers: [registry],
  });
  new Gauge({
    name: "eserveless_containers",
    help: "Function containers by state",
    labelNames: ["state"] as const,
    registers: [registry],
    collect() {
      const s = stats();
      for (const state of ["ready", "paused", "draining", "starting"] as const) this.set({ state }, s[state]);
    },
  });
  new Gauge({
    name: "eserveless_queued_requests",
    help: "Requests waiting for a container",
    registers: [registry],
    collect() {
      this.set(stats().queued);
    },
  });

  return {
    registry,
    /** Records one invocation; `coldStartMs` when it waited for a start. */
    invocation(fn: string, status: number, seconds: number, coldStartMs?: number): void {
      invocations.inc({ function: fn, status: String(status) });
      duration.observe({ function: fn }, seconds);
      if (coldStartMs !== undefined) {
        coldStarts.inc({ function: fn });
        coldStartDuration.observe({ function: fn }, coldStartMs / 1000);
      }
    },
  };
}

/** `GET /metrics` in the Prometheus text format. */
export function metricsRoutes(options: { metrics: Metrics }) {
  return new Hono().get("/metrics", async (c) =>
    c.body(await options.metrics.registry.metrics(), 200, { "content-type": options.metrics.registry.contentType }),
  );
}
