/**
 * The application metrics Phoenix exports (separate from the Temporal SDK's own metrics). Defined
 * once here; activities and the worker write them on the injected registry.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** Every app metric, bound to one registry. */
export interface AppMetrics {
  canaryWeight: Gauge<'service' | 'rollout_id'>;
  weightChanges: Counter<'service'>;
  metricQueries: Counter<'metric' | 'status'>;
  activityFailures: Counter<'activity' | 'type'>;
  alerts: Counter<'severity' | 'name'>;
  rollbacks: Counter<'service' | 'action'>;
  activeRollouts: Gauge<string>;
}

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
          help: 'Rollbacks announced by rollouts (CanaryRolledBack alerts), by service and action',
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
  };
}
