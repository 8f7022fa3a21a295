/**
 * The judge's fresh baseline (`judge.freshBaseline`, issue 11) on the real local stack: once the
 * canary is healthy the worker starts a baseline process of the stable version on the operator's
 * baseline port, HAProxy's `baseline` server carries the canary's share (read back through the
 * runtime API), the judge's baseline samples are that instance's series (Prometheus target label
 * `track: baseline`), and after the promotion neither a baseline nor a canary process runs.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isInstanceRunning, readInstanceState, stateFileFor } from '../../activities/platform';
import { formatFreshBaseline } from '../../client/render';
import { startStack, type Stack } from '../helpers/stack';

interface VectorAnswer {
  data: { result: { metric: Record<string, string>; value: [number, string] }[] };
}

async function promQuery(stack: Stack, query: string): Promise<VectorAnswer['data']['result']> {
  const res = await fetch(`${stack.endpoints.prometheus}/api/v1/query?query=${encodeURIComponent(query)}`);
  return ((await res.json()) as VectorAnswer).data.result;
}

describe('the fresh baseline on the real stack', { timeout: 180_000 }, () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack({ loadRate: 200 });
  });

  after(async () => {
    await stack?.teardown();
  });

  test('a baseline process of the stable version gets the canary\'s share, feeds the judge, and is gone after the promotion', { timeout: 150_000 }, async () => {
    const t0 = performance.now();
    const spec = stack.spec({
      warmup: { duration: '1s' },
      trafficControl: {
        phases: [
          { name: 'expanded_canary', percentage: 20, duration: '25s' },
          { name: 'full_rollout', incrementSize: 80, intervalSeconds: 2 },
        ],
      },
      judge: { metrics: [{ metric: 'p95_latency', tolerance: '50%' }], window: '20s', step: '2s', interval: '5s', freshBaseline: true },
    });
    const platform = spec.platform;
    assert.ok(platform.kind === 'process' && platform.baselinePort === stack.config.ports.baseline, 'the stack gives the baseline slot');
    const baselineFile = stateFileFor(platform.stateDir, stack.service, 'baseline');
    const canaryFile = stateFileFor(platform.stateDir, stack.service, 'canary');
    // Pre-flight needs the stable's rates, i.e. two scrapes of it.
    await stack.waitFor('stable series in Prometheus', async () => (await promQuery(stack, 'rate(http_requests_total{service="checkout",version="v1"}[20s])')).length > 0, 30_000, 250);
    await stack.client.start(spec);

    // 1. At 20%: a baseline process of the stable version, and HAProxy gives its server the canary's share.
    const at20 = await stack.waitForStatus('the 20% phase', (s) => s.weight === 20, 60_000);
    const baseline = await readInstanceState(baselineFile);
    assert.ok(baseline && (await isInstanceRunning(baseline)), `a baseline process runs (${baselineFile})`);
    assert.equal(baseline.version, 'v1', 'the baseline runs the stable version');
    assert.equal(baseline.port, stack.config.ports.baseline);
    assert.match((await stack.haproxy('get weight checkout/baseline')).trim(), /^20 \(initial 0\)$/);
    assert.deepEqual(await stack.haproxyWeights(), { stable: 60, canary: 20 });
    assert.deepEqual(at20.freshBaseline, { version: 'v1', state: 'running', weight: 20 });
    assert.equal(at20.timeline[at20.timeline.length - 1]?.baseline, 20);
    assert.equal(formatFreshBaseline(at20), 'judge baseline: fresh v1 instance (running), 20% of traffic; stable 60%');

    // 2. The judge's baseline side: samples, and the series it selects are the baseline process's alone.
    const judged = await stack.waitForStatus('a judgement with baseline samples', (s) => (s.judge?.metrics[0]?.baselineSamples ?? 0) >= 3, 60_000);
    const p95 = judged.judge?.metrics[0];
    console.log(`\njudge at 20% against the fresh baseline: ${judged.judge?.verdict} ${judged.judge?.score}; p95 canary ${p95?.canarySamples} / baseline ${p95?.baselineSamples} samples\n`);
    const query = 'sum by (instance, track) (rate(http_requests_total{service="checkout",version="v1",track="baseline"}[5s]))';
    const answer = await promQuery(stack, query);
    assert.deepEqual(
      answer.map((r) => r.metric.instance),
      [`127.0.0.1:${stack.config.ports.baseline}`],
      'the judge\'s baseline matcher selects the fresh instance only, never the long-running stable',
    );
    assert.ok(Number(answer[0]?.value[1]) > 0, 'the fresh baseline serves traffic');

    // 3. Promotion: no baseline and no canary process is left, and the baseline server is back at 0.
    const result = await stack.client.result(stack.service);
    assert.equal(result.outcome, 'promoted', `${result.outcome}: ${result.reason}`);
    assert.deepEqual(result.timeline.map((t) => [t.weight, t.baseline]), [[0, 0], [20, 20], [100, 0], [0, 0]]);
    for (const file of [baselineFile, canaryFile]) {
      const left = await readInstanceState(file);
      assert.ok(!left || !(await isInstanceRunning(left)), `${path.basename(file)}: no process left (pid ${left?.pid})`);
    }
    assert.match((await stack.haproxy('get weight checkout/baseline')).trim(), /^0 \(initial 0\)$/);
    assert.equal((await stack.stats('stable')).version, 'v2');
    console.log(`measured: fresh-baseline rollout start → promoted in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  });
});
