/**
 * The statistical judge's part of a rollout (issue 11): when a judgement is due, what its verdict
 * does, and the hold it puts on the phase. It runs inside an analysis round, after the threshold
 * checks, so it never replaces them: a trigger still rolls back on its own.
 *
 *   pass      the phase may advance (as far as the judge is concerned)
 *   marginal  the phase holds until a judgement passes; a warning alert when it turns marginal
 *   fail      rollback with `judge.onFail`, the failing metrics in the reason
 *   nodata    never a pass (the phase holds); after `noData.consecutiveLimit` in a row, the spec's
 *             no-data action, as for the threshold checks (rollback, pause or hold)
 *
 * It judges every `judge.interval` while the canary shares traffic with the baseline (0 < weight
 * < 100; at 100% the baseline has no traffic to compare with), and always in the last analysis
 * round before a plan step may end, so no phase advances on an old judgement. Specs without a
 * judge never get here, so their rollouts issue exactly the commands they did before.
 */
import { isCancellation, log, metricMeter } from '@temporalio/workflow';
import type { JudgeResult, JudgeStatus, JudgeVerdict } from '../activities/judge/types';
import type { JudgeSettings } from '../rollout-spec/types';
import type { RolloutActivityProfiles } from './activity-options';
import { ALERT_NAMES } from './contract';
import { failureReason } from './failures';
import { alert } from './notify';
import type { StepGate } from './plan';
import type { Rollout } from './rollout';

/** Judgements kept in `status.judge.history`. */
export const MAX_JUDGE_HISTORY = 50;

/** What the rollout remembers of its judge; plain JSON, carried by continue-as-new. */
export interface JudgeState {
  /** The latest judgement, with the history of scores. */
  status: JudgeStatus | null;
  /** When the next interval judgement is due (workflow time, ms); null until the canary has traffic. */
  nextAtMs: number | null;
  /** The plan step the latest judgement was made near the end of: it may advance on it. */
  judgedStep: number | null;
  /** Judgements in a row that had no data. */
  noDataStreak: number;
}

/**
 * The judge's share of one analysis round: judges if due, acts on the verdict, and blocks the
 * phase while the latest judgement is marginal or had no data. A no-op without `spec.judge`.
 */
export async function judgeRound(r: Rollout, acts: RolloutActivityProfiles, gate: StepGate | null): Promise<void> {
  const settings = r.spec.judge;
  if (!settings) return;
  const state = (r.data.judge ??= { status: null, nextAtMs: null, judgedStep: null, noDataStreak: 0 });
  const why = due(r, settings, state, gate);
  if (why) await judge(r, acts, settings, state, why);
  if (holds(state)) r.data.blocked = true;
}

/** Why a judgement is due in this round, or null. */
function due(r: Rollout, settings: JudgeSettings, state: JudgeState, gate: StepGate | null): 'interval' | 'before_advance' | null {
  const d = r.data;
  // Only a plan step is judged: a gradual rollback's steps have no gate, and nothing to decide.
  if (gate === null || r.rollback || d.weight <= 0 || d.weight >= 100) return null;
  if (endingSoon(r) && state.judgedStep !== d.step) return 'before_advance';
  const now = Date.now();
  if (state.nextAtMs === null) {
    // The first judgement waits one interval into the traffic: a window of samples needs time.
    state.nextAtMs = now + settings.intervalMs;
    return null;
  }
  // Judgements ride on the analysis rounds, which start a few ms after their tick: half a round of
  // slack keeps a 1m interval at every second round instead of every third.
  return now >= state.nextAtMs - r.spec.analysisIntervalMs / 2 ? 'interval' : null;
}

/** True when the current step may end before the next analysis round. */
function endingSoon(r: Rollout): boolean {
  const step = r.currentStep();
  if (!step || !r.data.stepStarted) return false;
  return step.durationMs - r.holdElapsedMs() <= r.spec.analysisIntervalMs;
}

/** The latest judgement keeps the phase from advancing. */
function holds(state: JudgeState): boolean {
  const verdict = state.status?.verdict;
  return verdict === 'marginal' || verdict === 'nodata';
}

