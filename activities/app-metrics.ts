/**
 * The application metrics Phoenix exports (separate from the Temporal SDK's own metrics). Defined
 * once here; activities and the worker write them on the injected registry.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Every app metric, bound to one registry. */
export interface AppMetrics {
  canaryWeight: Gauge<'service' | 'rollout_id'>;
  /** Pool routers: the canary pool's share of traffic its per-server weights give (percent). */
  canaryShare: Gauge<'service' | 'rollout_id'>;
  weightChanges: Counter<'service'>;
  metricQueries: Counter<'metric' | 'status'>;
  activityFailures: Counter<'activity' | 'type'>;
  alerts: Counter<'severity' | 'name'>;
  rollbacks: Counter<'service' | 'action'>;
  activeRollouts: Gauge<string>;
  /** 1 for the phase each rollout is in; the previous phase's series is removed on a change. */
  rolloutPhase: Gauge<'service' | 'rollout_id' | 'phase'>;
  /** Unix time (s) by which the current phase should end; absent while paused, rolling back or finished. */
  phaseDeadline: Gauge<'service' | 'rollout_id' | 'phase'>;
  /** Seconds from a rollback's decision to the canary's weight reaching 0, once per rollback. */
  triggerToStable: Histogram<'service' | 'action'>;
  /** The statistical judge's latest score (0-100) per rollout; no series before its first judgement. */
  judgeScore: Gauge<'service' | 'rollout_id'>;
  /** Wall time of one judgement (range queries and statistics), by verdict. */
  judgeDuration: Histogram<'service' | 'verdict'>;
}

/**
 * Buckets of {@link AppMetrics.triggerToStable}: an immediate rollback takes well under a second to
 * a few seconds (one load balancer call, retries), a gradual one minutes (−20 %/min from up to 100 %).
 */
export const TRIGGER_TO_STABLE_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 180, 240, 300, 450, 600];

/**
 * Returns the app metrics on `registry`, registering them on first use. Calling it again with the
 * same registry returns the same instruments (prom-client refuses duplicate names).
 */
export function appMetrics(registry: Registry): AppMetrics {
  const get = <T>(name: string, create: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? create();
  const registers = [registry];
  return {
    canaryWeight: get(
      'phoenix_canary_weight',
      () =>
        new Gauge({
          name: 'phoenix_canary_weight',
          help: 'Canary traffic weight (percent) last read back from the load balancer',
          labelNames: ['service', 'rollout_id'] as const,
          registers,
        }),
    ),
    canaryShare: get(
      'phoenix_canary_share',
      () =>
        new Gauge({
          name: 'phoenix_canary_share',
          help: 'Share of traffic (percent) the canary pool gets from the per-server weights last applied (pool routers)',
          labelNames: ['service', 'rollout_id'] as const,
          registers,
        }),
    ),
    weightChanges: get(
      'phoenix_weight_changes_total',
      () =>
        new Counter({
          name: 'phoenix_weight_changes_total',
          help: 'Canary weight changes applied (no-op calls are not counted)',
          labelNames: ['service'] as const,
          registers,
        }),
    ),
    metricQueries: get(
      'phoenix_metric_queries_total',
      () =>
        new Counter({
          name: 'phoenix_metric_queries_total',
          help: 'Prometheus queries run for canary analysis, by classified outcome',
          labelNames: ['metric', 'status'] as const,
          registers,
        }),
    ),
    activityFailures: get(
      'phoenix_activity_failures_total',
      () =>
        new Counter({
          name: 'phoenix_activity_failures_total',
          help: 'Activity attempts that failed, by activity and failure type',
          labelNames: ['activity', 'type'] as const,
          registers,
        }),
    ),
    alerts: get(
      'phoenix_alerts_total',
      () =>
        new Counter({
          name: 'phoenix_alerts_total',
          help: 'Alerts sent, by severity and name',
          labelNames: ['severity', 'name'] as const,
          registers,
        }),
    ),
    rollbacks: get(
      'phoenix_rollbacks_total',
      () =>
        new Counter({
          name: 'phoenix_rollbacks_total',
          help: 'Rollbacks that brought the canary weight to 0, once per rollback, by service and action',
          labelNames: ['service', 'action'] as const,
          registers,
        }),
    ),
    activeRollouts: get(
      'phoenix_active_rollouts',
      () =>
        new Gauge({
          name: 'phoenix_active_rollouts',
          help: 'Canaries deployed by this worker and not yet promoted or terminated',
          registers,
        }),
    ),
    rolloutPhase: get(
      'phoenix_rollout_phase',
      () =>
        new Gauge({
          name: 'phoenix_rollout_phase',
          help: 'The phase each rollout is in (value 1; one series per rollout), as of its last weight change or analysis',
          labelNames: ['service', 'rollout_id', 'phase'] as const,
          registers,
        }),
    ),
    phaseDeadline: get(
      'phoenix_rollout_phase_deadline_timestamp_seconds',
      () =>
        new Gauge({
          name: 'phoenix_rollout_phase_deadline_timestamp_seconds',
          help: 'Unix time at which the current phase should end; no series while paused, rolling back or finished',
          labelNames: ['service', 'rollout_id', 'phase'] as const,
          registers,
        }),
    ),
    triggerToStable: get(
      'phoenix_trigger_to_stable_seconds',
      () =>
        new Histogram({
          name: 'phoenix_trigger_to_stable_seconds',
          help: 'Time from a rollback being decided to the canary weight reaching 0, once per rollback',
          labelNames: ['service', 'action'] as const,
          buckets: TRIGGER_TO_STABLE_BUCKETS,
          registers,
        }),
    ),
    judgeScore: get(
      'phoenix_judge_score',
      () =>
        new Gauge({
          name: 'phoenix_judge_score',
          help: "The statistical judge's latest score of the canary against the baseline (0-100)",
          labelNames: ['service', 'rollout_id'] as const,
          registers,
        }),
    ),
    judgeDuration: get(
      'phoenix_judge_duration_seconds',
      () =>
        new Histogram({
          name: 'phoenix_judge_duration_seconds',
          help: 'Wall time of one statistical judgement (range queries and statistics), by verdict',
          labelNames: ['service', 'verdict'] as const,
          buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
          registers,
        }),
    ),
  };
}
