/**
 * What evidence the analysis of a normalized spec works with: how many canary requests a check
 * needs before it may pass, and which rollback triggers are never evaluated because their metric
 * is disabled. Pure and sandbox-safe (no zod at run time), so workflows, activities and the
 * client (`phoenix validate`) may all call it.
 */
import type { MetricName, RollbackTrigger, RolloutSpec } from './types';

/**
 * The metrics computed from the canary's requests: a check of one of these may pass only when the
 * canary served at least {@link minRequestsFor} requests in the check's window (`request_count`).
 */
export const REQUEST_DERIVED_METRICS = ['error_rate', 'success_rate', 'p95_latency', 'p99_latency'] as const;
export type RequestDerivedMetric = (typeof REQUEST_DERIVED_METRICS)[number];

/** Default of `metrics.minRequests`: Kayenta asks for at least 50 data points. */
export const DEFAULT_MIN_REQUESTS = 50;

/** True for the metrics in {@link REQUEST_DERIVED_METRICS}. */
export function isRequestDerived(metric: MetricName): metric is RequestDerivedMetric {
  return (REQUEST_DERIVED_METRICS as readonly MetricName[]).includes(metric);
}

/**
 * The minimum-evidence fields of `metrics` (as in `MetricsSource`), all {@link minRequestsIn}
 * reads. Written out rather than picked so the schema can use it while its own type is inferred.
 */
export interface MinimumEvidence {
  minRequests: number;
  minRequestsByMetric: Partial<Record<MetricName, number>>;
}

/**
 * The fewest canary requests in a check's window for a check of `metric` to pass, from the
 * `metrics` block alone: `minRequestsByMetric[metric]` when given, else `minRequests` for the
 * request-derived metrics and 0 (no minimum) for the others.
 */
export function minRequestsIn(metrics: MinimumEvidence, metric: MetricName): number {
  const override = metrics.minRequestsByMetric[metric];
  if (override !== undefined) return override;
  return isRequestDerived(metric) ? metrics.minRequests : 0;
}

/**
 * The fewest canary requests (`request_count` over the check's window) with which a check of
 * `metric` may pass; 0 means no minimum. The per-metric override wins; otherwise
 * `spec.metrics.minRequests` for the request-derived metrics (error_rate, success_rate,
 * p95_latency, p99_latency) and 0 for the others (request_rate, request_count, cpu_usage,
 * memory_usage, business KPIs).
 */
export function minRequestsFor(spec: RolloutSpec, metric: MetricName): number {
  return minRequestsIn(spec.metrics, metric);
}

/**
 * The rollback triggers whose metric is disabled (`metrics.queries.<metric>: null`). They are
 * valid but never evaluated; `phoenix validate` can list them so a disabled metric is not a
 * silent surprise. In spec order.
 */
export function disabledTriggers(spec: RolloutSpec): RollbackTrigger[] {
  return spec.rollbackTriggers.filter((trigger) => spec.metrics.queries[trigger.metric] === null);
}
