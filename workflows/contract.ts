/**
 * The one contract between the rollout workflow, its activities, the client and the worker: the
 * type name, id scheme, task queue, signals, updates, queries, search attributes, states, alert
 * names, the activity error types retrying cannot fix, and the input and result types.
 * Sandbox-safe: no I/O, no Node APIs. Every other module imports these rather than repeating a literal.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { RolloutRequest, TargetSource } from '../catalog/types';
import type { MetricName, RolloutSpec } from '../rollout-spec/types';
import type { JudgeStatus } from '../activities/judge/types';

export type { JudgeClass, JudgeMetricStatus, JudgeStatus, JudgeVerdict } from '../activities/judge/types';

export const TASK_QUEUE = 'phoenix-rollouts';
export const WORKFLOW_TYPE = 'canaryRollout';

/** One rollout per service at a time: the id is the business key. */
export function rolloutWorkflowId(service: string): string {
  return `rollout-${service}`;
}

/**
 * Optional payload of every operator action; `{}` or no payload at all are fine. `by` is who
 * acted (the API sets it to the authenticated principal); `force` matters to `abort` only: it
 * drains a rollback that is stuck because stable is not serving, accepting the risk.
 */
export interface OperatorInput {
  reason?: string;
  by?: string;
  force?: boolean;
}

/** The operator actions; each is both a signal (Temporal UI/CLI) and an update (our CLI/API) of the same name. */
export const OPERATOR_ACTIONS = ['pause', 'resume', 'abort', 'promote'] as const;
export type OperatorAction = (typeof OPERATOR_ACTIONS)[number];

export const pauseSignal = defineSignal<[OperatorInput?]>('pause');
export const resumeSignal = defineSignal<[OperatorInput?]>('resume');
export const abortSignal = defineSignal<[OperatorInput?]>('abort');
export const promoteSignal = defineSignal<[OperatorInput?]>('promote');

/**
 * What an accepted update answers. A refused one never reaches the handler: its validator
 * rejects it with the reason as the failure message, and nothing is written to history.
 */
export interface OperatorAck {
  action: OperatorAction;
  /** The rollout's state right after the action was applied. */
  state: RolloutState;
  message: string;
}

export const pauseUpdate = defineUpdate<OperatorAck, [OperatorInput]>('pause');
export const resumeUpdate = defineUpdate<OperatorAck, [OperatorInput]>('resume');
export const abortUpdate = defineUpdate<OperatorAck, [OperatorInput]>('abort');
export const promoteUpdate = defineUpdate<OperatorAck, [OperatorInput]>('promote');

/**
 * Every state a rollout can be in. `stuck`: a rollback cannot move traffic back to stable
 * (stable not UP, router unreachable); the canary keeps serving while the rollout retries.
 */
export const ROLLOUT_STATES = [
  'deploying',
  'warming_up',
  'progressing',
  'paused',
  'rolling_back',
  'stuck',
  'finalizing',
  'promoted',
  'rolled_back',
  'aborted',
  'failed',
] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];

/** The states a rollout ends in; they are also the outcomes. */
export const ENDED_STATES = ['promoted', 'rolled_back', 'aborted', 'failed'] as const satisfies readonly RolloutState[];

/** Alert names, stable across rollouts so Alertmanager can route and silence them. */
export const ALERT_NAMES = {
  /** A rollback started or finished; it outlives the rollout so operators see it. */
  rolledBack: 'CanaryRolledBack',
  /** Traffic cannot go back to stable; the canary keeps serving. */
  rollbackStuck: 'CanaryRollbackStuck',
  /** Promotion failed half-way; the rollout ended with traffic where it serves. */
  promotionFailed: 'CanaryPromotionFailed',
  /** The load balancer's weights differed from the plan and were re-applied. */
  trafficDrift: 'CanaryTrafficDrift',
  /** Analyses had no data (or too few requests) for `noData.consecutiveLimit` in a row. */
  noData: 'CanaryAnalysisNoData',
  /** The HAProxy fast guard cannot sample (HAProxy unreachable); the Prometheus analysis still runs. */
  fastGuardDown: 'CanaryFastGuardDown',
  /** The statistical judge scored the canary marginal: the phase holds until a judgement passes. */
  judgeMarginal: 'CanaryJudgeMarginal',
} as const;

