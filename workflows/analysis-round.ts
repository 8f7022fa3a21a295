/**
 * One analysis round: query every check's metric and read the router back in one activity, judge
 * the samples with the pure rules of analysis.ts, re-apply drifted weights, and act on the
 * decision. A failed or hung analysis is no data, never a failed rollout.
 */
import { isCancellation, log, metricMeter, patched } from '@temporalio/workflow';
import type { AnalyseCanaryResult } from '../activities/types';
import type { RolloutActivityProfiles } from './activity-options';
import { buildRules, evaluate, queriesFor } from './analysis';
import { ALERT_NAMES } from './contract';
import { failureReason } from './failures';
import { judgeRound } from './judge';
import { alert } from './notify';
import type { StepGate } from './plan';
import type { Rollout } from './rollout';
import { reconcileTraffic } from './traffic';

/** Analysis rounds run as local activities from here on; runs recorded before replay on the activity. */
export const LOCAL_ANALYSIS_PATCH = 'local-analysis-v1';

export async function runAnalysis(r: Rollout, acts: RolloutActivityProfiles, gate: StepGate | null): Promise<void> {
  const { spec } = r;
  const d = r.data;
  const sinceDeployMs = d.deployedAtMs === undefined || d.deployedAtMs === null ? undefined : Date.now() - d.deployedAtMs;
  const rules = buildRules(spec, gate, d.weight, sinceDeployMs);
  let round: AnalyseCanaryResult;
  try {
    const analyse = patched(LOCAL_ANALYSIS_PATCH) ? acts.localAnalysis : acts.analysis;
    round = await analyse.analyseCanary({
      ...r.ref,
      queries: queriesFor(rules),
      expectedWeight: d.weight,
      context: r.context(),
    });
  } catch (err) {
    if (isCancellation(err)) throw err;
    const why = failureReason(err);
    log.warn('analysis failed: judged as no data', { reason: why });
    round = {
      samples: queriesFor(rules).map((q) => ({ ...q, status: 'error', detail: `analysis failed: ${why}` })),
      traffic: { canaryWeight: null, drifted: false, detail: why },
    };
  }
  const at = new Date().toISOString();
  const result = evaluate(spec, rules, round.samples, d.checks, d.noDataStreak, at);
  // Replay-safe (the SDK drops it while replaying); exported on the worker's SDK metrics endpoint.
  const analysisChecks = metricMeter.createCounter('phoenix_analysis_checks', 'checks', 'Analysis checks judged, by check and outcome');
  for (const c of result.checks) {
    analysisChecks.add(1, { service: spec.service, metric: c.metric, check: c.check, outcome: c.outcome });
  }
  d.checks = result.checks;
  d.noDataStreak = result.noDataStreak;
  d.blocked = result.blocked;
  d.lastAnalysisAt = at;
  d.analysesInStep += 1;
  log.info('analysis', {
    phase: r.phaseName(),
    weight: d.weight,
    decision: result.decision.action,
    blocked: result.blocked,
    checks: result.checks.map((c) => ({ check: c.check, value: c.value, threshold: c.threshold, outcome: c.outcome })),
  });

  await reconcileTraffic(r, acts, round.traffic);
  await Promise.all(
    result.newWarnings.map((c) =>
      alert(r, acts, 'warning', `Canary_${c.check.replace(/[^A-Za-z0-9_]/g, '_')}`, `${c.check}: ${c.value} ${c.comparator} ${c.threshold}`),
    ),
  );

  const decision = result.decision;
  switch (decision.action) {
    case 'immediate_rollback':
    case 'gradual_rollback':
      r.startRollback(decision.action, decision.reason, 'rolled_back');
      break;
    case 'no_data_limit':
      if (spec.noData.action === 'rollback') {
        r.startRollback('immediate_rollback', decision.reason, 'rolled_back');
      } else if (spec.noData.action === 'pause' && !d.paused && !d.rollback) {
        r.pause(`paused: ${decision.reason}`);
        await alert(r, acts, 'critical', ALERT_NAMES.noData, `${decision.reason}; rollout paused until an operator acts`);
      } else if (d.noDataStreak % spec.noData.consecutiveLimit === 0) {
        await alert(r, acts, 'warning', ALERT_NAMES.noData, `${decision.reason}; rollout holding`);
      }
      break;
    case 'continue':
      break;
  }
  await judgeRound(r, acts, gate);
}

/** The next analysis time: on the spec's cadence, never in the past. */
export function scheduleNextAnalysis(r: Rollout): void {
  const now = Date.now();
  const interval = r.spec.analysisIntervalMs;
  const next = (r.data.nextAnalysisAtMs ?? now) + interval;
  r.data.nextAnalysisAtMs = next > now ? next : now + interval;
}
