/**
 * FROZEN: the first released rollout workflow, kept verbatim so that rollouts started before the
 * `safe-paths-v2` patch (and their recorded histories) replay on the code they ran. Do not change
 * its logic; new behaviour goes into workflows/canary-rollout.ts. Remove it once no such rollout
 * can still be running (then deprecate the patch).
 *
 * The canary rollout: one workflow per rollout. It deploys the canary, walks the plan of
 * `buildPlan`, analyses the canary every `analysisIntervalMs` while it carries traffic, rolls back
 * on its own, and obeys operator signals. All state lives in one plain object so that
 * continue-as-new can carry it whole.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  metricMeter,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { AlertSeverity, RolloutActivities, RolloutContext } from '../../activities/types';
import type { RolloutSpec } from '../../rollout-spec/types';
import { buildRules, evaluate, queriesFor } from './v1-analysis';
import {
  abortSignal,
  pauseSignal,
  phaseSearchAttribute,
  promoteSignal,
  resumeSignal,
  serviceSearchAttribute,
  stateSearchAttribute,
  statusQuery,
  weightSearchAttribute,
  type CheckStatus,
  type OperatorInput,
  type RolloutInput,
  type RolloutOutcome,
  type RolloutResult,
  type RolloutState,
  type RolloutStatus,
  type WeightChange,
} from '../contract';
import { buildPlan, type PlanStep } from '../plan';

/** Activity error types that retrying cannot fix (see activities/errors.ts). */
const NON_RETRYABLE = ['ConfigError', 'TrafficTargetNotFoundError'];

/** Past this many history events the workflow continues as new even if the server has not asked. */
const DEFAULT_MAX_HISTORY_EVENTS = 10_000;

/** The name of the alert that tells operators a rollout was rolled back; it outlives the rollout. */
const ROLLBACK_ALERT = 'CanaryRolledBack';

