/**
 * The normalized rollout spec: what a workflow receives after the client has parsed and
 * validated a user's spec file. Every unit is resolved: durations are milliseconds, rates and
 * ratios are fractions (0.01 = 1%), latencies are milliseconds, weights are percent (0-100).
 *
 * The types are inferred from the one schema in ./schema (imported as a type only), so this
 * module stays sandbox-safe and free of zod at run time: workflows, activities and the client
 * import it.
 */
import type { z } from 'zod';
import type { rolloutSpecSchema } from './schema';

/** Names of the metrics the validator knows. Queries for each live in `metrics.queries`. */
export const METRIC_NAMES = [
  'error_rate',
  'success_rate',
  'request_rate',
  'request_count',
  'p95_latency',
  'p99_latency',
  'cpu_usage',
  'memory_usage',
  'task_success_rate',
  'cache_hit_rate',
  'agent_health_score',
] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

/** Comparison operators of rollback-trigger conditions. */
export const COMPARATORS = ['>', '>=', '<', '<=', '==', '!='] as const;
export type Comparator = (typeof COMPARATORS)[number];

/** The normalized spec: the output of `rolloutSpecSchema`. */
export type RolloutSpec = z.output<typeof rolloutSpecSchema>;

/** What a user writes (YAML/JSON data): the input of `rolloutSpecSchema`. */
export type RolloutSpecInput = z.input<typeof rolloutSpecSchema>;

/** A §6.1 rollback trigger: `metric op threshold` evaluated over `windowMs`; `condition` as written. */
export type RollbackTrigger = RolloutSpec['rollbackTriggers'][number];

export type RollbackAction = RollbackTrigger['action'];

/**
 * One traffic step held for a duration (seed §3.2 phases 1 and 2). `errorThreshold` is a
 * fraction, `latencyThresholdMs` a p95 gate in ms.
 */
export type TrafficPhase = RolloutSpec['phases'][number];

/** Seed §3.2 `full_rollout`: step from the last phase's weight to 100 in increments. */
export type FullRollout = RolloutSpec['fullRollout'];

/** Seed §4.2 validation thresholds (fractions and ms). */
export type ValidationThresholds = RolloutSpec['validation'];

/** Seed §5.2 canary-vs-baseline comparison. */
export type BaselineComparison = RolloutSpec['baseline'];

/**
 * What a check with no data (empty result, NaN, Prometheus down) does. It never counts as a pass:
 * the phase cannot advance while a check is inconclusive. After `consecutiveLimit` inconclusive
 * analyses in a row the action is taken.
 */
export type NoDataPolicy = RolloutSpec['noData'];

/** How the canary weight is set: HAProxy runtime API or a signed webhook. */
export type TrafficTarget = RolloutSpec['traffic'];

/** How the canary is deployed, checked, promoted and terminated. */
export type PlatformTarget = RolloutSpec['platform'];

/**
 * Where metrics come from; `queries` holds a PromQL template per metric (`null` = disabled).
 * `minRequests` / `minRequestsByMetric` are the minimum evidence (canary requests in a check's
 * window, see ./evidence `minRequestsFor`); `optional` lists metrics whose queries may find no
 * series at pre-flight.
 */
export type MetricsSource = RolloutSpec['metrics'];

/** Alertmanager URL (optional: alerts are logged only when absent) and extra labels. */
export type AlertSettings = RolloutSpec['alerts'];

/** The statistical judge's settings (optional; absent when the spec has no `judge`). */
export type JudgeSettings = NonNullable<RolloutSpec['judge']>;
