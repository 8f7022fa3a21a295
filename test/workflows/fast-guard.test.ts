/**
 * The HAProxy fast guard in the rollout workflow, on the time-skipping server with the activity
 * doubles: a breach rolls back at once, a failing guard never stops the rollout, and a spec
 * without the guard never schedules it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { GuardCanaryResult } from '../../activities/types';
import { statusQuery } from '../../workflows/contract';
import { createTimeSkippingEnv } from '../helpers/temporal';
import { FakeWorld, HEALTHY } from './fake-world';
import { runRollout, workflowBundle } from './harness';
import { seedSpec } from './spec-fixture';

let env: TestWorkflowEnvironment;

before(async () => {
  env = await createTimeSkippingEnv();
  await workflowBundle();
});

after(async () => {
  await env?.teardown();
});

/** A compressed plan so a whole rollout is a few simulated minutes. */
const SHORT_PLAN = {
  warmup: { duration: '1m' },
  trafficControl: {
    phases: [
      { name: 'initial_canary', percentage: 5, duration: '2m' },
      { name: 'expanded_canary', percentage: 20, duration: '2m' },
      { name: 'full_rollout', incrementSize: 40, interval: '1m' },
    ],
  },
};

/**
 * A plan in seconds. While an activity runs the test server does not skip time, and a healthy
 * guard runs for as long as the canary has traffic: this plan passes in real seconds.
 */
const SECONDS_PLAN = {
  warmup: { duration: '1s' },
  analysisInterval: '1s',
  trafficControl: {
    phases: [
      { name: 'initial_canary', percentage: 5, duration: '2s' },
      { name: 'full_rollout', incrementSize: 50, interval: '2s' },
    ],
  },
};

/**
 * The workflow's activity commands in history order: each scheduled activity's type, and
 * `cancel <type>` where the workflow asked to cancel one (the activity itself learns of it later,
 * with a heartbeat's answer).
 */
async function activityOrder(workflowId: string): Promise<string[]> {
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  const types = new Map<string, string>();
  const order: string[] = [];
  for (const e of history.events ?? []) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) {
      const type = scheduled.activityType?.name ?? '?';
      types.set(String(e.eventId), type);
      order.push(type);
    }
    const cancel = e.activityTaskCancelRequestedEventAttributes;
    if (cancel) order.push(`cancel ${types.get(String(cancel.scheduledEventId)) ?? '?'}`);
  }
  return order;
}

const breach = (errors: number, requests: number): GuardCanaryResult => ({
  breached: true,
  errorRate: errors / requests,
  requests,
  errors,
  windowMs: 2_000,
  spanMs: 1_800,
  samples: 12,
  detail: `${errors} of ${requests} canary responses were 5xx`,
});

