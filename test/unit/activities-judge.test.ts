/**
 * The `judgeCanary` activity over a fake Prometheus: the spec's judge settings become the judge's
 * config, canary and baseline are queried with their own versions, the verdict comes back, and
 * the worker's gauge holds the latest score.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createActivities } from '../../activities';
import { judgeConfigFor } from '../../activities/judge/activity';
import { rolloutSpecSchema } from '../../rollout-spec/schema';
import type { RolloutSpec } from '../../rollout-spec/types';

function spec(judge: Record<string, unknown>): RolloutSpec {
  return rolloutSpecSchema.parse({
    service: 'checkout',
    stable: 'v1',
    canary: 'v2',
    traffic: { kind: 'haproxy', runtimeApi: '127.0.0.1:9999', backend: 'checkout', stableServer: 'stable', canaryServer: 'canary' },
    platform: { kind: 'command', deploy: ['true'], healthCheck: ['true'], promote: ['true'], terminate: ['true'] },
    metrics: { prometheusUrl: 'http://prometheus.test:9090' },
    judge,
  });
}

/** A deterministic spread of values around `mean` (±10%), one per point. */
const spread = (mean: number, n: number) => Array.from({ length: n }, (_, i) => mean * (0.9 + (0.2 * ((i * 37) % n)) / n));

/** Answers every range query with `values(version)`; records the queries. */
function prometheus(values: (version: string) => number[]) {
  const queries: string[] = [];
  const fetchImpl = (async (_url: string | URL | Request, init?: RequestInit) => {
    const body = new URLSearchParams(typeof init?.body === 'string' ? init.body : init?.body instanceof URLSearchParams ? init.body : '');
    const query = body.get('query') ?? '';
    queries.push(query);
    const version = /version="([^"]+)"/.exec(query)?.[1] ?? '?';
    const start = Number(body.get('start'));
    const step = Number(String(body.get('step')).replace(/s$/, '')) || 1;
    const series = values(version).map((v, i) => [start + i * step, String(v)]);
    return new Response(JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: [{ metric: {}, values: series }] } }), {
      status: 200,
      headers: { 'content-type': 'application/json' },
    });
  }) as typeof fetch;
  return { fetchImpl, queries };
}

