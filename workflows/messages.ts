/**
 * Everything a client needs to talk to a rollout workflow: its type name, id scheme, task queue,
 * signals, queries, search attributes, input and result types. Sandbox-safe.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { MetricName, RolloutSpec } from '../rollout-spec/types';

export const TASK_QUEUE = 'phoenix-rollouts';
export const WORKFLOW_TYPE = 'canaryRollout';

/** One rollout per service at a time: the id is the business key. */
export function rolloutWorkflowId(service: string): string {
  return `rollout-${service}`;
}

/** Optional payload of `pause`, `resume` and `abort`; `{}` or no payload at all are fine. */
export interface OperatorInput {
  reason?: string;
  by?: string;
}

export const pauseSignal = defineSignal<[OperatorInput?]>('pause');
export const resumeSignal = defineSignal<[OperatorInput?]>('resume');
export const abortSignal = defineSignal<[OperatorInput?]>('abort');
export const promoteSignal = defineSignal<[OperatorInput?]>('promote');

export type RolloutState =
  | 'deploying'
  | 'warming_up'
  | 'progressing'
  | 'paused'
  | 'rolling_back'
  | 'finalizing'
  | 'promoted'
  | 'rolled_back'
  | 'aborted'
  | 'failed';

export type CheckOutcome = 'pass' | 'warning' | 'breach' | 'critical' | 'no_data';

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
  /** Why there was no value (Prometheus error, empty result, missing baseline). */
  detail?: string;
}

export interface WeightChange {
  at: string;
  weight: number;
  phase: string;
  reason: string;
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
  timeline: WeightChange[];
  startedAt: string;
  continuedAsNew: number;
}

export const statusQuery = defineQuery<RolloutStatus>('status');

export type RolloutOutcome = 'promoted' | 'rolled_back' | 'aborted' | 'failed';

export interface RolloutResult {
  outcome: RolloutOutcome;
  reason: string;
  finalWeight: number;
  timeline: WeightChange[];
  checks: CheckStatus[];
  /** How many times the rollout continued as new to keep its history short. */
  continuedAsNew: number;
}

export interface RolloutInput {
  spec: RolloutSpec;
  /** Tuning that is not part of the spec; tests use it to force continue-as-new early. */
  limits?: { maxHistoryEvents?: number };
  /** Set by continue-as-new only: the state carried over from the previous run. */
  carried?: unknown;
}

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
