/**
 * Scenario 2 on the real local stack: 5% errors injected into the canary during the 5% phase
 * roll it back immediately. Prints the time from the fault injection to canary weight 0 as read
 * back from HAProxy (polled every ~50 ms); checks the CanaryRolledBack alert in Alertmanager, the
 * canary process and port gone, and the result naming the error rate.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pidAlive, portClosed, startStack, type Stack } from '../helpers/stack';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('immediate rollback on the real stack', { timeout: 360_000 }, () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack({ loadRate: 200 });
  });

  after(async () => {
    await stack?.teardown();
  });

  test('5% canary errors in the 5% phase: weight 0 at once, alert, canary gone, outcome rolled_back', { timeout: 300_000 }, async () => {
    // A long first phase so the rollback, not the phase clock, ends it.
    const spec = stack.spec({
      trafficControl: {
        phases: [
          { name: 'initial_canary', percentage: 5, duration: '90s', errorThreshold: '0.1%', latencyThreshold: '100ms' },
          { name: 'expanded_canary', percentage: 20, duration: '20s', errorThreshold: '0.5%', latencyThreshold: '200ms' },
          { name: 'full_rollout', incrementSize: 20, intervalSeconds: 10, maxErrorRate: '1%' },
        ],
      },
    });
    await stack.client.start(spec);

    await stack.waitForStatus('the 5% phase', (s) => s.phase === 'initial_canary' && s.weight === 5, 120_000);
    assert.deepEqual(await stack.haproxyWeights(), { stable: 95, canary: 5 });
    const canaryPid = await stack.pid('canary');
    assert.ok(canaryPid, 'canary process not running in the 5% phase');
    // Let the canary take some clean traffic first, so the rollback is caused by the fault alone.
    await sleep(3_000);
    assert.equal((await stack.status()).state, 'progressing');

    await stack.setFault('canary', { errorRate: 0.05 });
    const injectedAt = performance.now();
    let zeroAfterMs: number | undefined;
    const deadline = injectedAt + 90_000;
    while (performance.now() < deadline) {
      const w = await stack.haproxyWeights();
      if (w.canary === 0) {
        zeroAfterMs = performance.now() - injectedAt;
        assert.equal(w.stable, 100);
        break;
      }
      await sleep(50);
    }
    assert.ok(zeroAfterMs !== undefined, `canary weight never reached 0 in HAProxy\n${await stack.logTail('worker')}`);
    console.log(`\nfault injection → canary weight 0 in HAProxy: ${(zeroAfterMs / 1000).toFixed(2)} s\n`);

    const result = await stack.client.result(stack.service);
    assert.equal(result.outcome, 'rolled_back', `outcome ${result.outcome}: ${result.reason}`);
    assert.match(result.reason, /error_rate/);
    // Straight from 5% to 0, never stepped down.
    assert.deepEqual(result.timeline.map((t) => t.weight), [0, 5, 0]);
    assert.match(result.timeline[2]?.reason ?? '', /^immediate rollback: /);

    const alerts = await stack.waitFor('CanaryRolledBack alert in Alertmanager', async () => {
      const found = await stack.alerts('alertname="CanaryRolledBack"', `rollout_id="rollout-${stack.service}"`);
      return found.length > 0 ? found : undefined;
    }, 30_000);
    assert.equal(alerts[0]?.labels.rollout_id, `rollout-${stack.service}`);
    assert.equal(alerts[0]?.status.state, 'active');

    await stack.waitFor('canary process gone', () => !pidAlive(canaryPid), 30_000);
    assert.equal(await stack.pid('canary'), undefined);
    assert.ok(await portClosed(stack.config.ports.canary), 'canary port still accepts connections');
    assert.deepEqual(await stack.haproxyWeights(), { stable: 100, canary: 0 });
    const stable = await stack.stats('stable');
    assert.equal(stable.version, 'v1');
  });

  test('the same canary version rolled out again right away is judged on its own series, not the faulty one before it', { timeout: 120_000 }, async () => {
    // The rolled-back canary's errors are still inside a 10 s window when the next canary of the
    // same version (same labels, same scrape target) takes traffic; windows are bounded to the
    // time since this canary was deployed, so they are not counted against it.
    const endedAt = performance.now();
    const spec = stack.spec({
      trafficControl: {
        phases: [
          { name: 'initial_canary', percentage: 5, duration: '6s', errorThreshold: '1%', latencyThreshold: '200ms' },
          { name: 'full_rollout', incrementSize: 95, intervalSeconds: 2, maxErrorRate: '1%' },
        ],
      },
    });
    await stack.client.start(spec);
    const result = await stack.client.result(stack.service);
    console.log(`\nmeasured: the same version rolled out again right after the rollback: ${result.outcome} in ${((performance.now() - endedAt) / 1000).toFixed(1)} s\n`);
    assert.equal(result.outcome, 'promoted', `${result.outcome}: ${result.reason}`);
  });
});
