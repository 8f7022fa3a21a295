/** The pure decision rules of workflows/analysis.ts. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MetricSample } from '../../activities/types';
import { buildRules, evaluate, queriesFor } from '../../workflows/analysis';
import { HEALTHY } from '../workflows/fake-world';
import { seedSpec } from '../workflows/spec-fixture';

const spec = seedSpec();
const gate = { maxErrorRate: 0.001, maxP95LatencyMs: 100 };

function samplesFor(weight: number, override: (s: MetricSample) => MetricSample = (s) => s): MetricSample[] {
  return queriesFor(buildRules(spec, gate, weight)).map((q) => override({ ...q, status: 'ok', value: HEALTHY[q.metric] }));
}

describe('analysis rules', () => {
  it('asks for baseline samples only while the stable version carries traffic', () => {
    assert.ok(queriesFor(buildRules(spec, gate, 20)).some((q) => q.target === 'baseline'));
    assert.ok(!queriesFor(buildRules(spec, gate, 100)).some((q) => q.target === 'baseline'));
  });

  it('healthy samples pass every check and do not block', () => {
    const rules = buildRules(spec, gate, 20);
    const r = evaluate(spec, rules, samplesFor(20), [], 0, 't');
    assert.equal(r.blocked, false);
    assert.deepEqual(r.decision, { action: 'continue' });
    assert.ok(r.checks.every((c) => c.outcome === 'pass'));
  });

  it('missing canary data blocks and counts toward the no-data limit; it is never a pass', () => {
    const rules = buildRules(spec, gate, 20);
    const missing = (s: MetricSample): MetricSample =>
      s.metric === 'cpu_usage' && s.target === 'canary' ? { ...s, status: 'no_data', value: undefined } : s;
    let r = evaluate(spec, rules, samplesFor(20, missing), [], 0, 't');
    assert.equal(r.blocked, true);
    assert.equal(r.noDataStreak, 1);
    assert.equal(r.checks.find((c) => c.check === 'cpu_usage.threshold')?.outcome, 'no_data');
    r = evaluate(spec, rules, samplesFor(20, missing), r.checks, r.noDataStreak, 't');
    r = evaluate(spec, rules, samplesFor(20, missing), r.checks, r.noDataStreak, 't');
    assert.equal(r.decision.action, 'no_data_limit');
  });

  it('a missing baseline leaves the comparison inconclusive without holding the rollout', () => {
    const rules = buildRules(spec, gate, 20);
    const noBaseline = (s: MetricSample): MetricSample =>
      s.target === 'baseline' ? { ...s, status: 'not_a_number', value: undefined } : s;
    const r = evaluate(spec, rules, samplesFor(20, noBaseline), [], 0, 't');
    assert.equal(r.blocked, false);
    assert.equal(r.noDataStreak, 0);
    assert.equal(r.checks.find((c) => c.check === 'baseline.error_rate')?.outcome, 'no_data');
  });

  it('a NaN value is not a number to compare: no_data, not pass', () => {
    const rules = buildRules(spec, gate, 5);
    const nan = (s: MetricSample): MetricSample =>
      s.metric === 'error_rate' && s.target === 'canary' ? { ...s, status: 'ok', value: Number.NaN } : s;
    const r = evaluate(spec, rules, samplesFor(5, nan), [], 0, 't');
    assert.equal(r.checks.find((c) => c.check === 'error_rate.critical')?.outcome, 'no_data');
    assert.equal(r.blocked, true);
  });

  it('streaks count consecutive breaches of one check and reset on a pass', () => {
    const rules = buildRules(spec, gate, 5);
    const slow = (s: MetricSample): MetricSample => (s.metric === 'p95_latency' ? { ...s, value: 150 } : s);
    let r = evaluate(spec, rules, samplesFor(5, slow), [], 0, 't');
    assert.equal(r.checks.find((c) => c.check === 'p95_latency.phase_gate')?.streak, 1);
    r = evaluate(spec, rules, samplesFor(5, slow), r.checks, 0, 't');
    assert.equal(r.checks.find((c) => c.check === 'p95_latency.phase_gate')?.streak, 2);
    assert.equal(r.decision.action, 'continue');
    r = evaluate(spec, rules, samplesFor(5), r.checks, 0, 't');
    assert.equal(r.checks.find((c) => c.check === 'p95_latency.phase_gate')?.streak, 0);
  });

  it('an immediate trigger wins over a gradual one', () => {
    const rules = buildRules(spec, gate, 20);
    const bad = (s: MetricSample): MetricSample =>
      s.target !== 'canary'
        ? s
        : s.metric === 'error_rate'
          ? { ...s, value: 0.02 }
          : s.metric === 'task_success_rate'
            ? { ...s, value: 0.9 }
            : s;
    const r = evaluate(spec, rules, samplesFor(20, bad), [], 0, 't');
    assert.equal(r.decision.action, 'immediate_rollback');
  });

  it('asks for the canary request count of every window whose checks need a minimum', () => {
    const queries = queriesFor(buildRules(spec, gate, 20));
    const counted = queries.filter((q) => q.metric === 'request_count' && q.target === 'canary').map((q) => q.windowMs);
    const needing = new Set(buildRules(spec, gate, 20).filter((r) => r.minRequests > 0).map((r) => r.windowMs));
    assert.deepEqual(new Set(counted), needing);
    assert.ok(needing.size > 0);
  });

  it('a passing value on too few requests is insufficient_samples with the count, blocks, and is never a pass', () => {
    const rules = buildRules(spec, gate, 20);
    const few = (s: MetricSample): MetricSample => (s.metric === 'request_count' ? { ...s, value: 12 } : s);
    let r = evaluate(spec, rules, samplesFor(20, few), [], 0, 't');
    const errorRate = r.checks.find((c) => c.check === 'error_rate.critical');
    assert.deepEqual([errorRate?.outcome, errorRate?.requests, errorRate?.minRequests], ['insufficient_samples', 12, 50]);
    assert.equal(r.checks.find((c) => c.check === 'cpu_usage.threshold')?.outcome, 'pass', 'no minimum for CPU');
    assert.equal(r.blocked, true);
    r = evaluate(spec, rules, samplesFor(20, few), r.checks, r.noDataStreak, 't');
    r = evaluate(spec, rules, samplesFor(20, few), r.checks, r.noDataStreak, 't');
    assert.equal(r.decision.action, 'no_data_limit');
    assert.match(r.decision.action === 'no_data_limit' ? r.decision.reason : '', /too few requests for 3 consecutive analyses.*12 canary requests/);
  });

  it('a failing value needs no minimum of requests: rolling back is the safe direction', () => {
    const rules = buildRules(spec, gate, 20);
    const bad = (s: MetricSample): MetricSample =>
      s.metric === 'request_count' ? { ...s, value: 3 } : s.metric === 'error_rate' && s.target === 'canary' ? { ...s, value: 0.5 } : s;
    const r = evaluate(spec, rules, samplesFor(20, bad), [], 0, 't');
    assert.equal(r.decision.action, 'immediate_rollback');
  });

  it('+Inf breaches an upper bound (shown as null with the reason), never no data', () => {
    const rules = buildRules(spec, gate, 20);
    const inf = (s: MetricSample): MetricSample =>
      s.metric === 'p99_latency' && s.target === 'canary' ? { ...s, status: 'infinite', sign: 1, value: undefined, detail: '+Inf' } : s;
    const r = evaluate(spec, rules, samplesFor(20, inf), [], 0, 't');
    const p99 = r.checks.find((c) => c.check === 'p99_latency.threshold');
    assert.deepEqual([p99?.outcome, p99?.value, p99?.detail], ['breach', null, '+Inf']);
    assert.equal(r.noDataStreak, 0);
  });

  it('bounds every window to the time since the canary was deployed, in whole seconds, at least 1 s', () => {
    const uncapped = buildRules(spec, gate, 20);
    const capped = buildRules(spec, gate, 20, 61_700);
    assert.ok(uncapped.some((r) => r.windowMs > 61_000));
    assert.ok(capped.every((r) => r.windowMs <= 61_000));
    assert.ok(queriesFor(capped).every((q) => q.windowMs <= 61_000));
    assert.ok(buildRules(spec, gate, 20, 200).every((r) => r.windowMs === 1_000));
  });
});
