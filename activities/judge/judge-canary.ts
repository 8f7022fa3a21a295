/**
 * One judgement of the canary against the baseline: fetch both sides' samples of every judged
 * metric over the window (samples.ts), classify each metric (classify.ts) and score them
 * (score.ts). What the `judgeCanary` activity calls; the workflow keeps the history.
 */
import type { Logger } from 'pino';
import type { RolloutSpec } from '../../rollout-spec/types';
import { classifyMetric } from './classify';
import type { RangeOutcome } from './range-query';
import { fetchSamples, planWindow, type FetchedMetric, type SampleWindow } from './samples';
import { scoreMetrics } from './score';
import type { JudgeConfig, JudgeMetricStatus, JudgeResult } from './types';

/** Default limit of a whole judgement's queries (ms). */
export const DEFAULT_JUDGE_TIMEOUT_MS = 30_000;

/** What a judgement needs from its caller. */
export interface JudgeDeps {
  fetch: typeof fetch;
  /** The activity's cancellation: rethrown. */
  signal?: AbortSignal;
  /** Clock (epoch ms); the window ends here, aligned down to the step. */
  now?: () => number;
  /** Limit of all queries together (ms); an unanswered query makes its metric NoData. */
  timeoutMs?: number;
  logger?: Logger;
}

/** Judges the canary of `spec` with `config`; never throws on data or Prometheus problems. */
export async function judgeCanary(spec: RolloutSpec, config: JudgeConfig, deps: JudgeDeps): Promise<JudgeResult> {
  const started = performance.now();
  const now = deps.now ?? Date.now;
  const window = planWindow(config, now());
  const timeoutMs = deps.timeoutMs ?? DEFAULT_JUDGE_TIMEOUT_MS;
  const fetched = await fetchSamples({
    spec,
    config,
    window,
    fetch: deps.fetch,
    deadline: { signal: AbortSignal.timeout(timeoutMs), detail: `no answer within the judgement's ${timeoutMs} ms` },
    ...(deps.signal ? { signal: deps.signal } : {}),
  });
  const metrics = fetched.map((f) => judgeMetric(f, config, window));
  const score = scoreMetrics(metrics, config);
  const durationMs = Math.round((performance.now() - started) * 10) / 10;
  deps.logger?.debug({ ...window, durationMs, score: score.score, verdict: score.verdict }, 'canary judged');
  return {
    status: {
      at: new Date(now()).toISOString(),
      score: score.score,
      verdict: score.verdict,
      passThreshold: config.passThreshold,
      marginalThreshold: config.marginalThreshold,
      metrics,
    },
    durationMs,
    reason: score.reason,
    window,
  };
}

function judgeMetric(f: FetchedMetric, config: JudgeConfig, window: SampleWindow): JudgeMetricStatus {
  const failed = queryProblem('canary', f.canary) ?? queryProblem('baseline', f.baseline);
  if (failed !== null || f.canary.status !== 'ok' || f.baseline.status !== 'ok') {
    return noData(f, `${f.config.metric} no data: ${failed ?? 'query failed'}`);
  }
  if (f.canary.values.length === 0 && f.baseline.values.length === 0) {
    return noData(
      f,
      `${f.config.metric} no data: neither version has a value in the window (each point is the query over ${window.pointWindowMs} ms; ` +
        'shorter than two scrape intervals leaves rate() empty)',
    );
  }
  return classifyMetric(f.config, { canary: f.canary.values, baseline: f.baseline.values }, config);
}

function queryProblem(side: 'canary' | 'baseline', outcome: RangeOutcome): string | null {
  return outcome.status === 'ok' ? null : `${side} query ${outcome.status}: ${outcome.detail}`;
}

function noData(f: FetchedMetric, reason: string): JudgeMetricStatus {
  const count = (o: RangeOutcome) => (o.status === 'ok' ? o.values.length : 0);
  return {
    metric: f.config.metric,
    group: f.config.group,
    critical: f.config.critical,
    weight: f.config.weight,
    classification: 'nodata',
    pValue: null,
    effectSize: null,
    canarySamples: count(f.canary),
    baselineSamples: count(f.baseline),
    reason,
  };
}
