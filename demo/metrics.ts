/**
 * The demo service's Prometheus metrics, on a registry of its own with `{service, version}` as
 * default labels so that canary and stable series differ by the `version` label.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Faults } from './faults';

/** Buckets fine enough that p95/p99 are meaningful between 50 ms and 1 s. */
export const LATENCY_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.75, 0.9, 1, 1.25, 1.5,
  2, 3, 5, 10,
];

/** Healthy values of the business gauges; each reading gets a jitter of at most ±JITTER. */
export const HEALTHY_BUSINESS = { taskSuccessRate: 0.995, cacheHitRate: 0.95, agentHealthScore: 0.98 } as const;
const JITTER = 0.002;

/** Handles the request path and the admin routes update. */
export interface DemoMetrics {
  registry: Registry;
  requests: Counter<'status'>;
  duration: Histogram<'status'>;
}

/**
 * Creates the registry. `faults` is read at scrape time so overrides show on the next scrape;
 * `random` is injectable so tests can pin the jitter.
 */
export function createDemoMetrics(opts: {
  service: string;
  version: string;
  memoryLimitBytes: number;
  faults: () => Faults;
  random?: () => number;
}): DemoMetrics {
  const random = opts.random ?? Math.random;
  const registry = new Registry();
  registry.setDefaultLabels({ service: opts.service, version: opts.version });
  collectDefaultMetrics({ register: registry });

  const requests = new Counter({
    name: 'http_requests_total',
    help: 'Application requests served, by HTTP status.',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  // Both outcomes exist from the start at 0: Prometheus' rate() cannot see the increase that
  // creates a series, so without this the canary's first error would be invisible to analysis.
  for (const status of ['200', '500']) requests.inc({ status }, 0);
  const duration = new Histogram({
    name: 'request_duration_seconds',
    help: 'Application request duration in seconds, by HTTP status.',
    labelNames: ['status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });

  const jittered = (healthy: number) => clamp01(healthy + (random() * 2 - 1) * JITTER);
  const businessGauge = (name: string, help: string, pick: (f: Faults) => number | undefined, healthy: number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(pick(opts.faults()) ?? jittered(healthy));
      },
    });
  businessGauge('task_success_rate', 'Share of tasks completed successfully (0..1).', (f) => f.taskSuccessRate, HEALTHY_BUSINESS.taskSuccessRate);
  businessGauge('cache_hit_rate', 'Share of cache lookups that hit (0..1).', (f) => f.cacheHitRate, HEALTHY_BUSINESS.cacheHitRate);
  businessGauge('agent_health_score', 'Composite agent health (0..1).', (f) => f.agentHealthScore, HEALTHY_BUSINESS.agentHealthScore);

  new Gauge({
    name: 'memory_usage_ratio',
    help: 'Resident set size divided by the configured memory limit.',
    registers: [registry],
    collect() {
      this.set(opts.faults().memoryUsageRatio ?? process.memoryUsage.rss() / opts.memoryLimitBytes);
    },
  });

  return { registry, requests, duration };
}

function clamp01(x: number): number {
  return Math.min(1, Math.max(0, x));
}