describe('judgeCanary activity', () => {
  it('maps the spec settings onto the judge config over the window the workflow asks for', () => {
    const s = spec({ metrics: [{ metric: 'p95_latency', critical: true, group: 'latency' }], step: '4s', confidence: 0.99 });
    const settings = s.judge;
    assert.ok(settings);
    assert.deepEqual(judgeConfigFor(settings, 60_000), {
      windowMs: 60_000,
      stepMs: 4_000,
      pointWindowMs: null,
      confidence: 0.99,
      nanStrategy: 'remove',
      outlierFactor: 3,
      passThreshold: 95,
      marginalThreshold: 75,
      metrics: [{ metric: 'p95_latency', direction: 'increase', tolerance: 0.1, critical: true, weight: 1, group: 'latency', removeOutliers: false }],
    });
  });

  it('fails a canary 15% slower than its baseline, queries both versions, and exports the score', async () => {
    const registry = new Registry();
    const { fetchImpl, queries } = prometheus((version) => spread(version === 'v2' ? 115 : 100, 30));
    const acts = createActivities({ logger: pino({ level: 'silent' }), registry, fetch: fetchImpl });
    const s = spec({ metrics: [{ metric: 'p95_latency', critical: true }], step: '4s' });
    const result = await acts.judgeCanary({ rolloutId: 'rollout-checkout', spec: s, windowMs: 120_000 });
    assert.equal(result.status.verdict, 'fail', JSON.stringify(result.status));
    assert.equal(result.status.score, 0);
    const m = result.status.metrics[0];
    assert.equal(m?.classification, 'high');
    assert.ok(m && m.effectSize !== null && Math.abs(m.effectSize - 1.15) < 0.01, `effect ${m?.effectSize}`);
    assert.equal(m?.canarySamples, 30);
    assert.deepEqual(queries.map((q) => /version="([^"]+)"/.exec(q)?.[1]).sort(), ['v1', 'v2']);
    const gauge = (await registry.getSingleMetricAsString('phoenix_judge_score')).split('\n').filter((l) => !l.startsWith('#'));
    assert.deepEqual(gauge, ['phoenix_judge_score{service="checkout",rollout_id="rollout-checkout"} 0']);
    assert.match(await registry.getSingleMetricAsString('phoenix_judge_duration_seconds'), /_count\{service="checkout",verdict="fail"\} 1/);
  });

  it('passes a canary like its baseline and sets the gauge to 100', async () => {
    const registry = new Registry();
    const { fetchImpl } = prometheus(() => spread(100, 30));
    const acts = createActivities({ logger: pino({ level: 'silent' }), registry, fetch: fetchImpl });
    const s = spec({ metrics: [{ metric: 'p95_latency' }, { metric: 'error_rate' }], step: '4s' });
    const result = await acts.judgeCanary({ rolloutId: 'rollout-checkout', spec: s, windowMs: 120_000 });
    assert.equal(result.status.verdict, 'pass', JSON.stringify(result.status));
    assert.match(await registry.getSingleMetricAsString('phoenix_judge_score'), /rollout_id="rollout-checkout"\} 100/);
  });

  it('with judge.freshBaseline, judges the canary against the fresh baseline\'s series (track="baseline"), not the warm stable\'s', async () => {
    const registry = new Registry();
    // The long-running stable is 15% faster (warm caches); the fresh baseline is like the canary.
    const { fetchImpl, queries } = prometheus((version) => spread(version === 'v1' ? 85 : 100, 30));
    const fresh = (query: string) => query.includes('track="baseline"');
    const fetchFresh = (async (url: string | URL | Request, init?: RequestInit) => {
      const body = new URLSearchParams(typeof init?.body === 'string' ? init.body : '');
      // The fresh baseline answers as v1-fresh: the double keys its values by the version it reads.
      if (fresh(body.get('query') ?? '')) body.set('query', (body.get('query') ?? '').replace('version="v1"', 'version="v1-fresh"'));
      return fetchImpl(url, { ...init, body: body.toString() });
    }) as typeof fetch;
    const acts = createActivities({ logger: pino({ level: 'silent' }), registry, fetch: fetchFresh });
    const s = rolloutSpecSchema.parse({
      service: 'checkout',
      stable: 'v1',
      canary: 'v2',
      traffic: { kind: 'haproxy', runtimeApi: '127.0.0.1:9999', backend: 'checkout', stableServer: 'stable', canaryServer: 'canary', baselineServer: 'baseline' },
      platform: { kind: 'process', command: ['demo', '{{version}}', '{{port}}'], stablePort: 8081, canaryPort: 8082, baselinePort: 8079 },
      metrics: { prometheusUrl: 'http://prometheus.test:9090' },
      judge: { metrics: [{ metric: 'p95_latency', critical: true }], step: '4s', freshBaseline: true },
    });
    const result = await acts.judgeCanary({ rolloutId: 'rollout-checkout', spec: s, windowMs: 120_000 });
    assert.equal(result.status.verdict, 'pass', JSON.stringify(result.status));
    assert.equal(queries.filter(fresh).length, 1, queries.join('\n'));
    assert.ok(queries.some((q) => q.includes('version="v1-fresh",track="baseline"')), 'the baseline side selects the fresh instance');
    assert.ok(queries.some((q) => q.includes('version="v2"') && !fresh(q)), 'the canary side is queried as before');
  });

  it('refuses a spec without a judge as a non-retryable ConfigError', async () => {
    const acts = createActivities({ logger: pino({ level: 'silent' }), registry: new Registry(), fetch: prometheus(() => []).fetchImpl });
    const s = { ...spec({ metrics: [{ metric: 'p95_latency' }] }) };
    delete s.judge;
    await assert.rejects(acts.judgeCanary({ rolloutId: 'rollout-checkout', spec: s, windowMs: 60_000 }), (err: Error & { type?: string; nonRetryable?: boolean }) => {
      assert.equal(err.type, 'ConfigError');
      assert.equal(err.nonRetryable, true);
      return true;
    });
  });
});
