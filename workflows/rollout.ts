/**
 * The state of one rollout and the rules that change it: the step clock that pausing stops, the
 * rollback and stuck markers, the operator audit trail, and the projections that show it (the
 * `status` query, search attributes, the UI's current details). Plain JSON data inside, so
 * continue-as-new carries it whole. No I/O: the procedures that call activities take it as input.
 */
import { log, setCurrentDetails, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { RolloutContext, RolloutRef } from '../activities/types';
import type { TargetSource } from '../catalog/types';
import type { RolloutSpec } from '../rollout-spec/types';
import {
  ENDED_STATES,
  phaseSearchAttribute,
  serviceSearchAttribute,
  stateSearchAttribute,
  weightSearchAttribute,
  type CheckStatus,
  type FastGuardStatus,
  type OperatorEvent,
  type RolloutInput,
  type RolloutState,
  type RolloutStatus,
  type WeightChange,
} from './contract';
import { freshBaselineStatus, type BaselineState } from './baseline';
import type { JudgeState } from './judge';
import { buildPlan, type PlanStep } from './plan';

/** Marks data written by this version of the workflow (see `isCarriedFromV1`). */
const DATA_VERSION = 2;

/** The operator events kept in status; older ones are in the workflow history and the logs. */
const MAX_OPERATOR_EVENTS = 50;

export type RollbackAction = 'immediate_rollback' | 'gradual_rollback';

export interface RollbackState {
  action: RollbackAction;
  reason: string;
  outcome: 'rolled_back' | 'aborted';
  /** When the rollback was decided (ISO); the worker measures time to stable from it. */
  startedAt: string;
}

/** Everything a rollout knows; plain JSON so continue-as-new carries it as is. */
export interface RolloutData {
  dataVersion: typeof DATA_VERSION;
  startedAt: string;
  state: RolloutState;
  deployed: boolean;
  /** When this canary finished deploying; analysis windows never reach back before it. */
  deployedAtMs?: number | null;
  paused: boolean;
  step: number;
  stepStarted: boolean;
  weight: number;
  /** Unpaused time spent in the current hold (a plan step or a gradual-rollback step) before `segmentStartMs`. */
  holdElapsedMs: number;
  /** Start of the current unpaused stretch of the hold; null while paused or not holding. */
  segmentStartMs: number | null;
  nextAnalysisAtMs: number | null;
  analysesInStep: number;
  /** The latest analysis found a reason not to advance (a gate breach, no data, too few requests). */
  blocked: boolean;
  checks: CheckStatus[];
  noDataStreak: number;
  lastAnalysisAt: string | null;
  rollback: RollbackState | null;
  promoteRequested: string | null;
  /** An operator's `abort --force`: drain a stuck rollback even onto a stable that is not UP. */
  forceDrain: string | null;
  stuckReason: string | null;
  /** Set when the stable slot starts being replaced: from then on abort is refused. */
  promotionStarted: boolean;
  timeline: WeightChange[];
  operatorEvents: OperatorEvent[];
  continuedAsNew: number;
  /** Where the targets came from, resolved at the start of the first run (absent before the catalog). */
  targets?: TargetSource | null;
  /** The statistical judge's state (judge.ts); absent until a spec with a judge first judges. */
  judge?: JudgeState;
  /** The fresh baseline (baseline.ts); absent without `judge.freshBaseline` and until it is deployed. */
  baseline?: BaselineState;
}

/** True for state carried over by continue-as-new from the v1 workflow, which must keep running v1. */
export function isCarriedFromV1(input: RolloutInput): boolean {
  const carried = input.carried as { dataVersion?: number } | undefined;
  return carried !== undefined && carried.dataVersion !== DATA_VERSION;
}

export class Rollout {
  readonly plan: PlanStep[];
  readonly ref: RolloutRef;
  /** Bumped by every operator action (and a fast-guard breach), so waits can wake on it. */
  wakeups = 0;
  /** The fast guard's state when the spec enables it (fast-guard.ts); not carried by continue-as-new. */
  guard: FastGuardStatus | null = null;
  /** Cancels whatever the rollout is waiting on that an abort may interrupt (deploy, health check). */
  interrupt: () => void = () => undefined;
  private published = '';
  private readonly searchAttributesOn: boolean;

  constructor(
    readonly spec: RolloutSpec,
    readonly data: RolloutData,
  ) {
    this.plan = buildPlan(spec);
    this.ref = { rolloutId: workflowInfo().workflowId, spec };
    this.searchAttributesOn = workflowInfo().typedSearchAttributes.get(serviceSearchAttribute) !== undefined;
  }

  static fromInput(input: RolloutInput, targets: TargetSource | null = null): Rollout {
    const data = (input.carried as RolloutData | undefined) ?? { ...freshData(), targets };
    return new Rollout(input.spec, data);
  }

  get weight(): number {
    return this.data.weight;
  }

  get paused(): boolean {
    return this.data.paused;
  }

  get rollback(): RollbackState | null {
    return this.data.rollback;
  }

  get ended(): boolean {
    return (ENDED_STATES as readonly RolloutState[]).includes(this.data.state);
  }

  currentStep(): PlanStep | undefined {
    return this.plan[this.data.step];
  }

  phaseName(): string {
    const d = this.data;
    if (d.rollback) return 'rollback';
    if (d.state === 'deploying') return 'deploy';
    if (d.state === 'finalizing' || d.state === 'promoted') return 'finalize';
    return this.currentStep()?.name ?? 'finalize';
  }

  /** The state while nothing special holds it: where the plan stands. */
  runningState(): RolloutState {
    const d = this.data;
    if (d.rollback) return d.stuckReason ? 'stuck' : 'rolling_back';
    if (d.paused) return 'paused';
    if (!d.deployed) return 'deploying';
    return d.step === 0 ? 'warming_up' : 'progressing';
  }

  setState(state: RolloutState): void {
    this.data.state = state;
    this.publish();
  }

  // --- the hold clock: unpaused time in the current plan step or gradual-rollback step ---------

  startHold(): void {
    this.data.holdElapsedMs = 0;
    this.data.segmentStartMs = this.data.paused ? null : Date.now();
  }

  holdElapsedMs(): number {
    const d = this.data;
    return d.holdElapsedMs + (d.segmentStartMs !== null && !d.paused ? Date.now() - d.segmentStartMs : 0);
  }

  pause(reason: string): void {
    const d = this.data;
    if (d.paused) return;
    if (d.segmentStartMs !== null) d.holdElapsedMs += Date.now() - d.segmentStartMs;
    d.segmentStartMs = null;
    d.paused = true;
    log.info('rollout paused', { reason, phase: this.phaseName(), weight: d.weight });
    this.setState(d.rollback ? this.runningState() : 'paused');
  }

  resume(reason: string): void {
    const d = this.data;
    if (!d.paused) return;
    d.paused = false;
    d.segmentStartMs = Date.now();
    log.info('rollout resumed', { reason, phase: this.phaseName() });
    this.setState(this.runningState());
  }

  // --- rollback -----------------------------------------------------------------------------------

  /** Starts a rollback, or escalates a gradual one to immediate; never softens one. */
  startRollback(action: RollbackAction, reason: string, outcome: RollbackState['outcome']): void {
    const d = this.data;
    const current = d.rollback;
    if (current?.action === 'immediate_rollback') return;
    if (current && action === 'gradual_rollback') return;
    d.rollback = {
      action,
      reason,
      outcome: current?.outcome === 'aborted' ? 'aborted' : outcome,
      startedAt: current?.startedAt ?? new Date().toISOString(),
    };
    // An immediate rollback does not wait for anyone; a paused gradual one stays paused.
    if (action === 'immediate_rollback' && d.paused) {
      d.paused = false;
      d.segmentStartMs = null;
    }
    log.warn('rollback started', { action, reason, weight: d.weight });
    this.setState(this.runningState());
  }

  markStuck(reason: string): void {
    this.data.stuckReason = reason;
    log.error('rollback stuck: traffic cannot go back to stable; canary keeps serving', { reason, weight: this.weight });
    this.setState('stuck');
  }

  clearStuck(): void {
    if (this.data.stuckReason === null) return;
    log.info('rollback unstuck: traffic is back on stable', { was: this.data.stuckReason });
    this.data.stuckReason = null;
    this.setState(this.runningState());
  }

  // --- records --------------------------------------------------------------------------------------

  /** `appliedAtMs`: when the router confirmed it, if later than now (a local activity's wait). */
  recordWeight(weight: number, reason: string, share?: number, baseline?: number, appliedAtMs?: number): void {
    this.data.weight = weight;
    this.data.timeline.push({
      at: new Date(Math.max(Date.now(), appliedAtMs ?? 0)).toISOString(),
      weight,
      phase: this.phaseName(),
      reason,
      ...(share === undefined ? {} : { share }),
      ...(baseline === undefined ? {} : { baseline }),
    });
    log.info('canary weight set', { weight, phase: this.phaseName(), reason });
    this.publish();
  }

  recordOperatorEvent(event: Omit<OperatorEvent, 'at'>): void {
    const events = this.data.operatorEvents;
    events.push({ at: new Date().toISOString(), ...event });
    if (events.length > MAX_OPERATOR_EVENTS) events.splice(0, events.length - MAX_OPERATOR_EVENTS);
    if (event.accepted) log.info('operator action', { ...event });
    else log.warn('operator action refused', { ...event });
    this.wakeups += 1;
  }

  /** Where the rollout stands for an activity call; `startingStep` is the step whose weight is being set. */
  context(startingStep?: PlanStep): RolloutContext {
    const d = this.data;
    const step = this.currentStep();
    const holding = step !== undefined && d.stepStarted && !d.paused && !d.rollback;
    const remainingMs = startingStep
      ? d.paused
        ? null
        : startingStep.durationMs
      : holding
        ? Math.max(0, step.durationMs - this.holdElapsedMs())
        : null;
    return {
      phase: this.phaseName(),
      phaseEndsAt: remainingMs === null ? null : new Date(Date.now() + remainingMs).toISOString(),
      rollbackStartedAt: d.rollback?.startedAt ?? null,
      rollbackAction: d.rollback?.action ?? null,
    };
  }

  // --- projections -----------------------------------------------------------------------------------

  status(): RolloutStatus {
    const d = this.data;
    const step = this.currentStep();
    const inStep = step !== undefined && d.stepStarted && !d.rollback && d.state !== 'finalizing';
    const freshBaseline = freshBaselineStatus(this);
    return {
      rolloutId: this.ref.rolloutId,
      service: this.spec.service,
      stableVersion: this.spec.stable.version,
      canaryVersion: this.spec.canary.version,
      state: d.state,
      paused: d.paused,
      phase: this.phaseName(),
      step: d.step,
      weight: d.weight,
      phaseDurationMs: inStep ? step.durationMs : 0,
      phaseRemainingMs: inStep ? Math.max(0, step.durationMs - this.holdElapsedMs()) : 0,
      checks: d.checks,
      lastAnalysisAt: d.lastAnalysisAt,
      rollbackReason: d.rollback?.reason ?? null,
      rollbackAction: d.rollback?.action ?? null,
      stuckReason: d.stuckReason,
      timeline: d.timeline,
      operatorEvents: d.operatorEvents,
      startedAt: d.startedAt,
      continuedAsNew: d.continuedAsNew,
      targets: d.targets ?? null,
      ...(this.guard ? { fastGuard: { ...this.guard } } : {}),
      ...(d.judge?.status ? { judge: d.judge.status } : {}),
      ...(freshBaseline ? { freshBaseline } : {}),
    };
  }

  /** Mirrors state, phase and weight into search attributes and the UI's current details. */
  publish(): void {
    const d = this.data;
    const phase = this.phaseName();
    const key = `${d.state}|${phase}|${d.weight}|${d.paused}|${d.stuckReason ?? ''}`;
    if (key === this.published) return;
    this.published = key;
    if (this.searchAttributesOn) {
      const pairs: SearchAttributeUpdatePair[] = [
        { key: stateSearchAttribute, value: d.state },
        { key: phaseSearchAttribute, value: phase },
        { key: weightSearchAttribute, value: d.weight },
      ];
      upsertSearchAttributes(pairs);
    }
    const why = d.stuckReason
      ? `\n\nStuck: ${d.stuckReason}`
      : d.rollback
        ? `\n\nRollback: ${d.rollback.reason}`
        : '';
    setCurrentDetails(
      `**${this.spec.service}** ${this.spec.stable.version} → ${this.spec.canary.version}\n\n` +
        `State: ${d.state}${d.paused ? ' (paused)' : ''} · phase ${phase} · canary weight ${d.weight}%${why}`,
    );
  }

  /** The state continue-as-new carries. */
  carry(): RolloutData {
    return { ...this.data, continuedAsNew: this.data.continuedAsNew + 1 };
  }
}

function freshData(): RolloutData {
  return {
    dataVersion: DATA_VERSION,
    startedAt: new Date().toISOString(),
    state: 'deploying',
    deployed: false,
    deployedAtMs: null,
    paused: false,
    step: 0,
    stepStarted: false,
    weight: 0,
    holdElapsedMs: 0,
    segmentStartMs: null,
    nextAnalysisAtMs: null,
    analysesInStep: 0,
    blocked: false,
    checks: [],
    noDataStreak: 0,
    lastAnalysisAt: null,
    rollback: null,
    promoteRequested: null,
    forceDrain: null,
    stuckReason: null,
    promotionStarted: false,
    timeline: [],
    operatorEvents: [],
    continuedAsNew: 0,
  };
}