/** Activity failure types that retrying cannot fix; the activities' error classes carry the same names. */
export const NON_RETRYABLE_ERROR_TYPES = [
  'ConfigError',
  'TrafficTargetNotFoundError',
  'WebhookRejectedError',
  'MetricPreflightError',
  'RolloutRequestRejectedError',
  'InlineTargetsNotAllowedError',
  'CatalogUnavailableError',
] as const;

/**
 * `insufficient_samples`: the check would pass, but the canary served fewer requests in the
 * window than the check's minimum; never a pass, and the phase does not advance on it.
 */
export const CHECK_OUTCOMES = ['pass', 'warning', 'breach', 'critical', 'no_data', 'insufficient_samples'] as const;
export type CheckOutcome = (typeof CHECK_OUTCOMES)[number];

/** The latest evaluation of one check (a metric against one threshold). */
export interface CheckStatus {
  /** e.g. `error_rate.critical`, `p95_latency.phase_gate`, `trigger[0]`, `baseline.error_rate`. */
  check: string;
  metric: MetricName;
  value: number | null;
  threshold: number;
  comparator: string;
  outcome: CheckOutcome;
  /** Consecutive evaluations with this same non-pass outcome. */
  streak: number;
  at: string;
  /** Why there was no value (Prometheus error, empty result, missing baseline), or too few requests. */
  detail?: string;
  /** Canary requests in the check's window, for checks that need a minimum of them. */
  requests?: number;
  /** The minimum of canary requests this check needs to pass. */
  minRequests?: number;
  /** The window the check's rule judges, as the spec sets it (absent from older workflows). */
  windowMs?: number;
  /** Canary-vs-baseline checks: how `threshold` derives from the baseline's value (absent from older workflows). */
  baseline?: CheckBaseline;
  /** What the check checks, as its failing rule, e.g. `error_rate > 1% over 5m` (workflows/check-wording.ts). */
  label?: string;
  /** A true statement of value against limit, e.g. `99.5% ≥ 99% ✓`, `1.4% > 1% ✗`, `no data (…)`. */
  statement?: string;
}

/**
 * The limit of a canary-vs-baseline check: the baseline's value plus `margin`, in percentage
 * points (`difference`, fractions) or as a share of the baseline's value (`ratio`).
 */
export interface CheckBaseline {
  mode: 'difference' | 'ratio';
  margin: number;
  /** The baseline's value in the window; null when it had none. */
  value: number | null;
}

/** One operator action as the rollout handled it: the audit trail of `status`. */
export interface OperatorEvent {
  at: string;
  action: OperatorAction;
  by: string | null;
  reason: string;
  accepted: boolean;
  /** What was done, or why it was refused. */
  message: string;
}

export interface WeightChange {
  at: string;
  weight: number;
  phase: string;
  reason: string;
  /** Pools: the canary pool's share of traffic the per-server weights give (percent), when the router reports it. */
  share?: number;
  /** `judge.freshBaseline`: the fresh baseline server's weight read back with the canary's (percent). */
  baseline?: number;
}

