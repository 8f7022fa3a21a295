/**
 * analyseCanary: every query under one deadline (a hung Prometheus gives `timeout` samples within
 * about `queryTimeoutMs`, never a throw or an activity timeout), and the router's weights read back
 * from a real HAProxy (drift, unreachable, hung, webhook that cannot read).
 * Abort: deployCanary and checkCanaryHealth heartbeat while they wait and stop on cancellation.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import pino from 'pino';
import { Gauge, Registry } from 'prom-client';
import { createActivities } from '../../activities';
import { parseGetWeightAnswer, runRuntimeApiCommand } from '../../activities/traffic';
import { parseRuntimeApiAddress } from '../../activities/traffic/haproxy-runtime-api';
import type { AnalyseCanaryInput, AnalyseCanaryResult, MetricQuery } from '../../activities/types';
import type { RolloutSpec } from '../../rollout-spec/types';
import { freePort } from '../helpers/free-port';
import { startStableCanarySplit, type StableCanarySplit } from '../helpers/haproxy';
import { startHttpServer, type TestHttpServer, serveRegistry } from '../helpers/http-servers';
import { startPrometheus, waitForQuery, type PrometheusHandle } from '../helpers/prometheus';
import { rolloutSpec } from '../helpers/rollout-spec';

const logger = pino({ level: 'silent' });
const quiet = { logger: new DefaultLogger('ERROR') };
/** Activity info with room to wait: the mock's default deadline (1 s after 1970) would end every poll at once. */
const LONG_ACTIVITY = { startToCloseTimeoutMs: 60_000, scheduleToCloseTimeoutMs: 0, heartbeatTimeoutMs: 10_000 };

const SEL = 'service="{{service}}",{{versionLabel}}="{{version}}"';

const q = (metric: MetricQuery['metric'], target: MetricQuery['target'] = 'canary'): MetricQuery => ({
  metric,
  target,
  windowMs: 60_000,
});

const haproxyTraffic = (runtimeApi: string) => ({
  kind: 'haproxy',
  runtimeApi,
  backend: 'app',
  stableServer: 'stable',
  canaryServer: 'canary',
});

async function weightOf(runtimeApi: string, target: string): Promise<number> {
  const answer = await runRuntimeApiCommand(parseRuntimeApiAddress(runtimeApi), `get weight ${target}`);
  return parseGetWeightAnswer(`get weight ${target}`, target, answer);
}

