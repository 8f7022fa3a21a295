/**
 * The contract between the rollout workflow and the activities that do its I/O. Sandbox-safe:
 * workflows import these types only (`import type`), never the implementations.
 */
import type { MetricName, RolloutSpec } from '../rollout-spec/types';

/** Every activity input names its rollout so logs, alerts and idempotency keys can use it. */
export interface RolloutRef {
  rolloutId: string;
  spec: RolloutSpec;
}

/** Where the rollout stands when it calls an activity; the worker turns it into metrics. */
export interface RolloutContext {
  phase: string;
  /** When the current phase ends if nothing pauses or blocks it (ISO time); null when paused or not holding. */
  phaseEndsAt?: string | null;
  /** When the running rollback was decided (ISO time), so the time to stable can be measured. */
  rollbackStartedAt?: string | null;
  rollbackAction?: 'immediate_rollback' | 'gradual_rollback' | null;
}

export interface SetWeightInput extends RolloutRef {
  /** Percent of traffic for the canary, 0-100. */
  weight: number;
  context?: RolloutContext;
}

export interface SetWeightResult {
  /** The canary weight read back from the load balancer after the change. */
  weight: number;
}

export type MetricTarget = 'canary' | 'baseline';

/** One query the workflow asks for: a metric for one target over one window. */
export interface MetricQuery {
  metric: MetricName;
  target: MetricTarget;
  windowMs: number;
}

/**
 * A query's outcome, classified explicitly so that missing data is never mistaken for a pass.
 * `value` is present only when `status` is `ok`.
 */
export interface MetricSample extends MetricQuery {
  status: 'ok' | 'no_data' | 'not_a_number' | 'multiple_series' | 'error';
  value?: number;
  detail?: string;
}

export interface QueryMetricsInput extends RolloutRef {
  queries: MetricQuery[];
  context?: RolloutContext;
}

export interface HealthResult {
  healthy: boolean;
  detail: string;
}

export type AlertSeverity = 'info' | 'warning' | 'critical';

export interface AlertInput extends RolloutRef {
  severity: AlertSeverity;
  /** Stable name for the alert, e.g. `CanaryRolledBack`; one alert per name per rollout. */
  name: string;
  reason: string;
}

/** The activities a rollout workflow calls. All are idempotent. */
export interface RolloutActivities {
  /** Starts (or confirms running) the canary version. */
  deployCanary(input: RolloutRef): Promise<void>;
  /** Polls the canary's health until healthy or the activity times out; heartbeats. */
  checkCanaryHealth(input: RolloutRef): Promise<HealthResult>;
  /** Sets the canary's share of traffic and reads it back. */
  setCanaryWeight(input: SetWeightInput): Promise<SetWeightResult>;
  queryMetrics(input: QueryMetricsInput): Promise<MetricSample[]>;
  /** Makes the canary the new stable (and retires the old stable). */
  promoteCanary(input: RolloutRef): Promise<void>;
  /** Stops the canary instances. Harmless when already gone. */
  terminateCanary(input: RolloutRef): Promise<void>;
  sendAlert(input: AlertInput): Promise<void>;
  /** Resolves every alert this rollout raised, except those named in `keep`. */
  resolveAlerts(input: RolloutRef & { keep?: string[] }): Promise<void>;
}
