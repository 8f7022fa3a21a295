/**
 * queryMetrics against a real Prometheus scraping a prom-client server with known values: every
 * classification (ok, no_data, not_a_number, multiple_series, error) comes from a real response.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import pino from 'pino';
import { Gauge, Histogram, Registry } from 'prom-client';
import { createActivities } from '../../activities';
import { classifyResponse } from '../../activities/metrics/prometheus-client';
import type { AnalyseCanaryResult, MetricQuery, MetricSample } from '../../activities/types';
import type { RolloutSpec } from '../../rollout-spec/types';
import { freePort } from '../helpers/free-port';
import { startHttpServer, serveRegistry } from '../helpers/http-servers';
import { startPrometheus, waitForQuery, type PrometheusHandle } from '../helpers/prometheus';
import { rolloutSpec } from '../helpers/rollout-spec';

const SEL = 'service="{{service}}",{{versionLabel}}="{{version}}"';

/** A /metrics endpoint with fixed gauge values for canary v2 and baseline v1. */
async function startTarget() {
  const registry = new Registry();
  const gauge = (name: string) => new Gauge({ name, help: name, labelNames: ['service', 'version', 'pod'], registers: [registry] });
  const task = gauge('task_success_rate');
  task.set({ service: 'checkout', version: 'v2', pod: 'a' }, 0.97);
  task.set({ service: 'checkout', version: 'v1', pod: 'a' }, 0.99);
  // Only the canary reports cache hits: the baseline query has no data.
  gauge('cache_hit_rate').set({ service: 'checkout', version: 'v2', pod: 'a' }, 0.93);
  gauge('memory_usage_ratio').set({ service: 'checkout', version: 'v2', pod: 'a' }, NaN);
  // Every observation above the highest finite bucket (0.5 s).
  const latency = new Histogram({
    name: 'request_duration_seconds',
    help: 'latency',
    labelNames: ['service', 'version'],
    buckets: [0.1, 0.5],
    registers: [registry],
  });
  for (let i = 0; i < 3; i++) latency.observe({ service: 'checkout', version: 'v2' }, 2);
  const agent = gauge('agent_health_score');
  agent.set({ service: 'checkout', version: 'v2', pod: 'a' }, 0.96);
  agent.set({ service: 'checkout', version: 'v2', pod: 'b' }, 0.98);
  return serveRegistry(registry);
}

function specWith(prometheusUrl: string, queries: Record<string, string | null> = {}, queryTimeout = '5s'): RolloutSpec {
  const spec = rolloutSpec({ metrics: { prometheusUrl, queryTimeout } });
  // Set after parsing: the schema rightly refuses most of these templates; the activity must
  // classify what Prometheus answers to them all the same.
  Object.assign(spec.metrics.queries, {
    // Not aggregated: two pods → two series.
    agent_health_score: `agent_health_score{${SEL}}`,
    // rate() of a gauge without a range selector: Prometheus answers 400 bad_data.
    cpu_usage: `rate(task_success_rate{${SEL}})`,
    request_rate: `scalar(sum(task_success_rate{${SEL}}))`,
    p99_latency: `task_success_rate{${SEL}}[{{window}}]`,
    success_rate: null,
    ...queries,
  });
  return spec;
}

const q = (metric: MetricQuery['metric'], target: MetricQuery['target'] = 'canary', windowMs = 300_000): MetricQuery => ({
  metric,
  target,
  windowMs,
});

