/**
 * Types of the operator-owned service catalog and of the rollout requests that name its
 * services. Type-only (no run-time imports), so workflows may import them.
 */

/** Policy blocks a request may set, in the rollout spec's own format (see rollout-spec/). */
export const POLICY_FIELDS = [
  'warmup',
  'trafficControl',
  'analysisInterval',
  'failureLimit',
  'validation',
  'rollback_triggers',
  'rollbackTriggers',
  'gradualRollback',
  'baseline',
  'noData',
  'metrics',
  'alerts',
  'fastGuard',
] as const;
export type PolicyField = (typeof POLICY_FIELDS)[number];

/** The parts of `metrics` a request may set: windows and evidence, never the source or its queries. */
export const REQUEST_METRICS_FIELDS = ['defaultWindow', 'minRequests', 'minRequestsByMetric', 'optional'] as const;
/** The part of `alerts` a request may set: extra labels, never the receiver. */
export const REQUEST_ALERTS_FIELDS = ['labels'] as const;

/**
 * "Roll `checkout` to v2": what a pipeline or another service sends. It names a catalog service
 * and versions, and may override policy (phases, thresholds, triggers, windows, no-data policy)
 * within the limits the catalog sets; it never carries a command, directory, environment,
 * state directory or URL.
 */
export interface RolloutRequest {
  service: string;
  canary: { version: string };
  /** Default: the catalog service's `stable`. */
  stable?: { version: string };
  /** Policy overrides, raw (units as the user wrote them); validated when resolved. */
  overrides: Partial<Record<PolicyField, unknown>>;
}

/** Where a running rollout's targets came from, as `phoenix status` shows it. */
export type TargetSource =
  | {
      kind: 'catalog';
      service: string;
      /** sha256 (first 16 hex) of the catalog entries the rollout was resolved from. */
      revision: string;
      router: string;
      platform: string;
      metricSource: string;
      alertReceiver: string | null;
    }
  | { kind: 'inline' };
