/** The judge's per-metric classification (activities/judge/classify.ts) and score (score.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyMetric, MIN_SAMPLES, type ClassifyOptions } from '../../activities/judge/classify';
import { scoreMetrics } from '../../activities/judge/score';
import type { JudgeMetricConfig, JudgeMetricStatus } from '../../activities/judge/types';

const OPTIONS: ClassifyOptions = { confidence: 0.98, nanStrategy: 'remove', outlierFactor: 3 };

function metric(overrides: Partial<JudgeMetricConfig> = {}): JudgeMetricConfig {
  return {
    metric: 'p95_latency',
    direction: 'increase',
    tolerance: 0.1,
    critical: false,
    weight: 1,
    group: 'latency',
    removeOutliers: false,
    ...overrides,
  };
}

/** A deterministic wobble around `center` (±5%), n values. */
function series(center: number, n: number, phase = 0): number[] {
  return Array.from({ length: n }, (_, i) => center * (1 + 0.05 * Math.sin(i * 1.7 + phase)));
}

describe('classifyMetric', () => {
  it('passes a canary that looks like the baseline', () => {
    const m = classifyMetric(metric(), { canary: series(100, 60, 0.3), baseline: series(100, 60) }, OPTIONS);
    assert.equal(m.classification, 'pass', m.reason);
    assert.ok(m.pValue !== null && m.pValue >= 0.02);
    assert.equal(m.canarySamples, 60);
    assert.match(m.reason, /^p95_latency pass: canary 100 ms vs baseline 100 ms \(×1\.\d+, no significant difference\), p=[\d.]+ ≥ 0\.02, 60\/60 samples$/);
  });

  it('+15% latency beyond a 10% tolerance is High, with the user-facing reason', () => {
    const m = classifyMetric(metric(), { canary: series(115, 60), baseline: series(100, 60, 1) }, OPTIONS);
    assert.equal(m.classification, 'high');
    assert.ok(m.effectSize !== null && Math.abs(m.effectSize - 1.15) < 0.01, String(m.effectSize));
    assert.match(m.reason, /^p95_latency high: canary 115 ms vs baseline 100 ms \(×1\.15 > ×1\.10 allowed\), p=\S+ < 0\.02, 60\/60 samples$/);
  });

  it('a significant change within the tolerance passes', () => {
    const m = classifyMetric(metric(), { canary: series(105, 60), baseline: series(100, 60, 1) }, OPTIONS);
    assert.equal(m.classification, 'pass', m.reason);
    assert.ok(m.pValue !== null && m.pValue < 0.02, m.reason);
    assert.match(m.reason, /within ×0\.90\.\.×1\.10 allowed/);
  });

  it('respects the direction: lower latency passes as harmless, lower success rate is Low', () => {
    const faster = classifyMetric(metric(), { canary: series(70, 60), baseline: series(100, 60, 1) }, OPTIONS);
    assert.equal(faster.classification, 'pass');
    assert.match(faster.reason, /lower is harmless/);
    const success = metric({ metric: 'success_rate', direction: 'decrease', tolerance: 0.01 });
    const worse = classifyMetric(success, { canary: series(0.9, 60), baseline: series(0.99, 60, 1) }, OPTIONS);
    assert.equal(worse.classification, 'low', worse.reason);
    assert.match(worse.reason, /^success_rate low: canary 90% vs baseline 99(\.\d)?% \(×0\.91 < ×0\.99 allowed\)/);
    const either = classifyMetric(metric({ direction: 'either' }), { canary: series(70, 60), baseline: series(100, 60, 1) }, OPTIONS);
    assert.equal(either.classification, 'low');
  });

  it('errors where the baseline had none: infinite ratio, High when significant', () => {
    const errors = metric({ metric: 'error_rate', tolerance: 0.2 });
    const canary = Array.from({ length: 50 }, (_, i) => (i % 4 === 0 ? 0.01 : 0));
    const m = classifyMetric(errors, { canary, baseline: new Array<number>(50).fill(0) }, OPTIONS);
    assert.equal(m.classification, 'high', m.reason);
    assert.equal(m.effectSize, null);
    assert.match(m.reason, /^error_rate high: canary 0\.26% vs baseline 0% \(baseline 0\)/);
  });

  it('both sides all zero: pass with ratio 1', () => {
    const m = classifyMetric(metric({ metric: 'error_rate' }), { canary: [0, 0, 0, 0, 0, 0], baseline: [0, 0, 0, 0, 0, 0] }, OPTIONS);
    assert.equal(m.classification, 'pass');
    assert.equal(m.effectSize, 1);
    assert.equal(m.pValue, 1);
  });

  it(`NoData below ${MIN_SAMPLES} samples, or when no result could be significant`, () => {
    const few = classifyMetric(metric(), { canary: [1, 2], baseline: series(1, 50) }, OPTIONS);
    assert.equal(few.classification, 'nodata');
    assert.equal(few.pValue, null);
    assert.match(few.reason, /canary 2 and baseline 50 samples, at least 3 each needed/);
    // 4 vs 4 completely separated: p = 2/70 ≈ 0.029, never below 0.02.
    const four = classifyMetric(metric(), { canary: [10, 11, 12, 13], baseline: [1, 2, 3, 4] }, OPTIONS);
    assert.equal(four.classification, 'nodata', four.reason);
    const five = classifyMetric(metric(), { canary: [10, 11, 12, 13, 14], baseline: [1, 2, 3, 4] }, OPTIONS);
    assert.equal(five.classification, 'high', five.reason);
  });

  it('NaN samples are dropped, or replaced by 0', () => {
    const canary = [NaN, ...series(100, 20), Infinity];
    const removed = classifyMetric(metric(), { canary, baseline: series(100, 20, 1) }, OPTIONS);
    assert.equal(removed.canarySamples, 20);
    assert.match(removed.reason, /20\/20 samples \(2 NaN dropped\)/);
    const replaced = classifyMetric(metric(), { canary, baseline: series(100, 20, 1) }, { ...OPTIONS, nanStrategy: 'replace' });
    assert.equal(replaced.canarySamples, 22);
    assert.match(replaced.reason, /2 NaN replaced by 0/);
    const allNaN = classifyMetric(metric(), { canary: [NaN, NaN, NaN], baseline: series(100, 20) }, OPTIONS);
    assert.equal(allNaN.classification, 'nodata');
  });

  it('outlier removal keeps one spike from failing a metric', () => {
    const baseline = series(100, 40, 1);
    const canary = [...series(100, 40), 5000, 6000, 7000, 8000, 9000, 9000, 9000, 9000];
    const raw = classifyMetric(metric({ tolerance: 0.5 }), { canary, baseline }, OPTIONS);
    const cleaned = classifyMetric(metric({ tolerance: 0.5, removeOutliers: true }), { canary, baseline }, OPTIONS);
    assert.equal(cleaned.classification, 'pass', cleaned.reason);
    assert.equal(cleaned.canarySamples, 40);
    assert.match(cleaned.reason, /8 outliers removed/);
    assert.ok((raw.effectSize ?? 0) > 5, raw.reason);
  });
});