describe('queryMetrics with a real Prometheus', () => {
  let prometheus: PrometheusHandle;
  let target: Awaited<ReturnType<typeof startTarget>>;
  const registry = new Registry();
  const activities = createActivities({ logger: pino({ level: 'silent' }), registry });
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
  const run = (spec: RolloutSpec, queries: MetricQuery[]): Promise<MetricSample[]> =>
    env.run(activities.queryMetrics, { rolloutId: 'rollout-checkout', spec, queries });

  before(async () => {
    target = await startTarget();
    prometheus = await startPrometheus({ targets: [target.address] });
    await waitForQuery(prometheus.url, 'agent_health_score', (b) => (b.data?.result?.length ?? 0) === 2);
  });
  after(async () => {
    await prometheus?.stop();
    await target?.stop();
  });

  it('classifies each outcome from real responses', async () => {
    const samples = await run(specWith(prometheus.url), [
      q('task_success_rate'),
      q('task_success_rate', 'baseline', 60_000),
      q('cache_hit_rate', 'baseline'),
      q('memory_usage'),
      q('agent_health_score'),
      q('cpu_usage'),
      q('request_rate'),
      q('p99_latency'),
      q('success_rate'),
    ]);
    const by = (i: number) => samples[i] as MetricSample;
    assert.deepEqual(
      samples.map((s) => s.status),
      ['ok', 'ok', 'no_data', 'not_a_number', 'multiple_series', 'error', 'ok', 'error', 'error'],
      JSON.stringify(samples, null, 1),
    );
    assert.equal(by(0).value, 0.97);
    assert.deepEqual(by(1), { metric: 'task_success_rate', target: 'baseline', windowMs: 60_000, status: 'ok', value: 0.99 });
    assert.equal(by(2).value, undefined);
    assert.match(by(4).detail ?? '', /2 series/);
    assert.match(by(5).detail ?? '', /HTTP 400 bad_data/);
    assert.equal(by(6).value, 0.97, 'scalar results are read too');
    assert.match(by(7).detail ?? '', /range vector/);
    assert.match(by(8).detail ?? '', /disabled/);
    const counted = await registry.getSingleMetricAsString('phoenix_metric_queries_total');
    assert.match(counted, /metric="task_success_rate",status="ok"\} 2/);
    assert.match(counted, /metric="agent_health_score",status="multiple_series"\} 1/);
  });

  it('classifies the ±Inf real Prometheus answers as infinite with a sign (queryMetrics keeps not_a_number)', async () => {
    const spec = specWith(prometheus.url, {
      // Prometheus writes a division by zero as "+Inf" / "-Inf" in its JSON.
      p95_latency: `sum(task_success_rate{${SEL}}) / 0`,
      p99_latency: `-sum(task_success_rate{${SEL}}) / 0`,
      request_rate: `scalar(sum(task_success_rate{${SEL}})) / 0`,
      // All observations above the highest finite bucket: Prometheus answers that bucket's bound
      // (0.5 s), not +Inf, for a classic histogram.
      cpu_usage: `1000 * histogram_quantile(0.99, sum by (le) (request_duration_seconds_bucket{${SEL}}))`,
    });
    const queries = [q('p95_latency'), q('p99_latency'), q('request_rate'), q('cpu_usage')];
    const result: AnalyseCanaryResult = await env.run(activities.analyseCanary, {
      rolloutId: 'rollout-checkout',
      spec,
      queries,
      expectedWeight: 0,
    });
    assert.deepEqual(
      result.samples.map((s) => [s.status, s.sign, s.value, s.detail]),
      [
        ['infinite', 1, undefined, '+Inf (an infinite value, e.g. a division by zero)'],
        ['infinite', -1, undefined, '-Inf (an infinite value, e.g. a negative number divided by zero)'],
        ['infinite', 1, undefined, '+Inf (an infinite value, e.g. a division by zero)'],
        ['ok', undefined, 500, undefined],
      ],
      JSON.stringify(result.samples),
    );
    assert.match(JSON.stringify(result.samples), /"sign":-1/, 'the sign survives JSON (the payload converter)');
    const legacy = await run(spec, queries);
    assert.deepEqual(
      legacy.map((s) => [s.status, s.sign, s.detail]),
      [
        ['not_a_number', undefined, 'value is +Inf'],
        ['not_a_number', undefined, 'value is -Inf'],
        ['not_a_number', undefined, 'value is +Inf'],
        ['ok', undefined, undefined],
      ],
    );
  });

  it('refuses to render a version that would inject PromQL', async () => {
    const spec = specWith(prometheus.url);
    // The schema rejects this too; the activity must not rely on that.
    spec.canary.version = 'v2"} or vector(1) or x{a="';
    const [sample] = await run(spec, [q('task_success_rate')]);
    assert.equal(sample?.status, 'error');
    assert.match(sample?.detail ?? '', /version/);
    assert.equal(sample?.value, undefined);
  });

  it('returns error samples, not a throw, when Prometheus is down or slow', async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const samples = await run(specWith(down), [q('task_success_rate'), q('cache_hit_rate')]);
    assert.deepEqual(
      samples.map((s) => s.status),
      ['error', 'error'],
    );
    assert.match(samples[0]?.detail ?? '', /request failed/);

    const slow = await startHttpServer('', () => undefined); // never answers
    try {
      const [sample] = await run(specWith(slow.url, {}, '300ms'), [q('task_success_rate')]);
      assert.equal(sample?.status, 'error');
      assert.match(sample?.detail ?? '', /timed out after 300 ms/);
    } finally {
      await slow.stop();
    }
  });
});

describe('classifyResponse', () => {
  it('treats ±Inf and unknown bodies explicitly', () => {
    const vector = (v: string) => ({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [1, v] }] } });
    assert.deepEqual(classifyResponse(200, vector('+Inf')), {
      status: 'infinite',
      sign: 1,
      detail: '+Inf (an infinite value, e.g. a division by zero)',
    });
    assert.deepEqual(classifyResponse(200, vector('-Inf')), {
      status: 'infinite',
      sign: -1,
      detail: '-Inf (an infinite value, e.g. a negative number divided by zero)',
    });
    assert.deepEqual(classifyResponse(200, vector('NaN')), { status: 'not_a_number', detail: 'value is NaN' });
    const scalar = (v: string) => ({ status: 'success', data: { resultType: 'scalar', result: [1, v] } });
    assert.deepEqual(classifyResponse(200, scalar('+Inf')).sign, 1);
    assert.deepEqual(classifyResponse(200, scalar('Infinity')).status, 'not_a_number', 'Prometheus never writes "Infinity"');
    assert.deepEqual(classifyResponse(200, vector('0')), { status: 'ok', value: 0 });
    assert.equal(classifyResponse(503, { status: 'error', errorType: 'timeout', error: 'query timed out' }).status, 'error');
    assert.equal(classifyResponse(200, { status: 'success', data: { resultType: 'weird', result: [] } }).status, 'error');
    assert.equal(classifyResponse(200, { status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [1, 5] }] } }).status, 'error');
  });
});
