/**
 * The `judge` section of the rollout spec: defaults, normalization, and one `path: message` issue
 * per bad field, including the checks against the rest of the spec.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRolloutSpec } from '../../rollout-spec';

const BASE = {
  service: 'checkout',
  stable: 'v1',
  canary: 'v2',
  traffic: { kind: 'haproxy', runtimeApi: '127.0.0.1:9999', backend: 'checkout', stableServer: 'stable', canaryServer: 'canary' },
  platform: { kind: 'command', deploy: ['true'], healthCheck: ['true'], promote: ['true'], terminate: ['true'] },
};

function issues(extra: Record<string, unknown>): string[] {
  const parsed = parseRolloutSpec({ ...BASE, ...extra });
  assert.equal(parsed.success, false, 'expected the spec to be refused');
  return parsed.success ? [] : parsed.issues.map((i) => `${i.path}: ${i.message}`);
}

describe('spec: judge', () => {
  it('is absent unless written, so specs without it normalize as before', () => {
    const parsed = parseRolloutSpec(BASE);
    assert.ok(parsed.success);
    assert.equal('judge' in parsed.spec, false);
  });

  it('fills the defaults: confidence 0.98, pass 95 / marginal 75, immediate rollback, every 1m, window metrics.defaultWindow', () => {
    const parsed = parseRolloutSpec({ ...BASE, metrics: { defaultWindow: '4m' }, judge: { metrics: [{ metric: 'p95_latency', group: 'latency', critical: true }] } });
    assert.ok(parsed.success, JSON.stringify(!parsed.success && parsed.issues));
    assert.deepEqual(parsed.spec.judge, {
      metrics: [{ metric: 'p95_latency', direction: 'increase', tolerance: 0.1, critical: true, weight: 1, group: 'latency', removeOutliers: false }],
      windowMs: 240_000,
      stepMs: null,
      pointWindowMs: null,
      confidence: 0.98,
      passThreshold: 95,
      marginalThreshold: 75,
      onFail: 'immediate_rollback',
      intervalMs: 60_000,
      nanStrategy: 'remove',
      outlierFactor: 3,
      freshBaseline: false,
    });
  });

  it('resolves units: window, step, interval to ms and tolerance to a fraction', () => {
    const parsed = parseRolloutSpec({
      ...BASE,
      judge: {
        metrics: [{ metric: 'success_rate', direction: 'decrease', tolerance: '0.5%', weight: 2 }],
        window: '2m',
        step: '2s',
        interval: '20s',
        thresholds: { pass: 90, marginal: 50 },
        onFail: 'gradual_rollback',
      },
    });
    assert.ok(parsed.success, JSON.stringify(!parsed.success && parsed.issues));
    const j = parsed.spec.judge;
    assert.equal(j?.windowMs, 120_000);
    assert.equal(j?.stepMs, 2_000);
    assert.equal(j?.intervalMs, 20_000);
    assert.equal(j?.metrics[0]?.tolerance, 0.005);
    assert.equal(j?.metrics[0]?.group, null);
    assert.deepEqual([j?.passThreshold, j?.marginalThreshold, j?.onFail], [90, 50, 'gradual_rollback']);
  });

  it('names the field of every bad value', () => {
    assert.deepEqual(
      issues({
        judge: {
          metrics: [{ metric: 'latency' }, { metric: 'p95_latency', direction: 'up', weight: -1, tolerance: '5 percent' }],
          confidence: 98,
          thresholds: { pass: 101 },
          onFail: 'pause',
          interval: 'often',
          bogus: 1,
        },
      }),
      [
        'judge.metrics[0].metric: must be one of: error_rate, success_rate, request_rate, request_count, p95_latency, p99_latency, cpu_usage, memory_usage, task_success_rate, cache_hit_rate, agent_health_score',
        'judge.metrics[1].direction: must be one of: increase, decrease, either',
        'judge.metrics[1].tolerance: expected a percentage like "0.5%" or a fraction like 0.005, got "5 percent"',
        'judge.metrics[1].weight: must be above 0',
        'judge.confidence: must be between 0.5 and 0.9999',
        'judge.thresholds.pass: must be a score from 0 to 100',
        'judge.onFail: must be one of: immediate_rollback, gradual_rollback',
        'judge.interval: expected a duration like "30s", "5m", "1h" or "100ms" (a bare number is seconds), got "often"',
        'judge.bogus: unknown key; allowed here: metrics, window, step, pointWindow, confidence, thresholds, onFail, interval, nanStrategy, outlierFactor, freshBaseline',
      ],
    );
  });

  it('refuses a metric judged twice, marginal above pass, a step over half the window, and an empty list', () => {
    assert.deepEqual(issues({ judge: { metrics: [{ metric: 'error_rate' }, { metric: 'error_rate' }], window: '1m', step: '40s' } }), [
      'judge.metrics[1].metric: error_rate is judged twice (also metrics[0])',
      'judge.step: must be at most half the window (60000ms), got 40000ms',
    ]);
    assert.deepEqual(issues({ judge: { metrics: [{ metric: 'error_rate' }], thresholds: { pass: 80, marginal: 90 } } }), [
      'judge.thresholds.marginal: marginal (90) must not exceed pass (80)',
    ]);
    assert.deepEqual(issues({ judge: { metrics: [] } }), ['judge.metrics: must list at least one metric']);
  });

  it('refuses a judged metric whose query is disabled, and a step over half of metrics.defaultWindow', () => {
    assert.deepEqual(issues({ metrics: { queries: { cpu_usage: null } }, judge: { metrics: [{ metric: 'p95_latency' }, { metric: 'cpu_usage' }], step: '3m' } }), [
      'judge.metrics[1].metric: cpu_usage is disabled (metrics.queries.cpu_usage: null), so the judge has no samples of it; give it a query or judge another metric',
      'judge.step: must be at most half the window (metrics.defaultWindow, 300000ms), got 180000ms',
    ]);
  });
});