export interface RolloutStatus {
  rolloutId: string;
  service: string;
  stableVersion: string;
  canaryVersion: string;
  state: RolloutState;
  paused: boolean;
  phase: string;
  /** Index of the step in the plan (0 = warm-up). */
  step: number;
  weight: number;
  /** Milliseconds of the current phase still to run (frozen while paused). */
  phaseRemainingMs: number;
  phaseDurationMs: number;
  checks: CheckStatus[];
  lastAnalysisAt: string | null;
  rollbackReason: string | null;
  rollbackAction: 'immediate_rollback' | 'gradual_rollback' | null;
  /** Set while `state` is `stuck`: why traffic cannot go back to stable. */
  stuckReason: string | null;
  timeline: WeightChange[];
  /** The latest operator actions (at most 50), accepted or refused. */
  operatorEvents: OperatorEvent[];
  startedAt: string;
  continuedAsNew: number;
  /**
   * The catalog entry (service, revision, router, platform, metric source, receiver) the rollout
   * resolved at its start, or `inline` for a spec that named its own targets; `null` for rollouts
   * started before the catalog existed.
   */
  targets: TargetSource | null;
  /** The HAProxy fast guard, when the spec enables it (absent otherwise). */
  fastGuard?: FastGuardStatus;
  /** The statistical judge's latest judgement and the latest ≤ 50 scores, when the spec has a judge (absent otherwise). */
  judge?: JudgeStatus;
  /** `judge.freshBaseline`: the baseline instance the judge compares the canary with, once deployed (absent otherwise). */
  freshBaseline?: FreshBaselineStatus;
}

/** The fresh baseline (`judge.freshBaseline`) as the status query shows it. */
export interface FreshBaselineStatus {
  /** The stable version it runs. */
  version: string;
  state: 'deploying' | 'running' | 'terminated';
  /** Its share of traffic now (percent): min(canary, floor((100 - canary) / 2)) while running, else 0. */
  weight: number;
}

/** Where the fast guard stands, as the status query shows it. */
export interface FastGuardStatus {
  /** A guard activity is sampling HAProxy now. */
  running: boolean;
  /** Guard attempts started (a new one after each failure, deadline or return to traffic). */
  starts: number;
  /** Failed guard attempts in a row (HAProxy unreachable); back to 0 when an attempt ends well (a breach or its 30-minute turn). */
  failures: number;
  /** Why the latest attempt failed, while `failures` > 0. */
  lastError: string | null;
  /** The latest finished attempt's judgement (a breach, or the deadline restart). */
  lastResult: string | null;
  /** When the state above last changed (ISO). */
  at: string;
}

export const statusQuery = defineQuery<RolloutStatus>('status');

export type RolloutOutcome = (typeof ENDED_STATES)[number];

export interface RolloutResult {
  outcome: RolloutOutcome;
  reason: string;
  finalWeight: number;
  timeline: WeightChange[];
  checks: CheckStatus[];
  /** How many times the rollout continued as new to keep its history short. */
  continuedAsNew: number;
  /** The operator actions the rollout handled (absent in results of v1 rollouts). */
  operatorEvents?: OperatorEvent[];
}

/** What a run works from: the resolved spec (resolved once, at the start of the first run). */
export interface RolloutInput {
  spec: RolloutSpec;
  /** Tuning that is not part of the spec; tests use it to force continue-as-new early. */
  limits?: { maxHistoryEvents?: number };
  /** Set by continue-as-new only: the state carried over from the previous run. */
  carried?: unknown;
}

/** Starting a rollout of a catalog service: the worker resolves its targets in an activity. */
export interface CatalogRolloutInput {
  request: RolloutRequest;
  limits?: RolloutInput['limits'];
}

/** What a client passes to start the workflow: a catalog request, or an inline spec (if the worker allows it). */
export type RolloutStartInput = RolloutInput | CatalogRolloutInput;

/** Custom search attributes; register them on the namespace (scripts/ does it for the dev server). */
export const serviceSearchAttribute = defineSearchAttributeKey('PhoenixService', SearchAttributeType.KEYWORD);
export const phaseSearchAttribute = defineSearchAttributeKey('PhoenixPhase', SearchAttributeType.KEYWORD);
export const weightSearchAttribute = defineSearchAttributeKey('PhoenixWeight', SearchAttributeType.INT);
export const stateSearchAttribute = defineSearchAttributeKey('PhoenixState', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = {
  PhoenixService: 'Keyword',
  PhoenixPhase: 'Keyword',
  PhoenixWeight: 'Int',
  PhoenixState: 'Keyword',
} as const;