describe('the fast guard in canaryRollout', () => {
  it('rolls back at once when the guard reports a breach, naming the guard, ratio, requests and window', async () => {
    const world = new FakeWorld();
    // HAProxy sees the canary fail as soon as it has traffic; Prometheus never does.
    world.guard = (weight) => (weight > 0 ? breach(6, 120) : null);
    const run = await runRollout(env, seedSpec({ ...SHORT_PLAN, fastGuard: { enabled: true } }), { world, record: 'v4-fast-guard-breach' });
    assert.equal(run.result.outcome, 'rolled_back', run.result.reason);
    assert.match(run.result.reason, /^fast guard \(HAProxy\): canary 5xx ratio 5% \(6 of 120 requests\) over the 2000 ms window, at or above 1%/);
    // Weight 0 follows the 5% step at once: no analysis tick (30 s) came first, and the fake analysis is healthy anyway.
    assert.deepEqual(
      run.timeline.map((t) => [t.minute, t.weight]),
      [
        [0, 0],
        [1, 5],
        [1, 0],
      ],
    );
    assert.equal(run.world.count('analyseCanary'), 0);
    assert.equal(run.world.count('terminateCanary'), 1);
    assert.ok(run.world.alerts.some((a) => a.severity === 'critical' && a.name === 'CanaryRolledBack' && /fast guard/.test(a.reason)));
    // Started when the canary took traffic, never during the warm-up at 0%.
    const guardCalls = run.world.calls.filter((c) => c.activity === 'guardCanary');
    assert.ok(guardCalls.length >= 1);
    assert.ok(guardCalls.every((c) => (c.weight ?? 0) > 0), JSON.stringify(guardCalls));
  });

  it('keeps the rollout going when the guard cannot sample HAProxy: one warning alert, restarted with backoff', async () => {
    const world = new FakeWorld();
    world.guard = () =>
      ApplicationFailure.create({ type: 'TrafficUnavailableError', message: 'HAProxy runtime API at 127.0.0.1:9999 unreachable' });
    let seen: unknown;
    const run = await runRollout(env, seedSpec({ ...SHORT_PLAN, fastGuard: { enabled: true } }), {
      world,
      record: 'v4-fast-guard-failing',
      drive: async (handle) => {
        // Wait (bounded) until the status shows the failed guard.
        const deadline = Date.now() + 30_000;
        for (;;) {
          const status = await handle.query(statusQuery);
          if ((status.fastGuard?.failures ?? 0) > 0) {
            seen = status.fastGuard;
            return;
          }
          if (Date.now() > deadline) throw new Error(`guard failure never shown: ${JSON.stringify(status.fastGuard)}`);
          await env.sleep(5_000);
        }
      },
    });
    assert.equal(run.result.outcome, 'promoted', run.result.reason);
    const warnings = run.world.alerts.filter((a) => a.name === 'CanaryFastGuardDown');
    assert.equal(warnings.length, 1, JSON.stringify(run.world.alerts));
    assert.equal(warnings[0]?.severity, 'warning');
    assert.match(warnings[0]?.reason ?? '', /unreachable.*Prometheus analysis still protects/);
    assert.match(JSON.stringify(seen), /unreachable/);
    // Restarted: more attempts than the activity's own retries of one attempt.
    assert.ok(run.world.count('guardCanary') > 3, `guard attempts: ${run.world.count('guardCanary')}`);
  });

  it('schedules no guard activity when the spec leaves it off', async () => {
    for (const overrides of [{}, { fastGuard: { enabled: false } }]) {
      const run = await runRollout(env, seedSpec({ ...SHORT_PLAN, ...overrides }));
      assert.equal(run.result.outcome, 'promoted', run.result.reason);
      assert.equal(run.world.count('guardCanary'), 0, JSON.stringify(overrides));
      assert.ok(run.world.count('analyseCanary') > 0);
    }
  });

  it('samples beside the analysis while the canary has traffic and is cancelled before promotion', async () => {
    const world = new FakeWorld();
    const run = await runRollout(env, seedSpec({ ...SECONDS_PLAN, fastGuard: { enabled: true } }), { world });
    assert.equal(run.result.outcome, 'promoted', run.result.reason);
    // One sampling attempt covered every traffic step (never restarted while it works) ...
    assert.equal(run.world.calls.filter((c) => c.activity === 'guardCanary' && !c.cancelled).length, 1);
    assert.ok(run.world.count('analyseCanary') > 0);
    // ... and the workflow cancelled it before it asked for the promotion.
    const order = await activityOrder(run.workflowId);
    assert.ok(order.indexOf('cancel guardCanary') >= 0, order.join(', '));
    assert.ok(order.indexOf('cancel guardCanary') < order.indexOf('promoteCanary'), order.join(', '));
  });

  it('cancels the guard when a rollback starts from the Prometheus analysis', async () => {
    const world = new FakeWorld();
    world.metric = (q, weight) => (q.metric === 'error_rate' && q.target === 'canary' && weight > 0 ? 0.05 : HEALTHY[q.metric]);
    const run = await runRollout(env, seedSpec({ ...SECONDS_PLAN, fastGuard: { enabled: true } }), { world });
    assert.equal(run.result.outcome, 'rolled_back', run.result.reason);
    assert.match(run.result.reason, /critical|error_rate/);
    const order = await activityOrder(run.workflowId);
    assert.ok(order.indexOf('cancel guardCanary') >= 0, order.join(', '));
    assert.ok(order.indexOf('cancel guardCanary') < order.indexOf('terminateCanary'), order.join(', '));
  });
});
