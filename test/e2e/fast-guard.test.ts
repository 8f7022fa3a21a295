/**
 * The HAProxy fast guard on the real local stack: with `fastGuard.enabled`, errors injected on the
 * canary in the 5% phase are seen in HAProxy's own counters (`show stat`) and roll the canary back
 * through the guard, before the Prometheus analysis (slowed to a 20 s interval here, so it cannot
 * win the race) gets a say. Prints fault → canary weight 0 as read back from HAProxy.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startStack, type Stack } from '../helpers/stack';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('fast guard on the real stack', { timeout: 240_000 }, () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack({ loadRate: 200 });
  });

  after(async () => {
    await stack?.teardown();
  });

  test('errors on the canary roll it back through the guard: weight 0 within seconds, the reason names the guard', { timeout: 120_000 }, async () => {
    const spec = stack.spec({
      warmup: { duration: '2s' },
      analysisInterval: '20s',
      fastGuard: { enabled: true },
      trafficControl: {
        phases: [
          { name: 'initial_canary', percentage: 5, duration: '90s' },
          { name: 'full_rollout', incrementSize: 95, intervalSeconds: 10 },
        ],
      },
    });
    assert.deepEqual(spec.fastGuard, { enabled: true, intervalMs: 200, windowMs: 2000, maxErrorRate: 0.01, minRequests: 10 });
    await stack.client.start(spec);

    const running = await stack.waitForStatus(
      'the guard sampling in the 5% phase',
      (s) => s.phase === 'initial_canary' && s.weight === 5 && s.fastGuard?.running === true,
      60_000,
    );
    assert.equal(running.fastGuard?.failures, 0);
    // Clean traffic first: the guard must not fire on a healthy canary.
    await sleep(2_000);
    assert.equal((await stack.status()).state, 'progressing');

    await stack.setFault('canary', { errorRate: 0.5 });
    const injectedAt = performance.now();
    let zeroAfterMs: number | undefined;
    while (performance.now() < injectedAt + 15_000) {
      if ((await stack.haproxyWeights()).canary === 0) {
        zeroAfterMs = performance.now() - injectedAt;
        break;
      }
      await sleep(20);
    }
    assert.ok(zeroAfterMs !== undefined, `canary weight not 0 in HAProxy 15 s after the fault\n${await stack.logTail('worker')}`);
    console.log(`\nfault injection → canary weight 0 in HAProxy through the fast guard: ${(zeroAfterMs / 1000).toFixed(2)} s\n`);
    // Faster than the analysis could have been: its first tick is 20 s into the phase.
    assert.ok(zeroAfterMs < 5_000, `took ${zeroAfterMs} ms`);

    const result = await stack.client.result(stack.service);
    assert.equal(result.outcome, 'rolled_back', `${result.outcome}: ${result.reason}`);
    assert.match(result.reason, /^fast guard \(HAProxy\): canary 5xx ratio [\d.]+% \(\d+ of \d+ requests\) over the 2000 ms window/);
    assert.deepEqual(result.timeline.map((t) => t.weight), [0, 5, 0]);
    assert.match(result.timeline[2]?.reason ?? '', /^immediate rollback: fast guard/);
    assert.deepEqual(await stack.haproxyWeights(), { stable: 100, canary: 0 });
    await stack.waitFor('canary process gone', async () => ((await stack.pid('canary')) === undefined ? true : undefined), 30_000);
  });
});