function status(classification: JudgeMetricStatus['classification'], overrides: Partial<JudgeMetricStatus> = {}): JudgeMetricStatus {
  return {
    metric: 'm',
    group: null,
    critical: false,
    weight: 1,
    classification,
    pValue: null,
    effectSize: null,
    canarySamples: 50,
    baselineSamples: 50,
    reason: `m ${classification}`,
    ...overrides,
  };
}

describe('scoreMetrics', () => {
  const thresholds = { passThreshold: 95, marginalThreshold: 75 };

  it('passing weight over judged weight, NoData left out', () => {
    const s = scoreMetrics([status('pass', { weight: 3 }), status('high', { weight: 1 }), status('nodata', { weight: 5 })], thresholds);
    assert.equal(s.score, 75);
    assert.equal(s.verdict, 'marginal');
    assert.match(s.reason, /score 75 < 95, ≥ 75; failing: m/);
  });

  it('pass at the pass threshold, fail below the marginal one, two decimals', () => {
    const nineteen = [...Array.from({ length: 19 }, () => status('pass')), status('low')];
    assert.deepEqual(
      { ...scoreMetrics(nineteen, thresholds), reason: undefined },
      { score: 95, verdict: 'pass', reason: undefined },
    );
    const s = scoreMetrics([status('pass'), status('pass'), status('high')], thresholds);
    assert.equal(s.score, 66.67);
    assert.equal(s.verdict, 'fail');
  });

  it('a critical High fails with score 0 whatever the rest', () => {
    const metrics = [...Array.from({ length: 9 }, () => status('pass')), status('high', { critical: true, reason: 'p99 high: …' })];
    const s = scoreMetrics(metrics, thresholds);
    assert.deepEqual([s.score, s.verdict], [0, 'fail']);
    assert.match(s.reason, /critical metric failed: p99 high/);
  });

  it('50% or more NoData: score 0, verdict nodata (a critical NoData alone does not fail)', () => {
    const half = scoreMetrics([status('pass'), status('nodata', { critical: true })], thresholds);
    assert.deepEqual([half.score, half.verdict], [0, 'nodata']);
    const third = scoreMetrics([status('pass'), status('pass'), status('nodata', { critical: true })], thresholds);
    assert.deepEqual([third.score, third.verdict], [100, 'pass']);
    assert.equal(scoreMetrics([], thresholds).verdict, 'nodata');
  });
});
