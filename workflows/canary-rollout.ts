/**
 * The canary rollout: one workflow per rollout, following the seed's phases.
 *
 *   0. pre-flight: every configured metric query finds series for the stable version
 *   1. deploy the canary and check its health (an abort cancels either at once); with
 *      `judge.freshBaseline`, then a fresh baseline of the stable version beside it (baseline.ts)
 *   2. warm up at 0%, then hold each traffic phase (5%, 20%, then +20% up to 100%), analysing the
 *      canary against Prometheus and the stable baseline every `analysisInterval`
 *   3. finalize: the canary becomes the new stable
 *
 * Any time: a rollback trigger or an abort rolls back (rollback.ts), operators pause, resume or
 * promote (operator.ts), and history is cut with continue-as-new. The state lives in `Rollout`
 * (rollout.ts); this file is the order of things.
 */
import {
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  patched,
} from '@temporalio/workflow';
import { activitiesFor, type RolloutActivityProfiles } from './activity-options';
import { deployFreshBaseline, retireFreshBaseline } from './baseline';
import { ALERT_NAMES, type RolloutInput, type RolloutOutcome, type RolloutResult, type RolloutStartInput } from './contract';
import { failureReason, isHandledFailure } from './failures';
import { startFastGuard } from './fast-guard';
import { hold } from './hold';
import { canaryRolloutV1 } from './legacy/v1-canary-rollout';
import { alert, alertText } from './notify';
import { acceptEarlyOperatorActions, registerOperatorHandlers } from './operator';
import { finalize } from './promotion';
import { gradualRollback, immediateRollback } from './rollback';
import { isCarriedFromV1, Rollout } from './rollout';
import { resolveTargets } from './targets';
import { applyWeight, drainToStable } from './traffic';

/** Past this many history events the workflow continues as new even if the server has not asked. */
const DEFAULT_MAX_HISTORY_EVENTS = 10_000;

/** The patch that introduced this implementation; runs recorded without it replay on v1. */
export const SAFE_PATHS_PATCH = 'safe-paths-v2';

/**
 * Runs one canary rollout to a terminal outcome: `promoted`, `rolled_back`,
 * `aborted` or `failed`. Cancelling the workflow returns all traffic to stable first.
 */
export async function canaryRollout(start: RolloutStartInput): Promise<RolloutResult> {
  // Runs recorded before v2 all started from a spec.
  if (!patched(SAFE_PATHS_PATCH) || ('spec' in start && isCarriedFromV1(start))) return canaryRolloutV1(start as RolloutInput);

  const early = acceptEarlyOperatorActions();
  const resolved = await resolveTargets(start);
  if (!resolved.ok) {
    early.fail(resolved.result.reason);
    return resolved.result;
  }
  const input = resolved.input;
  const r = Rollout.fromInput(input, resolved.targets);
  const acts = activitiesFor(input.spec);
  registerOperatorHandlers(r);
  early.bind(r);
  r.publish();
  // Beside the analysis while the canary carries traffic; rollbacks and the rollout's end stop it.
  const guard = startFastGuard(r, acts);
  try {
    if (!r.data.deployed && !r.rollback) {
      // Nothing has been touched yet: a rollout that cannot be judged ends here.
      const unjudgeable = await preflight(r, acts);
      if (unjudgeable) return await finish(r, acts, 'failed', unjudgeable);
      // An abort during pre-flight means nothing gets deployed. Rollouts recorded before the
      // catalog (no targets) deployed regardless, and must replay as they ran.
      if (!(r.rollback && r.data.targets)) await deployAndCheckHealth(r, acts);
    }
    while (!r.rollback && r.data.promoteRequested === null && r.data.step < r.plan.length) {
      const held = await holdStep(r, acts, input.limits?.maxHistoryEvents ?? DEFAULT_MAX_HISTORY_EVENTS);
      if (held === 'continue_as_new') {
        guard?.stop();
        await condition(allHandlersFinished);
        log.info('continuing as new');
        return await continueAsNew<typeof canaryRollout>({ spec: r.spec, limits: input.limits, carried: r.carry() });
      }
    }
    if (!r.rollback) {
      const promoted = await finalize(r, acts, r.data.promoteRequested ?? 'plan complete');
      if (promoted.outcome === 'promoted') return await finish(r, acts, 'promoted', promoted.reason);
      if (promoted.outcome === 'failed') return await finish(r, acts, 'failed', promoted.reason);
    }
    return await rollBack(r, acts);
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(async () => {
        r.startRollback('immediate_rollback', 'workflow cancelled', 'aborted');
        await restoreStable(r, acts, 'workflow cancelled');
        await finish(r, acts, 'aborted', 'workflow cancelled');
      });
      throw err;
    }
    if (!isHandledFailure(err)) throw err;
    const reason = failureReason(err);
    log.error('rollout failed', { reason, err });
    if (r.data.promotionStarted) {
      return await finish(r, acts, 'failed', `${reason}; promotion had started, traffic left where it is (${r.weight}% canary)`);
    }
    const undone = await CancellationScope.nonCancellable(() => restoreStable(r, acts, reason));
    return await finish(r, acts, 'failed', undone ? `${reason}; ${undone}` : reason);
  }
}

/**
 * Every configured query must find series for the stable version before anything moves: a
 * metric that is not exported, or labelled otherwise, would be "no data" for the whole rollout.
 * Returns why the rollout cannot be judged, or '' when it can.
 */
