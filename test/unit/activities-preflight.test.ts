/**
 * The metric preflight against a real Prometheus scraping a service that exports some of the
 * metrics the default queries read, but not all: the activity, the plain function and
 * `phoenix validate --check-metrics` report exactly the queries that cannot work. Also: every
 * always-non-retryable activity error is in the contract's NON_RETRYABLE_ERROR_TYPES.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import pino from 'pino';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { createActivities, preflightMetricQueries } from '../../activities';
import * as errors from '../../activities/errors';
import type { PreflightProblem } from '../../activities/types';
import { runCli, type CliIO } from '../../client/cli';
import type { MetricName, RolloutSpec } from '../../rollout-spec/types';
import { NON_RETRYABLE_ERROR_TYPES } from '../../workflows/contract';
import { freePort } from '../helpers/free-port';
import { startPrometheus, waitForQuery, type PrometheusHandle } from '../helpers/prometheus';
import { serveRegistry } from '../helpers/http-servers';
import { rolloutSpec } from '../helpers/rollout-spec';

const SEL = 'service="{{service}}",{{versionLabel}}="{{version}}"';

/**
 * The service's /metrics: requests and latency (what error_rate, success_rate, request_rate,
 * request_count and the latency quantiles read) and task_success_rate for stable v1; cache_hit_rate
 * for the canary v2 only. No process_cpu_seconds_total, memory_usage_ratio or agent_health_score.
 */
async function startService(): Promise<{ address: string; stop(): Promise<void> }> {
  const registry = new Registry();
  const labels = ['service', 'version'];
  const requests = new Counter({ name: 'http_requests_total', help: 'r', labelNames: [...labels, 'status'], registers: [registry] });
  requests.inc({ service: 'checkout', version: 'v1', status: '200' }, 40);
  requests.inc({ service: 'checkout', version: 'v1', status: '500' }, 1);
  const latency = new Histogram({ name: 'request_duration_seconds', help: 'l', labelNames: labels, registers: [registry] });
  latency.observe({ service: 'checkout', version: 'v1' }, 0.02);
  const tasks = new Gauge({ name: 'task_success_rate', help: 't', labelNames: labels, registers: [registry] });
  tasks.set({ service: 'checkout', version: 'v1' }, 0.99);
  const cache = new Gauge({ name: 'cache_hit_rate', help: 'c', labelNames: labels, registers: [registry] });
  cache.set({ service: 'checkout', version: 'v2' }, 0.9);
  return serveRegistry(registry);
}

/** The problems by metric, for assertions that read like the report. */
const byMetric = (problems: PreflightProblem[]) => Object.fromEntries(problems.map((p) => [p.metric, p]));

/** The missing metrics as the default queries render them for checkout v1 over the default 5m. */
const MISSING_QUERIES = {
  cpu_usage: 'sum(rate(process_cpu_seconds_total{service="checkout",version="v1"}[5m]))',
  memory_usage: 'max(max_over_time(memory_usage_ratio{service="checkout",version="v1"}[5m]))',
  cache_hit_rate: 'avg(avg_over_time(cache_hit_rate{service="checkout",version="v1"}[5m]))',
  agent_health_score: 'avg(avg_over_time(agent_health_score{service="checkout",version="v1"}[5m]))',
} as const;

