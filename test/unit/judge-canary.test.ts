/** One judgement over a fake Prometheus: the window grid, range responses, query failures, the result. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judgeCanary } from '../../activities/judge/judge-canary';
import { classifyRangeResponse } from '../../activities/judge/range-query';
import { planWindow } from '../../activities/judge/samples';
import type { JudgeConfig } from '../../activities/judge/types';
import { rolloutSpec } from '../helpers/rollout-spec';

const spec = rolloutSpec({ metrics: { prometheusUrl: 'http://prometheus.test:9090' } });

const config: JudgeConfig = {
  windowMs: 30_000,
  stepMs: null,
  confidence: 0.98,
  nanStrategy: 'remove',
  outlierFactor: 3,
  passThreshold: 95,
  marginalThreshold: 75,
  metrics: [
    { metric: 'p95_latency', direction: 'increase', tolerance: 0.1, critical: false, weight: 1, group: 'latency', removeOutliers: false },
    { metric: 'error_rate', direction: 'increase', tolerance: 0.2, critical: true, weight: 1, group: 'errors', removeOutliers: false },
  ],
};

function matrix(values: number[]): unknown {
  return { status: 'success', data: { resultType: 'matrix', result: [{ metric: {}, values: values.map((v, i) => [1000 + i * 0.6, String(v)]) }] } };
}

/** A fake Prometheus answering each query_range by the query's version and metric. */
function fakeFetch(answer: (version: string, query: string) => unknown, seen: URLSearchParams[] = []): typeof fetch {
  return async (url: string | URL | Request, init?: RequestInit) => {
    assert.match(url instanceof Request ? url.url : url.toString(), /\/api\/v1\/query_range$/);
    const params = new URLSearchParams(typeof init?.body === 'string' ? init.body : '');
    seen.push(params);
    const version = /version="([^"]+)"/.exec(params.get('query') ?? '')?.[1] ?? '?';
    return new Response(JSON.stringify(answer(version, params.get('query') ?? '')), { status: 200 });
  };
}

const wobble = (center: number, n = 50) => Array.from({ length: n }, (_, i) => center * (1 + 0.04 * Math.sin(i * 2.3)));

describe('planWindow', () => {
  it('default step: window/50, end aligned to it, points tiling the window', () => {
    assert.deepEqual(planWindow({ windowMs: 30_000, stepMs: null }, 1_000_123), {
      startMs: 999_600 - 49 * 600,
      endMs: 999_600,
      stepMs: 600,
      pointWindowMs: 600,
      points: 50,
    });
    const w = planWindow({ windowMs: 300_000, stepMs: 10_000, pointWindowMs: 30_000 }, 1_234_567);
    assert.deepEqual([w.stepMs, w.pointWindowMs, w.points, w.endMs - w.startMs], [10_000, 30_000, 30, 290_000]);
  });
});

describe('classifyRangeResponse', () => {
  it('values in order, NaN kept for the NaN strategy; empty is no values; errors classified', () => {
    const ok = classifyRangeResponse(200, matrix([1, NaN, 2]));
    assert.equal(ok.status, 'ok');
    assert.ok(ok.status === 'ok' && Number.isNaN(ok.values[1]) && ok.values.length === 3);
    assert.deepEqual(classifyRangeResponse(200, { status: 'success', data: { resultType: 'matrix', result: [] } }), {
      status: 'ok',
      values: [],
      timestampsMs: [],
    });
    const two = { status: 'success', data: { resultType: 'matrix', result: [{ metric: { a: '1' }, values: [] }, { metric: { a: '2' }, values: [] }] } };
    assert.equal(classifyRangeResponse(200, two).status, 'multiple_series');
    const bad = classifyRangeResponse(400, { status: 'error', errorType: 'bad_data', error: 'parse error' });
    assert.deepEqual(bad, { status: 'error', detail: 'HTTP 400 bad_data: parse error' });
  });
});

describe('judgeCanary', () => {
  it('same window and step for both versions; a +15% canary fails the judgement', async () => {
    const seen: URLSearchParams[] = [];
    const result = await judgeCanary(spec, config, {
      now: () => 1_000_000,
      fetch: fakeFetch((version, query) => {
        if (query.includes('histogram_quantile')) return matrix(wobble(version === 'v2' ? 115 : 100));
        return matrix(new Array<number>(50).fill(0));
      }, seen),
    });
    assert.equal(seen.length, 4);
    for (const p of seen) assert.deepEqual([p.get('start'), p.get('end'), p.get('step')], ['970.2', '999.6', '0.6']);
    assert.ok(seen.every((p) => (p.get('query') ?? '').includes('[600ms]')), 'each point over its own step');
    const { status } = result;
    assert.deepEqual(
      status.metrics.map((m) => [m.metric, m.classification]),
      [
        ['p95_latency', 'high'],
        ['error_rate', 'pass'],
      ],
    );
    assert.deepEqual([status.score, status.verdict], [50, 'fail']);
    assert.equal(status.at, new Date(1_000_000).toISOString());
    assert.ok(result.durationMs >= 0);
    assert.match(result.reason, /score 50 < 75; failing: p95_latency/);
  });

  it('a failed query makes its metric NoData with the reason; half NoData is verdict nodata', async () => {
    const result = await judgeCanary(spec, config, {
      now: () => 1_000_000,
      fetch: fakeFetch((version, query) =>
        query.includes('histogram_quantile') && version === 'v1'
          ? { status: 'error', errorType: 'execution', error: 'query timed out' }
          : matrix(wobble(100)),
      ),
    });
    const latency = result.status.metrics[0];
    assert.equal(latency?.classification, 'nodata');
    assert.equal(latency?.reason, 'p95_latency no data: baseline query error: HTTP 200 execution: query timed out');
    assert.deepEqual([result.status.score, result.status.verdict], [0, 'nodata']);
  });

  it('an unreachable Prometheus is NoData, not a throw; cancellation is rethrown', async () => {
    const down = (async () => {
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }) });
    }) as typeof fetch;
    const result = await judgeCanary(spec, config, { fetch: down });
    assert.equal(result.status.verdict, 'nodata');
    assert.match(result.status.metrics[0]?.reason ?? '', /canary query error: request failed: fetch failed \(ECONNREFUSED\)/);
    const controller = new AbortController();
    controller.abort(new Error('activity cancelled'));
    await assert.rejects(judgeCanary(spec, config, { fetch: down, signal: controller.signal }), /activity cancelled/);
  });

  it('no values on either side says why the step may be too short', async () => {
    const empty = { status: 'success', data: { resultType: 'matrix', result: [] } };
    const result = await judgeCanary(spec, config, { fetch: fakeFetch(() => empty) });
    assert.match(result.status.metrics[0]?.reason ?? '', /neither version has a value in the window \(each point is the query over 600 ms/);
  });
});
