/**
 * The contract between the rollout workflow and the activities that do its I/O. Sandbox-safe:
 * workflows import these types only (`import type`), never the implementations.
 */
import type { MetricName, RolloutSpec } from '../rollout-spec/types';
import type { RolloutRequest, TargetSource } from '../catalog/types';
import type { JudgeResult } from './judge/types';

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
  /**
   * How long the router may wait for the server about to take all traffic to be UP (ms). A
   * rollback passes a short one so that a DOWN stable is reported within seconds; default: the router's.
   */
  serverUpTimeoutMs?: number;
  /**
   * Move traffic even when the server about to take it all is not UP (an operator's `abort --force`).
   * Never set by the rollout on its own.
   */
  force?: boolean;
}

export interface SetWeightResult {
  /** The canary weight read back from the load balancer after the change. */
  weight: number;
  /** Pool routers: the canary pool's share the per-server weights give (percent, unrounded). */
  share?: number;
  /** Pool routers: weight per server, as read back. */
  servers?: Record<string, number>;
  /** Pool routers: servers left at 0 because DOWN or in maintenance, with their state. */
  leftOut?: Record<string, string>;
  /** With `judge.freshBaseline`: the fresh baseline server's weight read back (percent). */
  baseline?: number;
  /**
   * When the router read the weight back (epoch ms, worker clock). Workflow time stands still while
   * a local activity runs, so a forward move that waited records this, not when it began.
   */
  appliedAtMs?: number;
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
 * `value` is present only when `status` is `ok`. `infinite`: Prometheus answered `+Inf` or `-Inf`
 * (e.g. `histogram_quantile` above the highest bucket); JSON cannot carry it, so `sign` says which.
 * `timeout`: the query had not answered when the analysis deadline came.
 */
export interface MetricSample extends MetricQuery {
  status: 'ok' | 'no_data' | 'not_a_number' | 'infinite' | 'multiple_series' | 'error' | 'timeout';
  value?: number;
  sign?: 1 | -1;
  detail?: string;
}

export interface QueryMetricsInput extends RolloutRef {
  queries: MetricQuery[];
  context?: RolloutContext;
}

/** What the load balancer really does, read back at an analysis. */
export interface TrafficObservation {
  /** The canary's weight as read back (percent); null when the router could not be read. */
  canaryWeight: number | null;
  /** True when the router's weights differ from `expectedWeight` (e.g. reset by a reload). */
  drifted: boolean;
  /** What was read, or why nothing could be. */
  detail: string;
}

export interface AnalyseCanaryInput extends QueryMetricsInput {
  /** The canary weight the plan has applied; the router's real weights are compared with it. */
  expectedWeight: number;
}

/** One analysis round's I/O in a single activity: every metric query plus the traffic read-back. */
export interface AnalyseCanaryResult {
  samples: MetricSample[];
  traffic: TrafficObservation;
}

/** A configured query that cannot work: it found no series (or failed) for the stable version. */
export interface PreflightProblem {
  metric: MetricName;
  /** The rendered PromQL. */
  query: string;
  status: MetricSample['status'];
  detail: string;
  /** Marked optional in the spec: reported, but does not fail the rollout. */
  optional: boolean;
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

/** Input of `guardCanary`: the spec carries `fastGuard` and the HAProxy target. */
export type GuardCanaryInput = RolloutRef;

/**
 * How a guard attempt ended: `breached` with the window's numbers, or not breached when the
 * attempt reached its own deadline (the workflow starts the next one).
 */
export interface GuardCanaryResult {
  breached: boolean;
  /** 5xx / responses over the window; null with no responses. */
  errorRate: number | null;
  /** Canary responses in the window. */
  requests: number;
  errors: number;
  /** The configured window (ms). */
  windowMs: number;
  /** The span the window really covered (ms). */
  spanMs: number;
  /** Samples taken in this attempt. */
  samples: number;
  detail: string;
}

/** Input of `judgeCanary`: the spec carries `judge` and the metric queries. */
export interface JudgeCanaryInput extends RolloutRef {
  /** The compared window, ending now (ms): the spec's `judge.windowMs` bounded by the canary's age. */
  windowMs: number;
  context?: RolloutContext;
}

/** The activities a rollout workflow calls. All are idempotent. */
/** Input of `resolveRollout`: a catalog request, or an inline spec. */
export type ResolveRolloutInput = { rolloutId: string } & ({ request: RolloutRequest } | { spec: RolloutSpec });

/** The spec a rollout runs with and where its targets came from. */
export interface ResolvedRollout {
  spec: RolloutSpec;
  source: TargetSource;
}

export interface RolloutActivities {
  /**
   * Resolves the rollout's targets once, at its start, on the worker: a catalog request against
   * the worker's catalog, or an inline spec if the worker allows inline targets.
   */
  resolveRollout(input: ResolveRolloutInput): Promise<ResolvedRollout>;
  /** Starts (or confirms running) the canary version. */
  deployCanary(input: RolloutRef): Promise<void>;
  /** Polls the canary's health until healthy or the activity times out; heartbeats. */
  checkCanaryHealth(input: RolloutRef): Promise<HealthResult>;
  /** Sets the canary's share of traffic and reads it back. */
  setCanaryWeight(input: SetWeightInput): Promise<SetWeightResult>;
  /** Kept for rollouts started before analyseCanary existed (their histories replay on it). */
  queryMetrics(input: QueryMetricsInput): Promise<MetricSample[]>;
  /**
   * One analysis: every query concurrently under one deadline (`metrics.queryTimeoutMs`; a query
   * still running then is `timeout`, never a failed activity), and the router's weights read back.
   */
  analyseCanary(input: AnalyseCanaryInput): Promise<AnalyseCanaryResult>;
  /**
   * Runs every enabled metric's query once for the stable version; lists the ones that return no
   * series or fail. Empty when all work.
   */
  preflightMetrics(input: RolloutRef): Promise<PreflightProblem[]>;
  /** Makes the canary the new stable (and retires the old stable). */
  promoteCanary(input: RolloutRef): Promise<void>;
  /** Stops the canary instances. Harmless when already gone. */
  terminateCanary(input: RolloutRef): Promise<void>;
  /**
   * `judge.freshBaseline`: starts (or confirms running) a fresh baseline instance of the stable
   * version in the operator's baseline slot, beside the canary.
   */
  deployBaseline(input: RolloutRef): Promise<void>;
  /** Polls the fresh baseline's health until healthy or the activity times out; heartbeats. */
  checkBaselineHealth(input: RolloutRef): Promise<HealthResult>;
  /** Stops the fresh baseline instance. Harmless when already gone (or never started). */
  terminateBaseline(input: RolloutRef): Promise<void>;
  /**
   * The HAProxy fast guard: samples the canary servers' response counters every
   * `fastGuard.intervalMs` and returns once their 5xx ratio over the window breaches; otherwise
   * runs (heartbeating every sample) until cancelled.
   */
  guardCanary(input: GuardCanaryInput): Promise<GuardCanaryResult>;
  /**
   * The statistical judge (issue 11): range queries of every judged metric for canary and
   * baseline over the window, one Mann-Whitney U test and ratio of means per metric, a score.
   * Read-only, so a retry or a re-run after a worker died is harmless.
   */
  judgeCanary(input: JudgeCanaryInput): Promise<JudgeResult>;
  sendAlert(input: AlertInput): Promise<void>;
  /** Resolves every alert this rollout raised, except those named in `keep`. */
  resolveAlerts(input: RolloutRef & { keep?: string[] }): Promise<void>;
}