describe('metric preflight with a real Prometheus', () => {
  let prometheus: PrometheusHandle;
  let service: Awaited<ReturnType<typeof startService>>;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'phoenix-preflight-'));
    service = await startService();
    prometheus = await startPrometheus({ targets: [service.address] });
    // rate() needs two samples in its window: wait for the second scrape.
    await waitForQuery(prometheus.url, 'count_over_time(task_success_rate[1m])', (b) => {
      const first = b.data?.result?.[0] as { value?: [number, string] } | undefined;
      return Number(first?.value?.[1] ?? 0) >= 2;
    });
  });
  after(async () => {
    await prometheus?.stop();
    await service?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const spec = (prometheusUrl = prometheus.url): RolloutSpec => rolloutSpec({ metrics: { prometheusUrl } });

  it('the activity lists the queries that find no series or fail, naming optional ones, and nothing else', async () => {
    const s = spec();
    // Set after parsing (the schema would reject these): a query Prometheus refuses, and one
    // that is not aggregated to a single series.
    s.metrics.queries.memory_usage = `max(max_over_time(memory_usage_ratio{${SEL}}[{{window}}])`;
    s.metrics.queries.request_rate = `rate(http_requests_total{${SEL}}[{{window}}])`;
    s.metrics.queries.success_rate = null; // disabled: not checked
    (s.metrics as { optional?: MetricName[] }).optional = ['agent_health_score'];
    const activities = createActivities({ logger: pino({ level: 'silent' }), registry: new Registry() });
    const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
    const problems: PreflightProblem[] = await env.run(activities.preflightMetrics, { rolloutId: 'rollout-checkout', spec: s });

    const found = byMetric(problems);
    assert.deepEqual(Object.keys(found).sort(), ['agent_health_score', 'cache_hit_rate', 'cpu_usage', 'memory_usage', 'request_rate']);
    assert.deepEqual(found.cpu_usage, {
      metric: 'cpu_usage',
      query: MISSING_QUERIES.cpu_usage,
      status: 'no_data',
      detail: 'no series for checkout v1 (metric not exported, or its labels do not match)',
      optional: false,
    });
    // Exported for the canary only: the stable version's labels do not match.
    assert.equal(found.cache_hit_rate?.status, 'no_data');
    assert.equal(found.cache_hit_rate?.query, MISSING_QUERIES.cache_hit_rate);
    assert.equal(found.memory_usage?.status, 'error');
    assert.match(found.memory_usage?.detail ?? '', /HTTP 400 bad_data/);
    assert.equal(found.request_rate?.status, 'multiple_series');
    assert.equal(found.agent_health_score?.optional, true);
    assert.ok(problems.filter((p) => p.metric !== 'agent_health_score').every((p) => !p.optional));
    // error_rate reads 0/0 = NaN here (the counters do not move): the series exist, so it is fine.
    for (const fine of ['error_rate', 'p95_latency', 'p99_latency', 'task_success_rate', 'success_rate']) {
      assert.equal(found[fine], undefined, `${fine} works and must not be reported`);
    }
  });

  it('returns [] when every enabled query finds series; the plain function works outside an activity', async () => {
    const s = spec('http://127.0.0.1:1'); // overridden below
    for (const metric of Object.keys(MISSING_QUERIES) as MetricName[]) s.metrics.queries[metric] = null;
    assert.deepEqual(await preflightMetricQueries(s, { prometheusUrl: prometheus.url }), []);
  });

  it('throws a retryable MetricsUnavailableError when Prometheus is unreachable, not problems', async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    await assert.rejects(preflightMetricQueries(spec(down)), (err: Error) => {
      assert.equal(err.name, 'MetricsUnavailableError');
      assert.match(err.message, /gave no usable answer .*request failed/);
      return true;
    });
    const activities = createActivities({ logger: pino({ level: 'silent' }), registry: new Registry() });
    const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
    await assert.rejects(env.run(activities.preflightMetrics, { rolloutId: 'r', spec: spec(down) }), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'MetricsUnavailableError');
      assert.equal(err.nonRetryable, false);
      return true;
    });
  });

  describe('phoenix validate --check-metrics', () => {
    async function cli(args: string[]) {
      let stdout = '';
      let stderr = '';
      const io: CliIO = {
        stdout: (t) => void (stdout += t),
        stderr: (t) => void (stderr += t),
        env: { USER: 'tester', TEMPORAL_CONFIG_FILE: '/nonexistent.toml' },
        stdoutIsTTY: false,
        connect: async () => assert.fail('validate must not connect to Temporal'),
      };
      return { code: await runCli(args, io), stdout, stderr };
    }

    async function specFile(name: string, queries: Record<string, null> = {}): Promise<string> {
      const file = path.join(dir, name);
      await writeFile(
        file,
        JSON.stringify({
          service: 'checkout',
          stable: 'v1',
          canary: 'v2',
          traffic: { kind: 'haproxy', runtimeApi: '127.0.0.1:1', backend: 'app', stableServer: 'stable', canaryServer: 'canary' },
          platform: { kind: 'command', deploy: ['true'], healthCheck: ['true'], promote: ['true'], terminate: ['true'] },
          // Unreachable on purpose: --check-metrics overrides it.
          metrics: { prometheusUrl: 'http://127.0.0.1:1', queries },
        }),
      );
      return file;
    }

    it('reports the missing metrics by name and query, not the exported ones, and exits 2', async () => {
      const file = await specFile('spec.json');
      const r = await cli(['validate', file, '--check-metrics', prometheus.url]);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stdout, /^.*spec\.json: valid \(checkout: v1 → v2\)\n/);
      for (const [metric, query] of Object.entries(MISSING_QUERIES)) {
        assert.ok(
          r.stdout.includes(`${metric}: no_data: no series for checkout v1 (metric not exported, or its labels do not match)\n  query: ${query}\n`),
          `${metric} missing from:\n${r.stdout}`,
        );
      }
      for (const exported of ['error_rate', 'success_rate', 'request_rate', 'request_count', 'p95_latency', 'p99_latency', 'task_success_rate']) {
        assert.doesNotMatch(r.stdout, new RegExp(`^${exported}: `, 'm'), `${exported} is exported and must not be reported`);
      }
      assert.match(r.stdout, new RegExp(`metrics: 4 of \\d+ queries cannot work for v1 at ${prometheus.url}\\n$`));
    });

    it('exits 0 when every enabled query finds series', async () => {
      const file = await specFile('ok.json', Object.fromEntries(Object.keys(MISSING_QUERIES).map((m) => [m, null])));
      const r = await cli(['validate', file, '--check-metrics', prometheus.url]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /metrics: all \d+ queries found series for v1 at /);
      assert.equal(r.stderr, '');
    });

    it('exits 3 naming Prometheus when it is unreachable, and 2 for a URL that is not http(s)', async () => {
      const file = await specFile('spec.json');
      const down = `http://127.0.0.1:${await freePort()}`;
      let r = await cli(['validate', file, '--check-metrics', down]);
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.match(r.stderr, new RegExp(`^phoenix: Prometheus at ${down} gave no usable answer`));
      r = await cli(['validate', file, '--check-metrics', 'prometheus:9090']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /--check-metrics must be an http\(s\) URL/);
    });
  });
});

