/**
 * Scenario 3 on the real local stack: a ~300 ms latency fault on the canary at 60% trips a
 * gradual trigger (`p95_latency > 250ms`, while `p95_latency > 500ms` stays immediate). HAProxy
 * must show the canary stepped down 60 → 40 → 20 → 0, one `gradualRollback.stepSize` at a time,
 * `gradualRollback.interval` apart; the step times are printed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pidAlive, portClosed, startStack, type Stack } from '../helpers/stack';

const STEP_INTERVAL_MS = 5_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('gradual rollback on the real stack', { timeout: 360_000 }, () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack({ loadRate: 150 });
  });

  after(async () => {
    await stack?.teardown();
  });

  test('latency fault at 60%: HAProxy steps the canary down 40, 20, 0 an interval apart', { timeout: 300_000 }, async () => {
    const spec = stack.spec({
      trafficControl: {
        phases: [
          { name: 'initial_canary', percentage: 5, duration: '8s', errorThreshold: '0.1%', latencyThreshold: '100ms' },
          { name: 'expanded_canary', percentage: 20, duration: '8s', errorThreshold: '0.5%', latencyThreshold: '200ms' },
          { name: 'forty', percentage: 40, duration: '8s', errorThreshold: '1%', latencyThreshold: '200ms' },
          // Long enough that the rollback, not the phase clock, ends it.
          { name: 'sixty', percentage: 60, duration: '90s', errorThreshold: '1%', latencyThreshold: '200ms' },
          { name: 'full_rollout', incrementSize: 20, intervalSeconds: 10, maxErrorRate: '1%' },
        ],
      },
      rollback_triggers: [
        { condition: 'error_rate > 1%', window: '10s', action: 'immediate_rollback' },
        { condition: 'p95_latency > 500ms', window: '10s', action: 'immediate_rollback' },
        { condition: 'p95_latency > 250ms', window: '10s', action: 'gradual_rollback' },
      ],
      gradualRollback: { stepSize: 20, interval: `${STEP_INTERVAL_MS / 1000}s` },
    });
    assert.equal(spec.gradualRollback.stepSize, 20);
    assert.equal(spec.gradualRollback.intervalMs, STEP_INTERVAL_MS);
    await stack.client.start(spec);

    await stack.waitForStatus('the 60% phase', (s) => s.phase === 'sixty' && s.weight === 60, 150_000);
    assert.deepEqual(await stack.haproxyWeights(), { stable: 40, canary: 60 });
    const canaryPid = await stack.pid('canary');
    assert.ok(canaryPid, 'canary not running at 60%');

    await stack.setFault('canary', { latencyMs: 300 });
    const injectedAt = performance.now();
    // Every weight HAProxy reports, with when it was first seen.
    const seen: { canary: number; stable: number; atMs: number }[] = [];
    const deadline = injectedAt + 120_000;
    while (performance.now() < deadline) {
      const w = await stack.haproxyWeights();
      const last = seen[seen.length - 1];
      if (!last || last.canary !== w.canary) seen.push({ ...w, atMs: performance.now() - injectedAt });
      if (w.canary === 0) break;
      await sleep(50);
    }
    const lines = seen.map((s, i) => {
      const gap = i > 0 ? `  (+${((s.atMs - (seen[i - 1] as { atMs: number }).atMs) / 1000).toFixed(2)} s)` : '';
      return `  ${(s.atMs / 1000).toFixed(2).padStart(7)} s  canary ${String(s.canary).padStart(3)}  stable ${String(s.stable).padStart(3)}${gap}`;
    });
    console.log(['', 'HAProxy weights after the latency fault (time since injection):', ...lines, ''].join('\n'));

    assert.deepEqual(seen.map((s) => s.canary), [60, 40, 20, 0], `worker log:\n${await stack.logTail('worker')}`);
    for (const s of seen) assert.equal(s.canary + s.stable, 100);
    // Each step is held for the interval; the 50 ms polling and activity latency add a little.
    for (const i of [2, 3]) {
      const gap = (seen[i] as { atMs: number }).atMs - (seen[i - 1] as { atMs: number }).atMs;
      assert.ok(gap >= STEP_INTERVAL_MS - 300 && gap <= STEP_INTERVAL_MS + 5_000, `step ${i} came ${gap.toFixed(0)} ms after the previous one`);
    }

    const result = await stack.client.result(stack.service);
    assert.equal(result.outcome, 'rolled_back', `outcome ${result.outcome}: ${result.reason}`);
    assert.match(result.reason, /p95_latency/);
    const down = result.timeline.filter((t) => t.reason.startsWith('gradual rollback'));
    assert.deepEqual(down.map((t) => t.weight), [40, 20, 0]);
    assert.deepEqual(result.timeline.map((t) => t.weight), [0, 5, 20, 40, 60, 40, 20, 0]);

    await stack.waitFor('canary process gone', () => !pidAlive(canaryPid), 30_000);
    assert.ok(await portClosed(stack.config.ports.canary), 'canary port still accepts connections');
    const alerts = await stack.alerts('alertname="CanaryRolledBack"', `rollout_id="rollout-${stack.service}"`);
    assert.equal(alerts.length, 1);
  });
});