function activitiesFor(spec: RolloutSpec) {
  // Traffic moves must converge even if the load balancer is briefly unreachable, and fast:
  // a rollback waits on them.
  const traffic = proxyActivities<RolloutActivities>({
    startToCloseTimeout: '30s',
    scheduleToCloseTimeout: '10m',
    retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '5s', nonRetryableErrorTypes: NON_RETRYABLE },
  });
  const analysis = proxyActivities<RolloutActivities>({
    startToCloseTimeout: spec.metrics.queryTimeoutMs + 10_000,
    retry: { initialInterval: '500ms', maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE },
  });
  const platform = proxyActivities<RolloutActivities>({
    startToCloseTimeout: '15m',
    heartbeatTimeout: '30s',
    cancellationType: 'WAIT_CANCELLATION_COMPLETED',
    retry: { initialInterval: '2s', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
  });
  // Alerts are best effort: a down Alertmanager must not stop a rollback.
  const notify = proxyActivities<RolloutActivities>({
    startToCloseTimeout: '15s',
    retry: { initialInterval: '1s', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
  });
  return { traffic, analysis, platform, notify };
}

interface PendingSignal {
  kind: 'pause' | 'resume' | 'abort' | 'promote';
  reason: string;
}

interface RollbackState {
  action: 'immediate_rollback' | 'gradual_rollback';
  reason: string;
  outcome: 'rolled_back' | 'aborted';
  /** When the rollback was decided (ISO); the worker measures time to stable from it. */
  startedAt?: string;
}

/** Everything a rollout knows; plain JSON so continue-as-new carries it as is. */
interface Runtime {
  startedAt: string;
  state: RolloutState;
  deployed: boolean;
  paused: boolean;
  step: number;
  stepStarted: boolean;
  weight: number;
  /** Unpaused time spent in the current step before `segmentStartMs`. */
  phaseElapsedMs: number;
  /** Start of the current unpaused stretch of the step; null while paused. */
  segmentStartMs: number | null;
  nextAnalysisAtMs: number | null;
  analysesInStep: number;
  blocked: boolean;
  checks: CheckStatus[];
  noDataStreak: number;
  lastAnalysisAt: string | null;
  rollback: RollbackState | null;
  promoteRequested: string | null;
  timeline: WeightChange[];
  pending: PendingSignal[];
  continuedAsNew: number;
}

function freshRuntime(): Runtime {
  return {
    startedAt: new Date().toISOString(),
    state: 'deploying',
    deployed: false,
    paused: false,
    step: 0,
    stepStarted: false,
    weight: 0,
    phaseElapsedMs: 0,
    segmentStartMs: null,
    nextAnalysisAtMs: null,
    analysesInStep: 0,
    blocked: false,
    checks: [],
    noDataStreak: 0,
    lastAnalysisAt: null,
    rollback: null,
    promoteRequested: null,
    timeline: [],
    pending: [],
    continuedAsNew: 0,
  };
}

function reasonOf(input: OperatorInput | undefined, fallback: string): string {
  const reason = typeof input?.reason === 'string' && input.reason.trim() ? input.reason.trim() : fallback;
  return typeof input?.by === 'string' && input.by ? `${reason} (by ${input.by})` : reason;
}

/**
 * Runs one canary rollout of `input.spec` to a terminal outcome: `promoted`, `rolled_back`,
 * `aborted` or `failed`. Cancelling the workflow returns all traffic to stable first.
 */
export async function canaryRolloutV1(input: RolloutInput): Promise<RolloutResult> {
  const { spec } = input;
  const plan = buildPlan(spec);
  const acts = activitiesFor(spec);
  const rolloutId = workflowInfo().workflowId;
  const ref = { rolloutId, spec };
  const rt: Runtime = (input.carried as Runtime | undefined) ?? freshRuntime();
  const maxHistoryEvents = input.limits?.maxHistoryEvents ?? DEFAULT_MAX_HISTORY_EVENTS;
  const searchAttributesOn = workflowInfo().typedSearchAttributes.get(serviceSearchAttribute) !== undefined;
  let published = '';

  const now = (): number => Date.now();
  const iso = (): string => new Date().toISOString();
  const currentStep = (): PlanStep | undefined => plan[rt.step];
  const phaseName = (): string => {
    if (rt.rollback) return 'rollback';
    if (rt.state === 'deploying') return 'deploy';
    if (rt.state === 'finalizing' || rt.state === 'promoted') return 'finalize';
    return currentStep()?.name ?? 'finalize';
  };
  const activeElapsedMs = (): number =>
    rt.phaseElapsedMs + (rt.segmentStartMs !== null && !rt.paused ? now() - rt.segmentStartMs : 0);

  const status = (): RolloutStatus => {
    const step = currentStep();
    const inStep = step !== undefined && rt.stepStarted && !rt.rollback && rt.state !== 'finalizing';
    return {
      rolloutId,
      service: spec.service,
      stableVersion: spec.stable.version,
      canaryVersion: spec.canary.version,
      state: rt.state,
      paused: rt.paused,
      phase: phaseName(),
      step: rt.step,
      weight: rt.weight,
      phaseDurationMs: inStep ? step.durationMs : 0,
      phaseRemainingMs: inStep ? Math.max(0, step.durationMs - activeElapsedMs()) : 0,
      checks: rt.checks,
      lastAnalysisAt: rt.lastAnalysisAt,
      rollbackReason: rt.rollback?.reason ?? null,
      rollbackAction: rt.rollback?.action ?? null,
      stuckReason: null,
      timeline: rt.timeline,
      operatorEvents: [],
      startedAt: rt.startedAt,
      continuedAsNew: rt.continuedAsNew,
      targets: null,
    };
  };

  /** Mirrors state, phase and weight into search attributes and the UI's current details. */
  const publish = (): void => {
    const phase = phaseName();
    const key = `${rt.state}|${phase}|${rt.weight}|${rt.paused}`;
    if (key === published) return;
    published = key;
    if (searchAttributesOn) {
      const pairs: SearchAttributeUpdatePair[] = [
        { key: stateSearchAttribute, value: rt.state },
        { key: phaseSearchAttribute, value: phase },
        { key: weightSearchAttribute, value: rt.weight },
      ];
      upsertSearchAttributes(pairs);
    }
    const reason = rt.rollback ? `\n\nRollback: ${rt.rollback.reason}` : '';
    setCurrentDetails(
      `**${spec.service}** ${spec.stable.version} → ${spec.canary.version}\n\n` +
        `State: ${rt.state}${rt.paused ? ' (paused)' : ''} · phase ${phase} · canary weight ${rt.weight}%${reason}`,
    );
  };

  const setState = (state: RolloutState): void => {
    rt.state = state;
    publish();
  };

  setHandler(pauseSignal, (i) => void rt.pending.push({ kind: 'pause', reason: reasonOf(i, 'paused by operator') }));
  setHandler(resumeSignal, (i) => void rt.pending.push({ kind: 'resume', reason: reasonOf(i, 'resumed by operator') }));
  setHandler(abortSignal, (i) => void rt.pending.push({ kind: 'abort', reason: reasonOf(i, 'aborted by operator') }));
  setHandler(promoteSignal, (i) => void rt.pending.push({ kind: 'promote', reason: reasonOf(i, 'promoted by operator') }));
  setHandler(statusQuery, status);

  const alert = async (severity: AlertSeverity, name: string, reason: string): Promise<void> => {
    try {
      await acts.notify.sendAlert({ ...ref, severity, name, reason });
    } catch (err) {
      log.warn('alert not delivered', { name, err });
    }
  };

  /** `startingStep`: the step whose weight is being set right now, before its clock starts. */
  const context = (startingStep?: PlanStep): RolloutContext => {
    const step = currentStep();
    const holding = step !== undefined && rt.stepStarted && !rt.paused && !rt.rollback;
    const remainingMs = startingStep
      ? rt.paused
        ? null
        : startingStep.durationMs
      : holding
        ? Math.max(0, step.durationMs - activeElapsedMs())
        : null;
    return {
      phase: phaseName(),
      phaseEndsAt: remainingMs === null ? null : new Date(now() + remainingMs).toISOString(),
      rollbackStartedAt: rt.rollback?.startedAt ?? null,
      rollbackAction: rt.rollback?.action ?? null,
    };
  };

  const setWeight = async (weight: number, reason: string, startingStep?: PlanStep): Promise<void> => {
    const input = { ...ref, weight, context: context(startingStep) };
    const { weight: applied } = await acts.traffic.setCanaryWeight(input);
    rt.weight = applied;
    rt.timeline.push({ at: iso(), weight: applied, phase: phaseName(), reason });
    log.info('canary weight set', { weight: applied, phase: phaseName(), reason });
    publish();
  };

  const startRollback = (rollback: RollbackState): void => {
    if (rt.rollback?.action === 'immediate_rollback') return;
    if (rt.rollback && rollback.action === 'gradual_rollback') return;
    rt.rollback = {
      ...rollback,
      outcome: rt.rollback?.outcome === 'aborted' ? 'aborted' : rollback.outcome,
      startedAt: rt.rollback?.startedAt ?? iso(),
    };
    rt.paused = false;
    log.warn('rollback started', { action: rollback.action, reason: rollback.reason, weight: rt.weight });
    setState('rolling_back');
  };

  const pause = (reason: string): void => {
    if (rt.paused || rt.rollback) return;
    if (rt.segmentStartMs !== null) rt.phaseElapsedMs += now() - rt.segmentStartMs;
    rt.segmentStartMs = null;
    rt.paused = true;
    log.info('rollout paused', { reason, phase: phaseName(), weight: rt.weight });
    setState('paused');
  };

  const runningState = (): RolloutState => (!rt.deployed ? 'deploying' : rt.step === 0 ? 'warming_up' : 'progressing');

  /** Applies queued operator signals in arrival order. */
  const applySignals = (): void => {
    for (const signal of rt.pending.splice(0)) {
      switch (signal.kind) {
        case 'pause':
          pause(signal.reason);
          break;
        case 'resume':
          if (!rt.paused || rt.rollback) break;
          rt.paused = false;
          if (rt.stepStarted) rt.segmentStartMs = now();
          log.info('rollout resumed', { reason: signal.reason, phase: phaseName() });
          setState(runningState());
          break;
        case 'abort':
          startRollback({ action: 'immediate_rollback', reason: signal.reason, outcome: 'aborted' });
          break;
        case 'promote':
          if (rt.rollback) {
            log.warn('promote ignored during rollback', { reason: signal.reason });
            break;
          }
          rt.promoteRequested = signal.reason;
          break;
      }
    }
  };

  // Replay-safe (the SDK drops it while replaying); exported on the worker's SDK metrics endpoint.
  const analysisChecks = metricMeter.createCounter(
    'phoenix_analysis_checks',
    'checks',
    'Analysis checks judged, by check and outcome',
  );

  /** One analysis: query, judge, act on the decision. */
  const analyse = async (gate: PlanStep['gate']): Promise<void> => {
    const rules = buildRules(spec, gate, rt.weight);
    const samples = await acts.analysis.queryMetrics({ ...ref, queries: queriesFor(rules), context: context() });
    const at = iso();
    const result = evaluate(spec, rules, samples, rt.checks, rt.noDataStreak, at);
    for (const c of result.checks) {
      analysisChecks.add(1, { service: spec.service, metric: c.metric, check: c.check, outcome: c.outcome });
    }
    rt.checks = result.checks;
    rt.noDataStreak = result.noDataStreak;
    rt.blocked = result.blocked;
    rt.lastAnalysisAt = at;
    rt.analysesInStep += 1;
    log.info('analysis', {
      phase: phaseName(),
      weight: rt.weight,
      decision: result.decision.action,
      blocked: result.blocked,
      checks: result.checks.map((c) => ({ check: c.check, value: c.value, threshold: c.threshold, outcome: c.outcome })),
    });
    await Promise.all(
      result.newWarnings.map((c) =>
        alert('warning', `Canary_${c.check.replace(/[^A-Za-z0-9_]/g, '_')}`, `${c.check}: ${c.value} ${c.comparator} ${c.threshold}`),
      ),
    );
    const decision = result.decision;
    switch (decision.action) {
      case 'immediate_rollback':
      case 'gradual_rollback':
        startRollback({ action: decision.action, reason: decision.reason, outcome: 'rolled_back' });
        break;
      case 'no_data_limit':
        if (spec.noData.action === 'rollback') {
          startRollback({ action: 'immediate_rollback', reason: decision.reason, outcome: 'rolled_back' });
        } else if (spec.noData.action === 'pause' && !rt.paused && !rt.rollback) {
          pause(`paused: ${decision.reason}`);
          await alert('critical', 'CanaryAnalysisNoData', `${decision.reason}; rollout paused until an operator acts`);
        } else if (rt.noDataStreak % spec.noData.consecutiveLimit === 0) {
          await alert('warning', 'CanaryAnalysisNoData', `${decision.reason}; rollout holding`);
        }
        break;
      case 'continue':
        break;
    }
  };

  const scheduleNextAnalysis = (): void => {
    const interval = spec.analysisIntervalMs;
    const next = (rt.nextAnalysisAtMs ?? now()) + interval;
    rt.nextAnalysisAtMs = next > now() ? next : now() + interval;
  };

  const historyTooLong = (): boolean => {
    const info = workflowInfo();
    return info.continueAsNewSuggested || info.historyLength >= maxHistoryEvents;
  };

  /**
   * Holds the current step until its unpaused time has run and its gate passes. Returns early
   * when a rollback or promotion starts, or when history should be cut with continue-as-new.
   */
  const holdStep = async (): Promise<'done' | 'interrupted' | 'continue_as_new'> => {
    const step = currentStep();
    if (!step) return 'done';
    if (!rt.stepStarted) {
      await setWeight(step.weight, `phase ${step.name}`, step);
      rt.stepStarted = true;
      rt.phaseElapsedMs = 0;
      rt.segmentStartMs = rt.paused ? null : now();
      rt.nextAnalysisAtMs = step.weight > 0 ? now() + spec.analysisIntervalMs : null;
      rt.analysesInStep = 0;
      rt.blocked = false;
      log.info('phase started', { phase: step.name, weight: step.weight, durationMs: step.durationMs });
    }
    for (;;) {
      applySignals();
      if (rt.rollback || rt.promoteRequested !== null) return 'interrupted';
      if (historyTooLong()) return 'continue_as_new';
      if (rt.nextAnalysisAtMs !== null && now() >= rt.nextAnalysisAtMs) {
        await analyse(step.gate);
        scheduleNextAnalysis();
        continue;
      }
      const elapsed = activeElapsedMs();
      if (!rt.paused && elapsed >= step.durationMs) {
        if (step.weight > 0 && rt.analysesInStep === 0) {
          // A step shorter than the analysis interval still gets judged once before it passes.
          rt.nextAnalysisAtMs = now();
          continue;
        }
        if (!rt.blocked) {
          rt.phaseElapsedMs = elapsed;
          log.info('phase passed', { phase: step.name, weight: step.weight });
          rt.step += 1;
          rt.stepStarted = false;
          rt.segmentStartMs = null;
          return 'done';
        }
      }
      const wakes: number[] = [];
      if (rt.nextAnalysisAtMs !== null) wakes.push(rt.nextAnalysisAtMs);
      if (!rt.paused && elapsed < step.durationMs) wakes.push(now() + (step.durationMs - elapsed));
      if (wakes.length === 0) {
        await condition(() => rt.pending.length > 0);
      } else {
        await condition(() => rt.pending.length > 0, Math.max(1, Math.min(...wakes) - now()));
      }
    }
  };

  /** Drops the weight at once, or steps it down while still analysing; then retires the canary. */
  const rollBack = async (): Promise<void> => {
    const alertText = (): string => `${spec.service} ${spec.canary.version}: ${rt.rollback?.reason ?? ''}`;
    if (rt.rollback?.action === 'gradual_rollback') {
      await alert('critical', ROLLBACK_ALERT, alertText());
    }
    while (rt.weight > 0 && rt.rollback?.action === 'gradual_rollback') {
      const target = Math.max(0, rt.weight - spec.gradualRollback.stepSize);
      await setWeight(target, `gradual rollback: ${rt.rollback.reason}`);
      if (target === 0) break;
      const stepEndsAt = now() + spec.gradualRollback.intervalMs;
      rt.nextAnalysisAtMs = now() + spec.analysisIntervalMs;
      while (now() < stepEndsAt && rt.rollback.action === 'gradual_rollback') {
        applySignals();
        if (rt.rollback.action !== 'gradual_rollback') break;
        if (rt.nextAnalysisAtMs !== null && now() >= rt.nextAnalysisAtMs) {
          await analyse(null);
          scheduleNextAnalysis();
          continue;
        }
        const wake = Math.min(stepEndsAt, rt.nextAnalysisAtMs ?? stepEndsAt);
        await condition(() => rt.pending.length > 0, Math.max(1, wake - now()));
      }
    }
    if (rt.rollback?.action === 'immediate_rollback') {
      // Traffic first: every millisecond before this is user traffic on a bad canary.
      if (rt.weight > 0 || rt.timeline.length === 0) await setWeight(0, `immediate rollback: ${rt.rollback.reason}`);
      await Promise.all([acts.platform.terminateCanary(ref), alert('critical', ROLLBACK_ALERT, alertText())]);
    } else {
      await acts.platform.terminateCanary(ref);
    }
    log.info('canary terminated', { reason: rt.rollback?.reason });
  };

  const finalize = async (reason: string): Promise<void> => {
    setState('finalizing');
    if (rt.weight < 100) await setWeight(100, reason);
    await acts.platform.promoteCanary(ref);
    await setWeight(0, `promoted: stable now runs ${spec.canary.version}`);
    await acts.platform.terminateCanary(ref);
    log.info('canary promoted', { version: spec.canary.version, reason });
  };

  const finish = async (outcome: RolloutOutcome, reason: string): Promise<RolloutResult> => {
    rt.state = outcome;
    publish();
    try {
      await acts.notify.resolveAlerts({ ...ref, keep: outcome === 'promoted' ? [] : [ROLLBACK_ALERT] });
    } catch (err) {
      log.warn('alerts not resolved', { err });
    }
    log.info('rollout finished', { outcome, reason, weight: rt.weight });
    return {
      outcome,
      reason,
      finalWeight: rt.weight,
      timeline: rt.timeline,
      checks: rt.checks,
      continuedAsNew: rt.continuedAsNew,
    };
  };

  publish();
  try {
    if (!rt.deployed) {
      applySignals();
      if (!rt.rollback) {
        await acts.platform.deployCanary(ref);
        const health = await acts.platform.checkCanaryHealth(ref);
        if (!health.healthy) {
          throw ApplicationFailure.create({ type: 'CanaryUnhealthy', message: `canary unhealthy: ${health.detail}` });
        }
        rt.deployed = true;
        log.info('canary deployed', { version: spec.canary.version, health: health.detail });
        if (!rt.paused) setState('warming_up');
      }
    }
    for (;;) {
      if (!rt.rollback && rt.promoteRequested === null) {
        if (rt.step >= plan.length) {
          await finalize('plan complete');
          return await finish('promoted', 'all phases passed');
        }
        if (!rt.paused) setState(runningState());
        const held = await holdStep();
        if (held === 'continue_as_new') {
          await condition(allHandlersFinished);
          applySignals();
          log.info('continuing as new', { historyLength: workflowInfo().historyLength });
          return await continueAsNew<typeof canaryRolloutV1>({
            spec,
            limits: input.limits,
            carried: { ...rt, continuedAsNew: rt.continuedAsNew + 1 },
          });
        }
        continue;
      }
      if (rt.rollback) {
        await rollBack();
        return await finish(rt.rollback.outcome, rt.rollback.reason);
      }
      const reason = rt.promoteRequested ?? 'promoted by operator';
      await finalize(reason);
      return await finish('promoted', reason);
    }
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(async () => {
        log.warn('rollout cancelled: returning traffic to stable', { weight: rt.weight });
        rt.rollback = { action: 'immediate_rollback', reason: 'workflow cancelled', outcome: 'aborted', startedAt: iso() };
        await restoreStable('workflow cancelled');
        await finish('aborted', 'workflow cancelled');
      });
      throw err;
    }
    if (!(err instanceof ActivityFailure) && !(err instanceof ApplicationFailure)) throw err;
    const reason = failureReason(err);
    log.error('rollout failed: returning traffic to stable', { reason, err });
    await CancellationScope.nonCancellable(() => restoreStable(reason));
    return await finish('failed', reason);
  }

  /** Best effort after a failure or cancel: every step is tried even if one before it failed. */
  async function restoreStable(reason: string): Promise<void> {
    // Recorded as an immediate rollback so status and the worker's metrics say why traffic moved.
    rt.rollback ??= { action: 'immediate_rollback', reason, outcome: 'aborted', startedAt: iso() };
    try {
      await setWeight(0, `restore stable: ${reason}`);
    } catch (err) {
      log.error('could not restore traffic to stable', { err });
    }
    try {
      await acts.platform.terminateCanary(ref);
    } catch (err) {
      log.error('could not terminate canary', { err });
    }
    await alert('critical', ROLLBACK_ALERT, `${spec.service} ${spec.canary.version}: ${reason}`);
  }
}

function failureReason(err: ActivityFailure | ApplicationFailure): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  const what = err instanceof ActivityFailure ? `${err.activityType} failed: ` : '';
  return `${what}${cause?.message ?? err.message}`;
}