describe('activity error classes and the contract', () => {
  type ErrorClass = new (...args: unknown[]) => errors.PhoenixActivityError;
  /** The PhoenixActivityError subclasses exported by activities/errors, by name. */
  const errorClasses = Object.entries(errors as Record<string, unknown>).filter(
    (entry): entry is [string, ErrorClass] =>
      typeof entry[1] === 'function' && entry[1].prototype instanceof errors.PhoenixActivityError,
  );

  /** True when an instance is non-retryable whatever its constructor arguments say. */
  function alwaysNonRetryable(Cls: ErrorClass): boolean {
    const withArgs = (flag: boolean) => new Cls('message', ...Array.from({ length: 5 }, () => flag));
    return withArgs(false).nonRetryable === true && withArgs(true).nonRetryable === true;
  }

  it('lists every always-non-retryable class in NON_RETRYABLE_ERROR_TYPES, and only classes that exist', () => {
    assert.ok(errorClasses.length >= 12, `found ${errorClasses.map(([n]) => n).join(', ')}`);
    const always = errorClasses.filter(([, Cls]) => alwaysNonRetryable(Cls)).map(([name]) => name);
    assert.ok(always.includes('MetricPreflightError'));
    for (const name of always) {
      assert.ok((NON_RETRYABLE_ERROR_TYPES as readonly string[]).includes(name), `${name} is missing from NON_RETRYABLE_ERROR_TYPES`);
    }
    for (const [name, Cls] of errorClasses) assert.equal(new Cls('m').name, name, 'name is set to the class name');
    const names = errorClasses.map(([name]) => name);
    for (const type of NON_RETRYABLE_ERROR_TYPES) assert.ok(names.includes(type), `${type} has no error class`);
    assert.equal(errors.NON_RETRYABLE_ERROR_TYPES, NON_RETRYABLE_ERROR_TYPES, 'activities re-export the contract list');
  });

  it('MetricPreflightError carries its problems and converts to a non-retryable failure', () => {
    const problem: PreflightProblem = { metric: 'cpu_usage', query: 'q', status: 'no_data', detail: 'd', optional: false };
    const err = new errors.MetricPreflightError('1 metric query finds no series', [problem]);
    assert.deepEqual(err.problems, [problem]);
    const failure = errors.toApplicationFailure(err);
    assert.ok(failure instanceof ApplicationFailure);
    assert.equal(failure.type, 'MetricPreflightError');
    assert.equal(failure.nonRetryable, true);
  });
});
