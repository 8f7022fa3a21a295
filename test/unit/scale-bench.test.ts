/** The scale bench's arithmetic: planned analysis times, quantiles, SDK histogram quantiles. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allAnalysingWindow, analysesPerSecond, analysisLateness, quantile } from '../../scripts/bench/scale/lateness';
import { histogramOf, histogramQuantile, parsePromText, sumOf } from '../../scripts/bench/scale/prom-text';
import { scalePlan } from '../../scripts/bench/scale/spec';

describe('analysisLateness', () => {
  it('plans the first analysis one interval after the weight change and the next ones on the cadence', () => {
    // Weight at 0; analyses due at 30, 60, 90 s ran at 30.2, 61, 90.1 s.
    const figures = analysisLateness([[{ a: 'W', t: 0 }, { a: 'A', t: 30_200 }, { a: 'A', t: 61_000 }, { a: 'A', t: 90_100 }]], 30_000);
    assert.equal(figures.analyses, 3);
    assert.deepEqual(figures.lateness, [200, 1_000, 100]);
    assert.deepEqual(figures.gapExcess, [800, -900]);
  });

  it('re-plans from now once an analysis fell a whole interval behind, as scheduleNextAnalysis does', () => {
    // Due at 30 s, ran at 75 s (45 s late): the next is due at 105 s, not at 60 s.
    const figures = analysisLateness([[{ a: 'W', t: 0 }, { a: 'A', t: 75_000 }, { a: 'A', t: 105_500 }]], 30_000);
    assert.deepEqual(figures.lateness, [45_000, 500]);
  });

  it('starts a new plan at every weight change and never pairs analyses across steps', () => {
    const figures = analysisLateness(
      [[{ a: 'W', t: 0 }, { a: 'A', t: 30_000 }, { a: 'W', t: 40_000 }, { a: 'A', t: 70_300 }]],
      30_000,
    );
    assert.deepEqual(figures.lateness, [0, 300]);
    assert.deepEqual(figures.gapExcess, []);
  });
});

describe('the window in which every rollout was analysing', () => {
  const a = (...t: number[]) => t.map((x) => ({ a: 'A' as const, t: x }));
  it('runs from the latest first analysis to the earliest last one', () => {
    // One rollout started late (ramp): the window begins at its first analysis.
    const byRollout = [a(10_000, 40_000, 70_000, 100_000, 130_000), a(50_000, 80_000, 110_000, 140_000, 170_000)];
    assert.deepEqual(allAnalysingWindow(byRollout, 10_000), { from: 50_000, to: 130_000, steady: true });
    // 6 analyses in 80 s, of 2 rollouts sampled out of 4.
    assert.deepEqual(analysesPerSecond(byRollout, 10_000, 4), { perSecond: (6 / 80) * 2, windowMs: 80_000, steady: true });
  });

  it('is not steady when shorter than three intervals, and spans everything then', () => {
    assert.deepEqual(allAnalysingWindow([a(0, 10_000), a(20_000, 30_000)], 10_000), { from: 0, to: 30_000, steady: false });
    assert.equal(allAnalysingWindow([[]], 10_000), null);
  });

  it('pairs each lateness with when its analysis ran', () => {
    const figures = analysisLateness([[{ a: 'W', t: 0 }, { a: 'A', t: 30_200 }, { a: 'A', t: 61_000 }]], 30_000);
    assert.deepEqual(figures.latenessAt, [30_200, 61_000]);
  });
});

describe('quantile', () => {
  it('is the nearest rank, and null when there is nothing', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    assert.equal(quantile(values, 0.5), 50);
    assert.equal(quantile(values, 0.99), 99);
    assert.equal(quantile([7], 0.99), 7);
    assert.equal(quantile([], 0.5), null);
  });
});

describe('SDK histograms from the Prometheus text exposition', () => {
  const text = [
    '# HELP temporal_workflow_task_schedule_to_start_latency x',
    'temporal_workflow_task_schedule_to_start_latency_bucket{task_queue="q",le="10"} 50',
    'temporal_workflow_task_schedule_to_start_latency_bucket{task_queue="q",le="100"} 90',
    'temporal_workflow_task_schedule_to_start_latency_bucket{task_queue="q",le="1000"} 99',
    'temporal_workflow_task_schedule_to_start_latency_bucket{task_queue="q",le="+Inf"} 100',
    'temporal_workflow_task_schedule_to_start_latency_bucket{task_queue="sticky",le="10"} 0',
    'temporal_workflow_task_schedule_to_start_latency_bucket{task_queue="sticky",le="100"} 0',
    'temporal_workflow_task_schedule_to_start_latency_bucket{task_queue="sticky",le="1000"} 0',
    'temporal_workflow_task_schedule_to_start_latency_bucket{task_queue="sticky",le="+Inf"} 100',
    'temporal_request_failure{operation="PollWorkflowTaskQueue"} 2',
    'temporal_request_failure{operation="RespondWorkflowTaskCompleted"} 3',
  ].join('\n');
  const samples = parsePromText(text);

  it('sums buckets over label sets and interpolates within the bucket, as histogram_quantile does', () => {
    const q = histogramOf(samples, 'temporal_workflow_task_schedule_to_start_latency', { task_queue: 'q' });
    assert.deepEqual(histogramQuantile(q, 0.5), { value: 10, inTopBucket: false });
    assert.deepEqual(histogramQuantile(q, 0.7), { value: 55, inTopBucket: false });
    assert.deepEqual(histogramQuantile(q, 0.99), { value: 1_000, inTopBucket: false });
  });

  it('says when a quantile lies past the highest finite bucket instead of inventing a value', () => {
    const all = histogramOf(samples, 'temporal_workflow_task_schedule_to_start_latency');
    assert.equal(all.count, 200);
    assert.deepEqual(histogramQuantile(all, 0.99), { value: 1_000, inTopBucket: true });
    assert.equal(histogramQuantile({ buckets: [], count: 0 }, 0.5), null);
  });

  it('sums counters by label match', () => {
    assert.equal(sumOf(samples, 'temporal_request_failure'), 5);
    assert.equal(sumOf(samples, 'temporal_request_failure', { operation: 'PollWorkflowTaskQueue' }), 2);
  });
});

describe('scalePlan', () => {
  it('scales the seed plan (2 + 10 + 15 + 4 × 5 min) to the duration asked for', () => {
    // 10 min is 10/47 of the seed's 47 min.
    assert.deepEqual(scalePlan(10 * 60_000, 30_000), { warmupS: 26, initialS: 128, expandedS: 191, stepS: 64, totalMs: 601_000 });
  });

  it('never makes a step shorter than one analysis interval', () => {
    const plan = scalePlan(60_000, 30_000);
    assert.ok(plan.initialS >= 30 && plan.expandedS >= 30 && plan.stepS >= 30, JSON.stringify(plan));
  });
});
