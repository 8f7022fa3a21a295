/**
 * The fresh baseline (`judge.freshBaseline`, issue 11) in the rollout workflow, on the
 * time-skipping server with the seed's timings: deployed and health-checked after the canary and
 * before any traffic, given the share rule's weight with every weight change, shown in the status,
 * and terminated with the canary: before the promotion, on rollback, and on a failed rollout.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { JudgeCanaryInput } from '../../activities/types';
import type { JudgeResult } from '../../activities/judge/types';
import { formatStatus } from '../../client/render';
import { abortUpdate, statusQuery, type RolloutStatus } from '../../workflows/contract';
import { createTimeSkippingEnv } from '../helpers/temporal';
import { FakeWorld, type Call } from './fake-world';
import { MINUTE, runRollout, workflowBundle } from './harness';
import { seedSpec } from './spec-fixture';

let env: TestWorkflowEnvironment;

before(async () => {
  env = await createTimeSkippingEnv();
  await workflowBundle();
});

after(async () => {
  await env?.teardown();
});

/** The operator's slots: the process platform's baselinePort and HAProxy's baseline server. */
function freshBaselineSpec() {
  return seedSpec({
    traffic: { kind: 'haproxy', runtimeApi: '127.0.0.1:9999', backend: 'checkout', stableServer: 'stable', canaryServer: 'canary', baselineServer: 'baseline' },
    platform: { kind: 'process', command: ['demo', '{{version}}', '{{port}}'], stablePort: 8081, canaryPort: 8082, baselinePort: 8079 },
    judge: { metrics: [{ metric: 'p95_latency', critical: true }], freshBaseline: true },
  });
}

const PLATFORM_CALLS: Call['activity'][] = ['deployCanary', 'checkCanaryHealth', 'deployBaseline', 'checkBaselineHealth', 'promoteCanary', 'terminateCanary', 'terminateBaseline'];

/** Platform calls and weight changes in order: `setCanaryWeight 20/20` is canary 20%, baseline 20%. */
function sequence(world: FakeWorld): string[] {
  return world.calls
    .filter((c) => c.activity === 'setCanaryWeight' || PLATFORM_CALLS.includes(c.activity))
    .map((c) => (c.activity === 'setCanaryWeight' ? `setCanaryWeight ${c.weight}/${c.baseline ?? '-'}` : c.activity));
}

function failAt(weight: number) {
  return (input: JudgeCanaryInput, w: number): JudgeResult['status'] => ({
    at: new Date().toISOString(),
    score: w === weight ? 0 : 100,
    verdict: w === weight ? 'fail' : 'pass',
    passThreshold: input.spec.judge?.passThreshold ?? 95,
    marginalThreshold: input.spec.judge?.marginalThreshold ?? 75,
    metrics: [],
  });
}

describe('the fresh baseline in canaryRollout', () => {
  it('deploys after the canary is healthy, shares min(canary, floor((100 - canary)/2)), and is terminated before the promotion', async () => {
    const world = new FakeWorld();
    let at20: RolloutStatus | undefined;
    const run = await runRollout(env, freshBaselineSpec(), {
      world,
      drive: async (handle) => {
        await env.sleep(20 * MINUTE);
        at20 = await handle.query(statusQuery);
      },
    });
    assert.equal(run.result.outcome, 'promoted', run.result.reason);
    assert.deepEqual(sequence(world), [
      'deployCanary',
      'checkCanaryHealth',
      'deployBaseline',
      'checkBaselineHealth',
      'setCanaryWeight 0/0',
      'setCanaryWeight 5/5',
      'setCanaryWeight 20/20',
      'setCanaryWeight 40/30',
      'setCanaryWeight 60/20',
      'setCanaryWeight 80/10',
      'setCanaryWeight 100/0',
      // finalize re-applies 100% and reads it back before anything is replaced
      'setCanaryWeight 100/0',
      'terminateBaseline',
      'promoteCanary',
      'setCanaryWeight 0/0',
      'terminateCanary',
    ]);
    assert.equal(world.baselineRunning, false);
    assert.deepEqual(at20?.freshBaseline, { version: 'v1', state: 'running', weight: 20 });
    assert.equal(at20?.weight, 20);
    const shown = at20 ? formatStatus(at20) : [];
    assert.ok(shown.includes('judge baseline: fresh v1 instance (running), 20% of traffic; stable 60%'), shown.join('\n'));
    assert.ok(shown.some((l) => l.startsWith('phase: expanded_canary (step 2)  weight: 20% (fresh baseline 20%)')), shown.join('\n'));
    assert.deepEqual(
      run.result.timeline.map((t) => [t.weight, t.baseline]),
      [[0, 0], [5, 5], [20, 20], [40, 30], [60, 20], [80, 10], [100, 0], [0, 0]],
      'the timeline records the baseline weight read back with each canary weight',
    );
  });

  it('is terminated with the canary when the judge rolls back, after traffic is back on stable', async () => {
    const world = new FakeWorld();
    world.judge = failAt(20);
    const run = await runRollout(env, freshBaselineSpec(), { world, record: 'v7-fresh-baseline-rollback' });
    assert.equal(run.result.outcome, 'rolled_back', run.result.reason);
    assert.deepEqual(sequence(world).slice(-4), ['setCanaryWeight 20/20', 'setCanaryWeight 0/0', 'terminateCanary', 'terminateBaseline']);
    assert.equal(world.count('terminateBaseline'), 1);
    assert.equal(world.baselineRunning, false);
    assert.equal(world.count('promoteCanary'), 0);
  });

  it('is terminated with the canary when an operator aborts at 20%', async () => {
    const world = new FakeWorld();
    const run = await runRollout(env, freshBaselineSpec(), {
      world,
      drive: async (handle) => {
        await env.sleep(13 * MINUTE);
        await handle.executeUpdate(abortUpdate, { args: [{ reason: 'wrong build', by: 'alice' }] });
      },
    });
    assert.equal(run.result.outcome, 'aborted', run.result.reason);
    assert.deepEqual(sequence(world).slice(-4), ['setCanaryWeight 20/20', 'setCanaryWeight 0/0', 'terminateCanary', 'terminateBaseline']);
    assert.equal(world.baselineRunning, false);
  });

  it('a baseline that never turns healthy fails the rollout before any traffic, and both instances are terminated', async () => {
    const world = new FakeWorld();
    world.failures.checkBaselineHealth = () => ApplicationFailure.create({ type: 'ProcessControlError', message: 'baseline exited', nonRetryable: true });
    const run = await runRollout(env, freshBaselineSpec(), { world });
    assert.equal(run.result.outcome, 'failed');
    assert.match(run.result.reason, /checkBaselineHealth failed: baseline exited/);
    assert.deepEqual(sequence(world), ['deployCanary', 'checkCanaryHealth', 'deployBaseline', 'checkBaselineHealth', 'setCanaryWeight 0/0', 'terminateCanary', 'terminateBaseline']);
    assert.equal(world.baselineRunning, false);
    assert.equal(world.canaryRunning, false);
  });

  it('a spec without it never deploys one', async () => {
    const world = new FakeWorld();
    const run = await runRollout(env, seedSpec({ trafficControl: { phases: [{ percentage: 5, duration: '2m' }] } }), { world });
    assert.equal(run.result.outcome, 'promoted');
    assert.equal(world.count('deployBaseline') + world.count('terminateBaseline'), 0);
    assert.ok(run.result.timeline.every((t) => t.baseline === undefined));
  });
});