async function preflight(r: Rollout, acts: RolloutActivityProfiles): Promise<string> {
  let problems;
  try {
    problems = await acts.preflight.preflightMetrics(r.ref);
  } catch (err) {
    if (isCancellation(err)) throw err;
    return `pre-flight: metrics could not be checked (${failureReason(err)})`;
  }
  for (const p of problems.filter((x) => x.optional)) {
    log.warn('optional metric has no series', { metric: p.metric, query: p.query, detail: p.detail });
  }
  const fatal = problems.filter((p) => !p.optional);
  if (fatal.length === 0) return '';
  const list = fatal.map((p) => `${p.metric} (${p.status}: ${p.detail}; query: ${p.query})`).join('; ');
  log.error('pre-flight failed', { problems: fatal });
  return `pre-flight: no data for stable ${r.spec.stable.version} from ${list}`;
}

/** Phase 0: deploy and health-check the canary; an abort cancels whichever is running. */
async function deployAndCheckHealth(r: Rollout, acts: RolloutActivityProfiles): Promise<void> {
  const scope = new CancellationScope();
  r.interrupt = () => scope.cancel();
  try {
    await scope.run(async () => {
      await acts.platform.deployCanary(r.ref);
      const health = await acts.platform.checkCanaryHealth(r.ref);
      if (!health.healthy) {
        throw ApplicationFailure.create({ type: 'CanaryUnhealthy', message: `canary unhealthy: ${health.detail}` });
      }
      log.info('canary deployed', { version: r.spec.canary.version, health: health.detail });
      // judge.freshBaseline: the stable version's fresh instance, healthy before either gets traffic.
      await deployFreshBaseline(r, acts);
    });
  } catch (err) {
    // An abort cancelled the deploy or health check: the rollback that follows cleans up.
    if (!(r.rollback && isCancellation(err))) throw err;
    log.info('deploy interrupted by abort', { reason: r.rollback.reason });
    return;
  } finally {
    r.interrupt = () => undefined;
  }
  r.data.deployed = true;
  r.data.deployedAtMs = Date.now();
  r.setState(r.runningState());
}

/** Holds the current plan step (warm-up or a traffic phase) until it has run and its gate passes. */
async function holdStep(
  r: Rollout,
  acts: RolloutActivityProfiles,
  maxHistoryEvents: number,
): ReturnType<typeof hold> {
  const d = r.data;
  const step = r.currentStep();
  if (!step) return 'elapsed';
  if (!d.stepStarted) {
    await applyWeight(r, acts, step.weight, `phase ${step.name}`, step);
    d.stepStarted = true;
    r.startHold();
    d.nextAnalysisAtMs = step.weight > 0 ? Date.now() + r.spec.analysisIntervalMs : null;
    d.analysesInStep = 0;
    d.blocked = false;
    log.info('phase started', { phase: step.name, weight: step.weight, durationMs: step.durationMs });
    r.setState(r.runningState());
  }
  const end = await hold(r, acts, {
    durationMs: step.durationMs,
    gate: step.gate,
    gated: true,
    interrupted: () => r.rollback !== null || d.promoteRequested !== null,
    maxHistoryEvents,
  });
  if (end === 'elapsed') {
    log.info('phase passed', { phase: step.name, weight: step.weight });
    d.step += 1;
    d.stepStarted = false;
    d.segmentStartMs = null;
  }
  return end;
}

async function rollBack(r: Rollout, acts: RolloutActivityProfiles): Promise<RolloutResult> {
  const rollback = r.rollback;
  if (!rollback) throw new Error('rollBack called without a rollback');
  const end = rollback.action === 'gradual_rollback' ? await gradualRollback(r, acts) : await immediateRollback(r, acts);
  return finish(r, acts, r.rollback?.outcome ?? rollback.outcome, end.reason);
}

/**
 * After a failure or cancel: traffic back to stable, verified, and only then the canary goes.
 * Returns '' when done, or what could not be done.
 */
async function restoreStable(r: Rollout, acts: RolloutActivityProfiles, reason: string): Promise<string> {
  r.startRollback('immediate_rollback', reason, 'rolled_back');
  const drain = await drainToStable(r, acts, `restore stable: ${reason}`);
  let left = drain.drained ? '' : `traffic could not be moved (${drain.detail})`;
  try {
    await acts.platform.terminateCanary(r.ref);
  } catch (err) {
    log.error('could not terminate canary', { err });
    left = [left, `canary not terminated (${failureReason(err)})`].filter(Boolean).join('; ');
  }
  try {
    await retireFreshBaseline(r, acts);
  } catch (err) {
    log.error('could not terminate fresh baseline', { err });
    left = [left, `fresh baseline not terminated (${failureReason(err)})`].filter(Boolean).join('; ');
  }
  await alert(r, acts, 'critical', ALERT_NAMES.rolledBack, alertText(r, reason));
  return left;
}

async function finish(
  r: Rollout,
  acts: RolloutActivityProfiles,
  outcome: RolloutOutcome,
  reason: string,
): Promise<RolloutResult> {
  r.setState(outcome);
  try {
    const keep = outcome === 'promoted' ? [] : [ALERT_NAMES.rolledBack, ALERT_NAMES.promotionFailed];
    await acts.notify.resolveAlerts({ ...r.ref, keep });
  } catch (err) {
    log.warn('alerts not resolved', { err });
  }
  log.info('rollout finished', { outcome, reason, weight: r.weight });
  return {
    outcome,
    reason,
    finalWeight: r.weight,
    timeline: r.data.timeline,
    checks: r.data.checks,
    continuedAsNew: r.data.continuedAsNew,
    operatorEvents: r.data.operatorEvents,
  };
}
