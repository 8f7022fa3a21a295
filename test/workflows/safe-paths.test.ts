/**
 * The failure paths of a rollout on the time-skipping server, with activity doubles: it never
 * removes the last serving version, obeys and acknowledges every operator action, and trusts only
 * what it measured. Minutes are workflow time since the warm-up began.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createTimeSkippingEnv } from '../helpers/temporal';
import {
  abortUpdate,
  pauseUpdate,
  promoteSignal,
  promoteUpdate,
  resumeUpdate,
  statusQuery,
  type RolloutStatus,
} from '../../workflows/contract';
import type { canaryRollout } from '../../workflows';
import { FakeWorld, HEALTHY } from './fake-world';
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

type Handle = WorkflowHandle<typeof canaryRollout>;

/**
 * Time steps that never line up with the 30 s analysis cadence. The time-skipping server strands a
 * run whose workflow task cancels a timer that fired while the task was with the worker
 * (temporalio/sdk-java#3088): a signal sent right as a skip lands just before a timer is due does
 * that. Real servers handle it; off-cadence steps keep the tests clear of it.
 */
const STEP_MS = 47_000;
const OFF_CADENCE_MS = 13_000;

/** Steps workflow time in `stepMs` until the status satisfies `ok`; fails after `maxSteps`. */
async function waitForStatus(
  handle: Handle,
  ok: (s: RolloutStatus) => boolean,
  { stepMs = 4_700, maxSteps = 200 } = {},
): Promise<RolloutStatus> {
  let last: RolloutStatus | undefined;
  for (let i = 0; i < maxSteps; i++) {
    last = await handle.query(statusQuery);
    if (ok(last)) return last;
    await env.sleep(stepMs);
  }
  assert.fail(`status never matched; last: ${JSON.stringify({ state: last?.state, weight: last?.weight, stuck: last?.stuckReason })}`);
}

/** The canary errors once it has 20%: the seed's critical error rate, an immediate rollback. */
function failingAt20(world: FakeWorld): void {
  world.metric = (q, weight) => (q.metric === 'error_rate' && q.target === 'canary' && weight >= 20 ? 0.05 : HEALTHY[q.metric]);
}

