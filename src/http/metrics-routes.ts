import { Hono } from "hono";
import type { PoolStats } from "../run/container-pool.js";

/** Prometheus metrics of one eserveless instance, in its own registry (no globals). */
export type Metrics = ReturnType<typeof createMetrics>;

type Invocation = [fn: string, status: number, seconds: number, coldStartMs: number | undefined];

/** The registry and the metrics in it; pool gauges are read from `stats` at each scrape. */
async function createRegistry(stats: () => PoolStats) {
  const { Counter, Gauge, Histogram, Registry } = await import("prom-client");
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
    record([fn, status, seconds, coldStartMs]: Invocation): void {
      invocations.inc({ function: fn, status: String(status) });
      duration.observe({ function: fn }, seconds);
      if (coldStartMs !== undefined) {
        coldStarts.inc({ function: fn });
        coldStartDuration.observe({ function: fn }, coldStartMs / 1000);
      }
    },
  };
}

/**
 * Creates the metrics; pool gauges are read from `stats` at each scrape.
 * prom-client (about 8 MB resident) loads with the first invocation or
 * scrape, not at start; invocations recorded while it loads are kept and
 * counted once it has.
 */
export function createMetrics(stats: () => PoolStats) {
  let loaded: Awaited<ReturnType<typeof createRegistry>> | undefined;
  let loading: Promise<NonNullable<typeof loaded>> | undefined;
  const pending: Invocation[] = [];
  const load = () =>
    (loading ??= createRegistry(stats).then((metrics) => {
      loaded = metrics;
      for (const invocation of pending.splice(0)) metrics.record(invocation);
      return metrics;
    }));

  return {
    /** Records one invocation; `coldStartMs` when it waited for a start. */
    invocation(fn: string, status: number, seconds: number, coldStartMs?: number): void {
      if (loaded) return loaded.record([fn, status, seconds, coldStartMs]);
      pending.push([fn, status, seconds, coldStartMs]);
      // Should prom-client fail to load, /metrics answers with why.
      load().catch(() => undefined);
    },
    /** The metrics in the Prometheus text format, and its content type. */
    async scrape(): Promise<{ text: string; contentType: string }> {
      const { registry } = await load();
      return { text: await registry.metrics(), contentType: registry.contentType };
    },
  };
}

/** `GET /metrics` in the Prometheus text format. */
export function metricsRoutes(options: { metrics: Metrics }) {
  return new Hono().get("/metrics", async (c) => {
    const { text, contentType } = await options.metrics.scrape();
    return c.body(text, 200, { "content-type": contentType });
  });
}