/** A TCP server that accepts connections and never answers (a hung runtime API). */
async function startSilentTcpServer(): Promise<{ address: string; stop(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A /metrics endpoint with a task_success_rate gauge for canary v2 and baseline v1. */
async function startTarget(): Promise<{ address: string; stop(): Promise<void> }> {
  const registry = new Registry();
  const gauge = new Gauge({ name: 'task_success_rate', help: 'x', labelNames: ['service', 'version'], registers: [registry] });
  gauge.set({ service: 'checkout', version: 'v2' }, 0.97);
  gauge.set({ service: 'checkout', version: 'v1' }, 0.99);
  return serveRegistry(registry);
}

describe('analyseCanary with a real Prometheus and a real HAProxy', () => {
  let prometheus: PrometheusHandle;
  let target: Awaited<ReturnType<typeof startTarget>>;
  let split: StableCanarySplit;
  const registry = new Registry();
  const activities = createActivities({ logger, registry });
  const env = new MockActivityEnvironment(undefined, quiet);

  before(async () => {
    target = await startTarget();
    split = await startStableCanarySplit();
    prometheus = await startPrometheus({ targets: [target.address] });
    await waitForQuery(prometheus.url, 'task_success_rate', (b) => (b.data?.result?.length ?? 0) === 2);
  });
  after(async () => {
    await prometheus?.stop();
    await split?.stop();
    await target?.stop();
  });

  const spec = (): RolloutSpec =>
    rolloutSpec({
      traffic: haproxyTraffic(split.haproxy.runtimeApi),
      metrics: {
        prometheusUrl: prometheus.url,
        queries: {
          task_success_rate: `max(max_over_time(task_success_rate{${SEL}}[{{window}}]))`,
          cache_hit_rate: `max(max_over_time(cache_hit_rate{${SEL}}[{{window}}]))`,
        },
      },
    });
  const analyse = (input: Partial<AnalyseCanaryInput> & { expectedWeight: number }): Promise<AnalyseCanaryResult> =>
    env.run(activities.analyseCanary, {
      rolloutId: 'rollout-checkout',
      spec: spec(),
      queries: [q('task_success_rate'), q('task_success_rate', 'baseline'), q('cache_hit_rate')],
      ...input,
    });

  it('returns the samples and the weights HAProxy really applies', async () => {
    await env.run(activities.setCanaryWeight, { rolloutId: 'rollout-checkout', spec: spec(), weight: 30 });
    const result = await analyse({ expectedWeight: 30 });
    assert.deepEqual(
      result.samples.map((s) => [s.metric, s.target, s.status, s.value]),
      [
        ['task_success_rate', 'canary', 'ok', 0.97],
        ['task_success_rate', 'baseline', 'ok', 0.99],
        ['cache_hit_rate', 'canary', 'no_data', undefined],
      ],
    );
    assert.equal(result.traffic.canaryWeight, 30);
    assert.equal(result.traffic.drifted, false);
    assert.match(result.traffic.detail, /canary=30 stable=70/);
    const counted = await registry.getSingleMetricAsString('phoenix_metric_queries_total');
    assert.match(counted, /metric="task_success_rate",status="ok"\} 2/);
  });

  it('reports drift when a weight was changed behind its back (canary, or stable alone)', async () => {
    await env.run(activities.setCanaryWeight, { rolloutId: 'rollout-checkout', spec: spec(), weight: 30 });
    const api = parseRuntimeApiAddress(split.haproxy.runtimeApi);
    // What a reload with the config's initial weights does: canary back to 0, stable to 100.
    await runRuntimeApiCommand(api, 'set weight app/canary 0');
    await runRuntimeApiCommand(api, 'set weight app/stable 100');
    let result = await analyse({ expectedWeight: 30 });
    assert.deepEqual(result.traffic, {
      canaryWeight: 0,
      drifted: true,
      detail: 'read canary=0 stable=100, expected canary=30 stable=70',
    });
    // Canary right, stable wrong: the share is not 30 % either.
    await runRuntimeApiCommand(api, 'set weight app/canary 30');
    result = await analyse({ expectedWeight: 30 });
    assert.equal(result.traffic.canaryWeight, 30);
    assert.equal(result.traffic.drifted, true, result.traffic.detail);
    assert.equal(await weightOf(split.haproxy.runtimeApi, 'app/stable'), 100, 'analyseCanary only reads');
  });

  it('reports a router it cannot read as canaryWeight null, not drift, not a throw', async () => {
    const down = `127.0.0.1:${await freePort()}`;
    const result: AnalyseCanaryResult = await env.run(activities.analyseCanary, {
      rolloutId: 'rollout-checkout',
      spec: rolloutSpec({ traffic: haproxyTraffic(down), metrics: { prometheusUrl: prometheus.url } }),
      queries: [],
      expectedWeight: 10,
    });
    assert.deepEqual(result.samples, []);
    assert.equal(result.traffic.canaryWeight, null);
    assert.equal(result.traffic.drifted, false);
    assert.match(result.traffic.detail, /could not read the router's weights: .*unreachable/);

    const withSecret = createActivities({ logger, registry: new Registry(), env: { TRAFFIC_SECRET: 's3cret' } });
    const webhook: AnalyseCanaryResult = await env.run(withSecret.analyseCanary, {
      rolloutId: 'rollout-checkout',
      spec: rolloutSpec({
        traffic: { kind: 'webhook', url: 'http://127.0.0.1:1/traffic', secretEnv: 'TRAFFIC_SECRET' },
        metrics: { prometheusUrl: prometheus.url },
      }),
      queries: [q('task_success_rate')],
      expectedWeight: 10,
    });
    assert.equal(webhook.samples[0]?.status, 'ok');
    assert.deepEqual(webhook.traffic, { canaryWeight: null, drifted: false, detail: 'router cannot read weights back' });
  });
});

describe('analyseCanary under one deadline', () => {
  let hung: TestHttpServer;
  let silentApi: Awaited<ReturnType<typeof startSilentTcpServer>>;
  const activities = createActivities({ logger, registry: new Registry(), queryConcurrency: 2 });

  before(async () => {
    hung = await startHttpServer('', () => undefined); // accepts, reads the request, never answers
    silentApi = await startSilentTcpServer();
  });
  after(async () => {
    await hung?.stop();
    await silentApi?.stop();
  });

  const input = (): AnalyseCanaryInput => ({
    rolloutId: 'rollout-checkout',
    spec: rolloutSpec({ traffic: haproxyTraffic(silentApi.address), metrics: { prometheusUrl: hung.url, queryTimeout: '800ms' } }),
    // Six queries, two at a time: with a timeout per query they would take 3 × 800 ms.
    queries: (['error_rate', 'p95_latency', 'request_rate'] as const).flatMap((m) => [q(m), q(m, 'baseline')]),
    expectedWeight: 5,
  });

  it('turns every query a hung Prometheus never answers into a timeout sample within ~queryTimeoutMs', async (t) => {
    const env = new MockActivityEnvironment(undefined, quiet);
    const started = Date.now();
    const result: AnalyseCanaryResult = await env.run(activities.analyseCanary, input());
    const elapsed = Date.now() - started;
    t.diagnostic(`hung Prometheus and runtime API: analyseCanary returned in ${elapsed} ms (queryTimeout 800 ms, 6 queries, concurrency 2)`);
    assert.equal(result.samples.length, 6);
    for (const s of result.samples) {
      assert.deepEqual({ status: s.status, detail: s.detail, value: s.value }, { status: 'timeout', detail: 'no answer within 800 ms', value: undefined });
    }
    assert.deepEqual(result.traffic, {
      canaryWeight: null,
      drifted: false,
      detail: "could not read the router's weights: no answer within 800 ms",
    });
    assert.ok(elapsed >= 750 && elapsed < 1800, `returned after ${elapsed} ms`);
    assert.ok(hung.hits() >= 2, 'the queries really were sent');
  });

  it('rejects with the cancellation, not with timeout samples, when cancelled', async () => {
    const env = new MockActivityEnvironment(undefined, quiet);
    const running = env.run(activities.analyseCanary, input());
    let cancelledAt = 0;
    setTimeout(() => {
      cancelledAt = Date.now();
      env.cancel();
    }, 200);
    await assert.rejects(running, (err: unknown) => err instanceof CancelledFailure);
    const took = Date.now() - cancelledAt;
    assert.ok(cancelledAt > 0 && took < 500, `rejected ${took} ms after the cancel (deadline: 800 ms)`);
  });
});

describe('abort reaches deployCanary and checkCanaryHealth', () => {
  /** Heartbeat times of one activity run, and the largest gap between two (or from the start). */
  function recordHeartbeats(env: MockActivityEnvironment): { maxGap(): number; count(): number } {
    const times = [Date.now()];
    env.on('heartbeat', () => times.push(Date.now()));
    return {
      maxGap: () => Math.max(...times.slice(1).map((t, i) => t - (times[i] as number))),
      count: () => times.length - 1,
    };
  }

  it('cancels checkCanaryHealth on a canary that never becomes healthy within 2 s, heartbeating every 500 ms', async (t) => {
    const activities = createActivities({ logger, registry: new Registry(), env: process.env });
    const env = new MockActivityEnvironment(LONG_ACTIVITY, quiet);
    const beats = recordHeartbeats(env);
    // The command platform probes every 2 s by default; `false` never passes.
    const spec = rolloutSpec({
      platform: { kind: 'command', deploy: ['true'], healthCheck: ['false'], promote: ['true'], terminate: ['true'] },
    });
    let settledAt = 0;
    const checking = env.run(activities.checkCanaryHealth, { rolloutId: 'rollout-checkout', spec }).finally(() => {
      settledAt = Date.now();
    });
    // Until at least 3 heartbeats: the first probe and a good part of the 2 s wait for the second.
    const waitUntil = Date.now() + 5000;
    while (beats.count() < 3 && Date.now() < waitUntil && settledAt === 0) await new Promise((r) => setTimeout(r, 20));
    assert.equal(settledAt, 0, 'a canary that never becomes healthy keeps the activity polling');
    const cancelledAt = Date.now();
    env.cancel();
    await assert.rejects(checking, (err: unknown) => err instanceof CancelledFailure);
    const took = settledAt - cancelledAt;
    t.diagnostic(`checkCanaryHealth rejected ${took} ms after cancel; heartbeats ${beats.count()}, max gap ${beats.maxGap()} ms`);
    assert.ok(took < 2000, `rejected ${took} ms after the cancel`);
    assert.ok(beats.count() >= 3, `heartbeats: ${beats.count()}`);
    assert.ok(beats.maxGap() <= 800, `longest time without a heartbeat: ${beats.maxGap()} ms`);
  });

  it('cancels deployCanary while it waits for the canary port to be freed', async (t) => {
    // Something Phoenix does not track holds the canary port: the start waits up to 3 s for it.
    const squatter = await startHttpServer('not ours');
    try {
      const activities = createActivities({ logger, registry: new Registry(), env: process.env });
      const env = new MockActivityEnvironment(LONG_ACTIVITY, quiet);
      const beats = recordHeartbeats(env);
      const spec = rolloutSpec({
        platform: {
          kind: 'process',
          command: [process.execPath, '-e', 'setInterval(() => {}, 1000)'],
          stablePort: await freePort(),
          canaryPort: squatter.port,
          healthPath: '/healthz',
          stateDir: `${process.env.TMPDIR ?? '/tmp'}/phoenix-analyse-test-${process.pid}`,
        },
      });
      let settledAt = 0;
      const deploying = env.run(activities.deployCanary, { rolloutId: 'rollout-checkout', spec }).finally(() => {
        settledAt = Date.now();
      });
      const waitUntil = Date.now() + 3000;
      while (beats.count() < 2 && Date.now() < waitUntil && settledAt === 0) await new Promise((r) => setTimeout(r, 20));
      assert.equal(settledAt, 0, 'deployCanary must still be waiting for the port');
      const cancelledAt = Date.now();
      env.cancel();
      await assert.rejects(deploying, (err: unknown) => err instanceof CancelledFailure);
      const took = settledAt - cancelledAt;
      t.diagnostic(`deployCanary rejected ${took} ms after cancel; heartbeats ${beats.count()}, max gap ${beats.maxGap()} ms`);
      assert.ok(took < 1000, `rejected ${took} ms after the cancel`);
      assert.ok(beats.maxGap() <= 800, `longest time without a heartbeat: ${beats.maxGap()} ms`);
      assert.equal(squatter.hits(), 0, 'nothing was started against the busy port');
    } finally {
      await squatter.stop();
    }
  });
});