/** Waits in real time (activities run in real time) for `ok`, at most 10 s. */
async function until(ok: () => boolean): Promise<void> {
  const started = Date.now();
  while (!ok()) {
    assert.ok(Date.now() - started < 10_000, 'condition not reached within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function refusal(update: Promise<unknown>): Promise<string> {
  try {
    await update;
  } catch (err) {
    assert.ok(err instanceof WorkflowUpdateFailedError, `expected a rejected update, got ${String(err)}`);
    return err.cause?.message ?? err.message;
  }
  assert.fail('the update was accepted');
}

describe('never removes the last serving version', () => {
  it('stable DOWN during an immediate rollback: stuck, canary keeps serving, critical alert at once; converges when stable is back', async () => {
    const world = new FakeWorld();
    failingAt20(world);
    world.stableUp = false;
    const run = await runRollout(env, seedSpec(), {
      world,
      record: 'v2-stuck-rollback-converges',
      drive: async (handle) => {
        const stuck = await waitForStatus(handle, (s) => s.state === 'stuck');
        assert.match(stuck.stuckReason ?? '', /stable is DOWN/);
        assert.equal(stuck.weight, 20, 'the canary keeps its traffic');
        const stuckAlert = world.alerts.find((a) => a.name === 'CanaryRollbackStuck');
        assert.equal(stuckAlert?.severity, 'critical');
        assert.equal(world.count('terminateCanary'), 0, 'the canary is not terminated while it serves');
        // Retrying for a while does not give up and does not terminate the canary either.
        await env.sleep(30 * MINUTE);
        assert.equal((await handle.query(statusQuery)).state, 'stuck');
        assert.equal(world.count('terminateCanary'), 0);
        assert.ok(world.canaryRunning);
        world.stableUp = true;
      },
    });
    assert.equal(run.result.outcome, 'rolled_back');
    assert.equal(run.result.finalWeight, 0);
    assert.equal(world.canaryRunning, false);
    const terminatedAt = world.calls.findIndex((c) => c.activity === 'terminateCanary');
    // The alert went out on the first failed drain, before any retry succeeded.
    const firstStuckAlert = world.calls.findIndex((c) => c.alert?.name === 'CanaryRollbackStuck');
    const at20 = world.calls.findIndex((c) => c.activity === 'setCanaryWeight' && c.weight === 20);
    const firstDrainAttempt = world.calls.findIndex((c, i) => i > at20 && c.activity === 'setCanaryWeight' && c.weight === 0);
    assert.ok(firstStuckAlert > firstDrainAttempt && firstStuckAlert <= firstDrainAttempt + 2, 'critical alert right after the first failed drain (2 attempts)');
    const lastDrain = world.calls.map((c, i) => (c.activity === 'setCanaryWeight' && c.weight === 0 ? i : -1)).reduce((a, b) => Math.max(a, b));
    assert.ok(terminatedAt > lastDrain, 'terminated only after the drain that succeeded');
  });

  it('stuck rollback: abort --force drains anyway and ends aborted with the truth in its reason', async () => {
    const world = new FakeWorld();
    failingAt20(world);
    world.stableUp = false;
    let ack;
    const run = await runRollout(env, seedSpec(), {
      world,
      record: 'v2-stuck-abort-force',
      drive: async (handle) => {
        await waitForStatus(handle, (s) => s.state === 'stuck');
        assert.match(await refusal(handle.executeUpdate(pauseUpdate, { args: [{}] })), /stuck/);
        ack = await handle.executeUpdate(abortUpdate, { args: [{ reason: 'stable is gone, drain', by: 'alice', force: true }] });
      },
    });
    assert.match(String((ack as { message?: string } | undefined)?.message), /force/);
    assert.equal(run.result.outcome, 'rolled_back', 'an abort during a rollback keeps the rollback outcome');
    assert.match(run.result.reason, /forced by operator: stable is gone, drain \(by alice\)/);
    assert.ok(world.calls.some((c) => c.activity === 'setCanaryWeight' && c.force === true && c.weight === 0));
    assert.equal(world.canaryRunning, false);
  });

  it('a failed activity with stable DOWN: the failure path keeps the canary until traffic is verified on stable', async () => {
    const world = new FakeWorld();
    world.failures.setCanaryWeight = (input) =>
      (input as { weight: number }).weight === 40
        ? ApplicationFailure.create({ type: 'TrafficTargetNotFoundError', message: 'No such server.', nonRetryable: true })
        : undefined;
    const run = await runRollout(env, seedSpec(), {
      world,
      drive: async (handle) => {
        await waitForStatus(handle, (s) => s.weight === 20, { stepMs: STEP_MS });
        world.stableUp = false;
        await waitForStatus(handle, (s) => s.state === 'stuck', { stepMs: STEP_MS });
        await env.sleep(20 * MINUTE);
        assert.equal(world.count('terminateCanary'), 0, 'never terminates the only serving version');
        world.stableUp = true;
      },
    });
    assert.equal(run.result.outcome, 'failed');
    assert.match(run.result.reason, /setCanaryWeight failed: No such server/);
    assert.equal(run.result.finalWeight, 0);
    assert.equal(world.canaryRunning, false);
  });

  it('promotion fails after the old stable was replaced: traffic stays on the serving canary, outcome failed with the truth', async () => {
    const world = new FakeWorld();
    world.failures.promoteCanary = () =>
      ApplicationFailure.create({ type: 'PlatformCommandError', message: 'new stable exited 1', nonRetryable: true });
    const run = await runRollout(env, seedSpec(), {
      world,
      record: 'v2-promotion-fails',
      drive: async (handle) => {
        await waitForStatus(handle, (s) => s.weight === 5, { stepMs: STEP_MS });
        await handle.signal(promoteSignal, { reason: 'ship it' });
      },
    });
    assert.equal(run.result.outcome, 'failed');
    assert.match(run.result.reason, /promotion failed .*new stable exited 1.*traffic stays on the canary v2 at 100%/);
    assert.equal(run.result.finalWeight, 100);
    assert.deepEqual(world.weights.slice(-1), [100], 'no move to the replaced stable slot');
    assert.equal(world.count('terminateCanary'), 0);
    assert.ok(world.canaryRunning);
    assert.ok(world.alerts.some((a) => a.name === 'CanaryPromotionFailed' && a.severity === 'critical'));
  });

  it('finalize re-applies 100% and verifies it before touching the stable slot', async () => {
    const world = new FakeWorld();
    const run = await runRollout(env, seedSpec(), { world });
    assert.equal(run.result.outcome, 'promoted');
    const promoteAt = world.calls.findIndex((c) => c.activity === 'promoteCanary');
    const last100 = world.calls.map((c, i) => (c.activity === 'setCanaryWeight' && c.weight === 100 ? i : -1)).filter((i) => i >= 0);
    assert.equal(last100.length, 2, 'the step to 100% and its re-application at finalize');
    assert.equal(last100[1], promoteAt - 1, 'verified 100% immediately before the stable slot is replaced');
  });
});

describe('every operator action is honoured, acknowledged and visible', () => {
  it('abort during the health check cancels it within seconds and ends aborted', async () => {
    const world = new FakeWorld();
    world.healthHangs = true;
    let abortedAtMs = 0;
    const run = await runRollout(env, seedSpec(), {
      world,
      drive: async (handle) => {
        await until(() => world.count('checkCanaryHealth') > 0);
        const ack = await handle.executeUpdate(abortUpdate, { args: [{ reason: 'wrong build' }] });
        assert.match(ack.message, /aborting/);
        abortedAtMs = Date.now();
      },
    });
    const tookMs = Date.now() - abortedAtMs;
    console.log(`measured: abort during health check -> ended in ${tookMs} ms`);
    assert.equal(run.result.outcome, 'aborted');
    assert.match(run.result.reason, /wrong build/);
    assert.ok(tookMs < 5_000, `abort took ${tookMs} ms`);
    assert.equal(world.canaryRunning, false);
    assert.equal(world.weights.filter((w) => w > 0).length, 0, 'no traffic ever reached the canary');
  });

  it('abort during finalize before the point of no return rolls back; the stable slot is never touched', async () => {
    const world = new FakeWorld();
    const run = await runRollout(env, seedSpec(), {
      world,
      drive: async (handle) => {
        await waitForStatus(handle, (s) => s.weight === 5, { stepMs: STEP_MS });
        world.weightHangs = 100;
        await handle.executeUpdate(promoteUpdate, { args: [{ reason: 'ship it' }] });
        await until(() => world.weights.includes(100));
        const ack = await handle.executeUpdate(abortUpdate, { args: [{ reason: 'wait, no' }] });
        assert.match(ack.message, /aborting/);
        world.weightHangs = null;
      },
    });
    assert.equal(run.result.outcome, 'aborted');
    assert.equal(world.count('promoteCanary'), 0);
    assert.deepEqual(world.weights.slice(-2), [100, 0]);
    assert.equal(world.canaryRunning, false);
  });

  it('abort after the point of no return is refused with the reason, and promotion completes', async () => {
    const world = new FakeWorld();
    world.promoteHangs = true;
    let refused = '';
    const run = await runRollout(env, seedSpec(), {
      world,
      drive: async (handle) => {
        await waitForStatus(handle, (s) => s.weight === 5, { stepMs: STEP_MS });
        await handle.executeUpdate(promoteUpdate, { args: [{ reason: 'ship it', by: 'bob' }] });
        await until(() => world.count('promoteCanary') > 0);
        refused = await refusal(handle.executeUpdate(abortUpdate, { args: [{ reason: 'too late' }] }));
        world.promoteHangs = false;
      },
    });
    assert.match(refused, /abort refused: promotion has passed the point of no return/);
    assert.equal(run.result.outcome, 'promoted');
  });

  it('pause during a gradual rollback holds its weight while analysis goes on; resume continues; promote is refused', async () => {
    const world = new FakeWorld();
    world.metric = (q, weight) =>
      q.metric === 'task_success_rate' && q.target === 'canary' && weight >= 60 ? 0.95 : HEALTHY[q.metric];
    const run = await runRollout(env, seedSpec(), {
      world,
      record: 'v2-pause-gradual-rollback',
      drive: async (handle) => {
        await waitForStatus(handle, (s) => s.state === 'rolling_back' && s.weight === 40, { stepMs: 9_700, maxSteps: 400 });
        const ack = await handle.executeUpdate(pauseUpdate, { args: [{ reason: 'look first' }] });
        assert.match(ack.message, /holds its weight/);
        const analysesBefore = world.count('analyseCanary');
        await env.sleep(5 * MINUTE + OFF_CADENCE_MS);
        const held = await handle.query(statusQuery);
        assert.equal(held.weight, 40, 'weight held while paused');
        assert.equal(held.paused, true);
        assert.ok(world.count('analyseCanary') >= analysesBefore + 9, 'analysis goes on while paused');
        assert.match(await refusal(handle.executeUpdate(promoteUpdate, { args: [{}] })), /promote refused: a rollback is in progress/);
        await handle.executeUpdate(resumeUpdate, { args: [{}] });
      },
    });
    assert.equal(run.result.outcome, 'rolled_back');
    const after60 = run.timeline.slice(run.timeline.findIndex((t) => t.weight === 60)).map((t) => t.weight);
    assert.deepEqual(after60, [60, 40, 20, 0]);
    const status = run.result;
    assert.equal(status.finalWeight, 0);
  });

  it('an immediate trigger during a paused gradual rollback still rolls back at once', async () => {
    const world = new FakeWorld();
    let critical = false;
    world.metric = (q, weight) => {
      if (q.target !== 'canary') return HEALTHY[q.metric];
      if (q.metric === 'task_success_rate' && weight >= 40) return 0.95;
      if (q.metric === 'error_rate' && critical) return 0.2;
      return HEALTHY[q.metric];
    };
    const run = await runRollout(env, seedSpec(), {
      world,
      drive: async (handle) => {
        await waitForStatus(handle, (s) => s.state === 'rolling_back' && s.weight === 20, { stepMs: 9_700, maxSteps: 400 });
        await handle.executeUpdate(pauseUpdate, { args: [{ reason: 'hold it' }] });
        critical = true;
      },
    });
    assert.equal(run.result.outcome, 'rolled_back');
    assert.match(run.result.reason, /error_rate/);
    assert.deepEqual(run.timeline.slice(-2).map((t) => t.weight), [20, 0]);
    assert.match(run.timeline.at(-1)?.reason ?? '', /^immediate rollback: /);
  });

  it('updates answer accepted or refused with a reason, and the audit trail records both', async () => {
    const run = await runRollout(env, seedSpec(), {
      drive: async (handle) => {
        await waitForStatus(handle, (s) => s.weight === 5, { stepMs: STEP_MS });
        assert.match(await refusal(handle.executeUpdate(resumeUpdate, { args: [{}] })), /not paused/);
        const paused = await handle.executeUpdate(pauseUpdate, { args: [{ reason: 'coffee', by: 'carol' }] });
        assert.deepEqual([paused.action, paused.state], ['pause', 'paused']);
        assert.match(await refusal(handle.executeUpdate(pauseUpdate, { args: [{}] })), /already paused/);
        const status = await handle.query(statusQuery);
        assert.deepEqual(
          status.operatorEvents.map((e) => [e.action, e.by, e.accepted]),
          [['pause', 'carol', true]],
          'a rejected update leaves no trace in history; an accepted one is audited',
        );
        await handle.executeUpdate(abortUpdate, { args: [{ reason: 'done testing' }] });
      },
    });
    assert.equal(run.result.outcome, 'aborted');
  });
});

describe('trusts what it measures', () => {
  it('re-applies the planned weight when the load balancer drifted, with a warning alert', async () => {
    const world = new FakeWorld();
    const run = await runRollout(env, seedSpec(), {
      world,
      record: 'v5-traffic-drift',
      drive: async (handle) => {
        await waitForStatus(handle, (s) => s.weight === 20, { stepMs: STEP_MS });
        world.routerWeight = 0; // an HAProxy reload reset the weights
        await waitForStatus(handle, () => world.routerWeight === null, { stepMs: 4_700, maxSteps: 20 });
      },
    });
    assert.equal(run.result.outcome, 'promoted');
    assert.ok(run.timeline.some((t) => t.weight === 20 && /drift re-applied/.test(t.reason)));
    assert.ok(world.alerts.some((a) => a.name === 'CanaryTrafficDrift' && a.severity === 'warning'));
  });

  it('a failing analysis activity (hung Prometheus) is no data, never a failed rollout', async () => {
    const world = new FakeWorld();
    world.failures.analyseCanary = () => ApplicationFailure.create({ type: 'Error', message: 'Activity task timed out' });
    const run = await runRollout(env, seedSpec(), { world });
    assert.equal(run.result.outcome, 'rolled_back', run.result.reason);
    assert.match(run.result.reason, /no data for 3 consecutive analyses/);
  });

  it('+Inf from histogram_quantile breaches an upper-bound check instead of being no data', async () => {
    const world = new FakeWorld();
    world.metric = (q, weight) =>
      q.metric === 'p99_latency' && q.target === 'canary' && weight >= 5 ? { status: 'infinite', detail: '+Inf' } : HEALTHY[q.metric];
    const run = await runRollout(env, seedSpec(), { world });
    assert.notEqual(run.result.outcome, 'promoted');
    const p99 = run.result.checks.find((c) => c.check.startsWith('p99_latency'));
    assert.ok(p99 && (p99.outcome === 'breach' || p99.outcome === 'critical'), JSON.stringify(p99));
    assert.match(p99.detail ?? '', /\+Inf/);
  });

  it('too few canary requests is insufficient_samples, never a pass, and the phase does not advance', async () => {
    const world = new FakeWorld();
    world.metric = (q) => (q.metric === 'request_count' ? 12 : HEALTHY[q.metric]);
    const run = await runRollout(env, seedSpec({ noData: { action: 'hold' } }), {
      world,
      drive: async (handle) => {
        await env.sleep(20 * MINUTE + OFF_CADENCE_MS);
        const status = await handle.query(statusQuery);
        assert.equal(status.weight, 5, 'held at 5%: the phase did not advance');
        const errorRate = status.checks.find((c) => c.check === 'error_rate.critical');
        assert.equal(errorRate?.outcome, 'insufficient_samples');
        assert.equal(errorRate?.requests, 12);
        assert.equal(errorRate?.minRequests, 50);
        await handle.executeUpdate(abortUpdate, { args: [{ reason: 'no traffic' }] });
      },
    });
    assert.equal(run.result.outcome, 'aborted');
  });

  it('pre-flight: a metric with no series for stable fails the rollout before anything is deployed', async () => {
    const world = new FakeWorld();
    world.preflightProblems = [
      { metric: 'cache_hit_rate', query: 'avg(avg_over_time(cache_hit_rate{service="checkout"}[5m]))', status: 'no_data', detail: 'empty result', optional: false },
      { metric: 'agent_health_score', query: 'q', status: 'no_data', detail: 'empty result', optional: true },
    ];
    const run = await runRollout(env, seedSpec(), { world });
    assert.equal(run.result.outcome, 'failed');
    assert.match(run.result.reason, /pre-flight: .*cache_hit_rate .*query: avg\(avg_over_time\(cache_hit_rate/);
    assert.doesNotMatch(run.result.reason, /agent_health_score/);
    assert.equal(world.count('deployCanary'), 0);
    assert.equal(world.count('setCanaryWeight'), 0);
  });

  it('pre-flight rides out lost attempts (a worker died, Prometheus restarting); only five failures fail the rollout', async () => {
    const lost = () => ApplicationFailure.create({ type: 'Error', message: 'Activity task timed out' });
    const flaky = new FakeWorld();
    let attempts = 0;
    flaky.failures.preflightMetrics = () => (++attempts <= 3 ? lost() : undefined);
    const rides = await runRollout(env, seedSpec(), { world: flaky });
    assert.equal(rides.result.outcome, 'promoted', rides.result.reason);
    assert.equal(attempts, 4);

    const down = new FakeWorld();
    down.failures.preflightMetrics = lost;
    const fails = await runRollout(env, seedSpec(), { world: down });
    assert.equal(fails.result.outcome, 'failed');
    assert.match(fails.result.reason, /pre-flight: metrics could not be checked/);
    assert.equal(down.count('preflightMetrics'), 5);
    assert.equal(down.count('deployCanary'), 0, 'nothing deployed');
  });

  it('gradual rollback analyses on its own cadence when analysisInterval exceeds the rollback interval', async () => {
    const world = new FakeWorld();
    world.metric = (q, weight) =>
      q.metric === 'task_success_rate' && q.target === 'canary' && weight >= 60 ? 0.95 : HEALTHY[q.metric];
    const run = await runRollout(env, seedSpec({ analysisInterval: '90s', failureLimit: 1 }), { world });
    assert.equal(run.result.outcome, 'rolled_back');
    const start = world.calls.findIndex((c, i) => c.activity === 'setCanaryWeight' && c.weight === 40 && i > 0);
    const during = world.calls.slice(start).filter((c) => c.activity === 'analyseCanary');
    assert.ok(during.length >= 1, `analyses during a 3-minute gradual rollback with 90 s cadence: ${during.length}`);
  });
});