async function judge(
  r: Rollout,
  acts: RolloutActivityProfiles,
  settings: JudgeSettings,
  state: JudgeState,
  why: 'interval' | 'before_advance',
): Promise<void> {
  const d = r.data;
  const now = Date.now();
  const sinceDeployMs = d.deployedAtMs === undefined || d.deployedAtMs === null ? settings.windowMs : now - d.deployedAtMs;
  // As for the checks: never reach back before this canary was deployed (an earlier canary of the
  // same version has the same labels).
  const windowMs = Math.max(1000, Math.min(settings.windowMs, Math.floor(sinceDeployMs / 1000) * 1000));
  let judged: JudgeResult['status'];
  let durationMs: number | null = null;
  try {
    const result = await acts.judge.judgeCanary({ ...r.ref, windowMs, context: r.context() });
    judged = result.status;
    durationMs = result.durationMs;
  } catch (err) {
    if (isCancellation(err)) throw err;
    const reason = `judge failed: ${failureReason(err)}`;
    log.warn('judge failed: judged as no data', { reason });
    judged = noDataJudgement(settings, reason);
  }
  const at = new Date(now).toISOString();
  const previous = state.status;
  const history = [...(previous?.history ?? []), { at, score: judged.score, verdict: judged.verdict }].slice(-MAX_JUDGE_HISTORY);
  state.status = { ...judged, at, history };
  state.nextAtMs = now + settings.intervalMs;
  if (endingSoon(r)) state.judgedStep = d.step;
  metricMeter
    .createCounter('phoenix_judge_verdicts', 'judgements', 'Statistical judgements, by verdict')
    .add(1, { service: r.spec.service, verdict: judged.verdict });
  log.info('judgement', {
    why,
    phase: r.phaseName(),
    weight: d.weight,
    windowMs,
    durationMs,
    score: judged.score,
    verdict: judged.verdict,
    metrics: judged.metrics.map((m) => ({ metric: m.metric, classification: m.classification, pValue: m.pValue, effectSize: m.effectSize })),
  });
  await act(r, acts, settings, state, previous?.verdict ?? null);
}

async function act(
  r: Rollout,
  acts: RolloutActivityProfiles,
  settings: JudgeSettings,
  state: JudgeState,
  previous: JudgeVerdict | null,
): Promise<void> {
  const status = state.status;
  if (!status) return;
  const spec = r.spec;
  const d = r.data;
  state.noDataStreak = status.verdict === 'nodata' ? state.noDataStreak + 1 : 0;
  switch (status.verdict) {
    case 'pass':
      return;
    case 'marginal':
      if (previous !== 'marginal') {
        await alert(r, acts, 'warning', ALERT_NAMES.judgeMarginal, `${summary(status)}; phase ${r.phaseName()} holds until a judgement passes`);
      }
      return;
    case 'fail':
      r.startRollback(settings.onFail, `judge: ${summary(status)}`, 'rolled_back');
      return;
    case 'nodata': {
      const limit = spec.noData.consecutiveLimit;
      if (state.noDataStreak < limit) return;
      const reason = `judge: no data in ${state.noDataStreak} judgements in a row (${reasons(status, ['nodata'])})`;
      if (spec.noData.action === 'rollback') {
        r.startRollback('immediate_rollback', reason, 'rolled_back');
      } else if (spec.noData.action === 'pause' && !d.paused && !d.rollback) {
        r.pause(`paused: ${reason}`);
        await alert(r, acts, 'critical', ALERT_NAMES.noData, `${reason}; rollout paused until an operator acts`);
      } else if (spec.noData.action === 'hold' && state.noDataStreak % limit === 0) {
        await alert(r, acts, 'warning', ALERT_NAMES.noData, `${reason}; rollout holding`);
      }
      return;
    }
  }
}

/** One line: the score against the thresholds, then the metrics that did not pass. */
export function summary(status: Pick<JudgeStatus, 'score' | 'verdict' | 'passThreshold' | 'marginalThreshold' | 'metrics'>): string {
  const where =
    status.verdict === 'pass'
      ? `≥ pass ${status.passThreshold}`
      : status.verdict === 'marginal'
        ? `< pass ${status.passThreshold}, ≥ marginal ${status.marginalThreshold}`
        : status.verdict === 'fail'
          ? `< marginal ${status.marginalThreshold}`
          : 'no data';
  const failing = reasons(status, ['high', 'low', 'nodata']);
  return `score ${round(status.score)} (${status.verdict}: ${where})${failing ? `: ${failing}` : ''}`;
}

function reasons(status: Pick<JudgeStatus, 'metrics'>, classes: readonly string[]): string {
  return status.metrics
    .filter((m) => classes.includes(m.classification))
    .map((m) => `${m.metric}${m.critical ? ' (critical)' : ''} ${m.classification}: ${m.reason}`)
    .join('; ');
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

/** A judgement that could not be made: every metric is no data, with why. */
function noDataJudgement(settings: JudgeSettings, reason: string): JudgeResult['status'] {
  return {
    at: new Date().toISOString(),
    score: 0,
    verdict: 'nodata',
    passThreshold: settings.passThreshold,
    marginalThreshold: settings.marginalThreshold,
    metrics: settings.metrics.map((m) => ({
      metric: m.metric,
      group: m.group,
      critical: m.critical,
      weight: m.weight,
      classification: 'nodata',
      pValue: null,
      effectSize: null,
      canarySamples: 0,
      baselineSamples: 0,
      reason,
    })),
  };
}
