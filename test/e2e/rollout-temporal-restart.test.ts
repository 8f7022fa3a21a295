/**
 * Scenario 6: the Temporal dev server is stopped mid-rollout and started again on the same SQLite
 * file. The worker (a separate process of the stack, never restarted here) must reconnect on its
 * own; the rollout then continues and is promoted, and its timeline holds each weight once.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { buildPlan } from '../../workflows/plan';
import { portClosed, startStack, type Stack } from '../helpers/stack';

describe('scenario 6: Temporal dev server restarted mid-rollout (real stack)', { timeout: 300_000 }, () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack({ loadRate: 150 });
  });

  after(async () => {
    await stack?.teardown();
  });

  test('the rollout continues after the restart, is promoted, and each weight is set once', async (t: TestContext) => {
    const spec = stack.spec({
      warmup: { duration: '2s' },
      analysisInterval: '1s',
      trafficControl: {
        phases: [
          { name: 'initial_canary', percentage: 5, duration: '10s', errorThreshold: '0.5%', latencyThreshold: '300ms' },
          { name: 'expanded_canary', percentage: 20, duration: '6s', errorThreshold: '0.5%', latencyThreshold: '300ms' },
          { name: 'full_rollout', incrementSize: 40, intervalSeconds: 4, maxErrorRate: '1%' },
        ],
      },
    });
    const started = await stack.client.start(spec);
    await stack.waitFor(
      'canary at 5% with an analysis done',
      async () => {
        const s = await stack.status();
        return s.weight === 5 && s.lastAnalysisAt !== null ? s : undefined;
      },
      90_000,
    );

    const oldPid = await stack.pid('temporal');
    const workerPid = await stack.pid('worker');
    assert.ok(oldPid && workerPid);
    const stoppedAt = Date.now();
    await stack.stopPart('temporal');
    assert.ok(await portClosed(stack.endpoints.ports.temporal), 'Temporal frontend is down');
    // Down long enough for the worker's polls and an analysis' completion to fail.
    await new Promise((r) => setTimeout(r, 5_000));
    await stack.startPart('temporal');
    const restartedAt = Date.now();
    const newPid = await stack.pid('temporal');
    assert.ok(newPid && newPid !== oldPid, `a new Temporal process runs (old ${oldPid}, new ${newPid})`);
    assert.equal(await stack.pid('worker'), workerPid, 'the worker was not restarted');

    const progressed = await stack.waitFor(
      'the rollout progressing after the restart',
      async () => {
        const s = await stack.status();
        return Date.parse(s.lastAnalysisAt ?? '') > restartedAt || s.state === 'promoted' ? s : undefined;
      },
      90_000,
    );
    t.diagnostic(
      `Temporal down ${restartedAt - stoppedAt} ms (incl. start); first analysis after restart ` +
        `${Date.parse(progressed.lastAnalysisAt ?? '') - restartedAt} ms later at ${progressed.weight}%`,
    );

    const result = await stack.client.result(started.rolloutId);
    t.diagnostic(`outcome ${result.outcome} ${Date.now() - restartedAt} ms after the restart; timeline ${result.timeline.map((c) => c.weight).join(' → ')}`);
    assert.equal(result.outcome, 'promoted', `${result.outcome}: ${result.reason}`);
    assert.deepEqual(result.timeline.map((c) => c.weight), [...buildPlan(spec).map((s) => s.weight), 0]);
    assert.deepEqual(await stack.haproxyWeights(), { stable: 100, canary: 0 });
    const stable = await stack.stats('stable');
    assert.equal(stable.version, spec.canary.version, 'the stable slot now serves the promoted version');
  });
});
