/**
 * The rollout workflow on the time-skipping server, with the seed's real durations and activity
 * doubles. Minutes below are workflow time since the warm-up began.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createTimeSkippingEnv } from '../helpers/temporal';
import { abortSignal, pauseSignal, promoteSignal, resumeSignal, statusQuery } from '../../workflows/contract';
import { canaryRollout } from '../../workflows';
import { FakeWorld, HEALTHY } from './fake-world';
import { MINUTE, runRollout, workflowBundle } from './harness';
import { seedSpec } from './spec-fixture';
import { Worker } from '@temporalio/worker';

let env: TestWorkflowEnvironment;

before(async () => {
  env = await createTimeSkippingEnv();
  await workflowBundle();
});

after(async () => {
  await env?.teardown();
});

/** Weight changes of the plan proper: the warm-up's 0 and the post-promotion drain left out. */
function steps(timeline: { minute: number; weight: number }[]): [number, number][] {
  return timeline.filter((t) => t.weight > 0).map((t) => [t.minute, t.weight]);
}

describe('canaryRollout on the time-skipping server', () => {
  it('walks the default plan on the seed timings and promotes', async () => {
    const run = await runRollout(env, seedSpec(), { record: 'v7-default-plan-promoted' });
    assert.equal(run.result.outcome, 'promoted', run.result.reason);
    assert.deepEqual(steps(run.timeline), [
      [2, 5],
      [12, 20],
      [27, 40],
      [32, 60],
      [37, 80],
      [42, 100],
    ]);
    const last = run.timeline[run.timeline.length - 1];
    assert.deepEqual([last?.minute, last?.weight], [47, 0], 'finalizes one interval after reaching 100%');
    assert.equal(run.world.count('deployCanary'), 1);
    assert.equal(run.world.count('promoteCanary'), 1);
    assert.ok(run.world.promoted);
    assert.equal(run.world.alerts.length, 0, 'a healthy canary raises no alert');
    // Analysis ran on every 30 s tick while the canary had traffic: 45 minutes of it.
    assert.equal(run.world.count('analyseCanary'), 90);
    assert.ok(run.result.checks.every((c) => c.outcome === 'pass'));
    // The scale budget (docs/scaling.md): each round is a local activity inside the task its timer
    // woke, so it costs a timer, one workflow task and a marker, and no activity task. So is each
    // forward weight change (local-weight-changes-v1).
    const events = (await env.client.workflow.getHandle(run.workflowId).fetchHistory()).events ?? [];
    const tasks = events.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
    assert.deepEqual(tasks.sort(), ['checkCanaryHealth', 'deployCanary', 'preflightMetrics', 'promoteCanary', 'resolveAlerts', 'resolveRollout', 'terminateCanary']);
    const local = events.flatMap((e) => {
      const m = e.markerRecordedEventAttributes;
      const data = m?.markerName === 'core_local_activity' ? m.details?.data?.payloads?.[0]?.data : undefined;
      return data ? [(JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type: string }).activity_type] : [];
    });
    const localCounts = Object.fromEntries([...new Set(local)].map((name) => [name, local.filter((n) => n === name).length]));
    assert.deepEqual(localCounts, { setCanaryWeight: 9, analyseCanary: 90 });
    assert.ok(events.length <= 90 * 6 + 120, `history has ${events.length} events for 90 analysis rounds`);
    console.log(`default plan timeline (min, weight): ${JSON.stringify(run.timeline.map((t) => [t.minute, t.weight]))}`);
  });

  it('rolls back at once on a critical error rate in phase 2', async () => {
    const world = new FakeWorld();
    world.metric = (q, weight) => (q.metric === 'error_rate' && q.target === 'canary' && weight >= 20 ? 0.05 : HEALTHY[q.metric]);
    const run = await runRollout(env, seedSpec(), { world, record: 'v7-immediate-rollback' });
    assert.equal(run.result.outcome, 'rolled_back');
    assert.match(run.result.reason, /error_rate > 1%|critical/);
    assert.deepEqual(
      run.timeline.map((t) => [t.minute, t.weight]),
      [
        [0, 0],
        [2, 5],
        [12, 20],
        [12.5, 0],
      ],
    );
    assert.equal(run.world.count('terminateCanary'), 1);
    assert.equal(run.world.canaryRunning, false);
    assert.ok(run.world.alerts.some((a) => a.severity === 'critical' && a.name === 'CanaryRolledBack'));
    assert.equal(run.world.count('promoteCanary'), 0);
  });

  it('rolls back gradually from 60%: 40, 20, 0 a minute apart', async () => {
    const world = new FakeWorld();
    world.metric = (q, weight) =>
      q.metric === 'task_success_rate' && q.target === 'canary' && weight >= 60 ? 0.95 : HEALTHY[q.metric];
    const run = await runRollout(env, seedSpec(), { world, record: 'v2-gradual-rollback' });
    assert.equal(run.result.outcome, 'rolled_back');
    assert.match(run.result.reason, /task_success_rate < 98%/);
    const after60 = run.timeline.slice(run.timeline.findIndex((t) => t.weight === 60));
    assert.deepEqual(
      after60.map((t) => [t.minute, t.weight]),
      [
        [32, 60],
        [32.5, 40],
        [33.5, 20],
        [34.5, 0],
      ],
    );
    // Analysis goes on during the gradual rollback on its own 30 s cadence: 33, 33.5, 34 and 34.5.
    const rollbackStart = world.calls.findIndex((c, i) => c.weight === 40 && i > world.calls.findIndex((x) => x.weight === 60));
    const during = world.calls.slice(rollbackStart).filter((c) => c.activity === 'analyseCanary');
    assert.equal(during.length, 4);
    assert.equal(run.world.count('terminateCanary'), 1);
  });

  it('switches a gradual rollback to immediate when a critical trigger fires on the way down', async () => {
    const world = new FakeWorld();
    world.metric = (q, weight) => {
      if (q.target !== 'canary') return HEALTHY[q.metric];
      if (q.metric === 'task_success_rate' && weight >= 60) return 0.95;
      if (q.metric === 'error_rate' && weight === 40 && world.weights.includes(60)) return 0.2;
      return HEALTHY[q.metric];
    };
    const run = await runRollout(env, seedSpec(), { world });
    assert.equal(run.result.outcome, 'rolled_back');
    const after60 = run.timeline.slice(run.timeline.findIndex((t) => t.weight === 60));
    assert.deepEqual(
      after60.map((t) => [t.minute, t.weight]),
      [
        [32, 60],
        [32.5, 40],
        [33, 0],
      ],
    );
  });

  it('pausing freezes the phase clock: a 15-min phase paused for 7 min ends 22 min after it began', async () => {
    const run = await runRollout(env, seedSpec(), {
      record: 'v2-pause-resume',
      drive: async (handle) => {
        await env.sleep(15 * MINUTE); // 3 minutes into phase 2 (which began at 12)
        await handle.signal(pauseSignal, { reason: 'investigating' });
        const paused = await handle.query(statusQuery);
        assert.equal(paused.state, 'paused');
        assert.equal(paused.paused, true);
        assert.equal(paused.weight, 20);
        assert.equal(paused.phase, 'expanded_canary');
        await env.sleep(7 * MINUTE);
        const stillPaused = await handle.query(statusQuery);
        assert.equal(stillPaused.weight, 20, 'weight frozen while paused');
        assert.ok(Math.abs(stillPaused.phaseRemainingMs - 12 * MINUTE) < 5000, `remaining ${stillPaused.phaseRemainingMs}`);
        await handle.signal(resumeSignal);
      },
    });
    assert.equal(run.result.outcome, 'promoted');
    assert.deepEqual(steps(run.timeline).slice(0, 3), [
      [2, 5],
      [12, 20],
      [34, 40],
    ]);
  });

  it('aborts while paused: traffic back to stable, canary gone, outcome aborted', async () => {
    const run = await runRollout(env, seedSpec(), {
      record: 'v2-abort-while-paused',
      drive: async (handle) => {
        await env.sleep(5 * MINUTE);
        await handle.signal(pauseSignal);
        await env.sleep(1 * MINUTE);
        await handle.signal(abortSignal, { reason: 'bad release notes' });
      },
    });
    assert.equal(run.result.outcome, 'aborted');
    assert.match(run.result.reason, /bad release notes/);
    assert.deepEqual(steps(run.timeline), [[2, 5]]);
    assert.equal(run.result.finalWeight, 0);
    assert.equal(run.world.canaryRunning, false);
  });

  it('a trigger still rolls back a paused rollout', async () => {
    const world = new FakeWorld();
    let bad = false;
    world.metric = (q) => (bad && q.metric === 'p95_latency' && q.target === 'canary' ? 900 : HEALTHY[q.metric]);
    const run = await runRollout(env, seedSpec(), {
      world,
      drive: async (handle) => {
        await env.sleep(4 * MINUTE);
        await handle.signal(pauseSignal);
        await env.sleep(2 * MINUTE);
        bad = true;
      },
    });
    assert.equal(run.result.outcome, 'rolled_back');
    assert.match(run.result.reason, /p95_latency > 500ms/);
    const rollback = run.timeline[run.timeline.length - 1];
    assert.equal(rollback?.weight, 0);
    assert.ok((rollback?.minute ?? 0) >= 6 && (rollback?.minute ?? 0) <= 6.5, `rolled back at ${rollback?.minute}`);
  });

  it('promote skips to 100% and promotes the canary', async () => {
    const run = await runRollout(env, seedSpec(), {
      record: 'v2-promote-signal',
      drive: async (handle) => {
        await env.sleep(4 * MINUTE);
        await handle.signal(promoteSignal, { reason: 'hotfix, ship it' });
      },
    });
    assert.equal(run.result.outcome, 'promoted');
    assert.match(run.result.reason, /hotfix/);
    assert.deepEqual(
      run.timeline.map((t) => t.weight),
      [0, 5, 100, 0],
    );
    assert.equal(run.world.count('promoteCanary'), 1);
  });

  it('a phase-gate breach holds the phase and rolls back gradually after failureLimit analyses', async () => {
    const world = new FakeWorld();
    // 0.3%: above phase 1's 0.1% gate, below the 0.5% warning and the 1% critical level.
    world.metric = (q, weight) => (q.metric === 'error_rate' && q.target === 'canary' && weight === 5 ? 0.003 : HEALTHY[q.metric]);
    const run = await runRollout(env, seedSpec(), { world });
    assert.equal(run.result.outcome, 'rolled_back');
    assert.match(run.result.reason, /phase gate.*3 consecutive/);
    assert.deepEqual(
      run.timeline.map((t) => [t.minute, t.weight]),
      [
        [0, 0],
        [2, 5],
        [3.5, 0],
      ],
    );
  });

  it('a baseline regression alerts but does not stop a healthy rollout', async () => {
    const world = new FakeWorld();
    world.metric = (q, weight) => {
      if (q.metric === 'p95_latency') return q.target === 'baseline' ? 100 : weight >= 40 ? 150 : 80;
      return HEALTHY[q.metric];
    };
    const run = await runRollout(env, seedSpec(), { world });
    assert.equal(run.result.outcome, 'promoted');
    const warnings = run.world.alerts.filter((a) => a.severity === 'warning');
    assert.equal(warnings.length, 1, JSON.stringify(run.world.alerts));
    assert.match(warnings[0]?.name ?? '', /baseline_p95_latency/);
  });

  describe('no data is never a pass', () => {
    const noErrorRate = (world: FakeWorld): void => {
      world.metric = (q) => (q.metric === 'error_rate' ? { status: 'no_data', detail: 'empty vector' } : HEALTHY[q.metric]);
    };

    it('policy rollback: rolls back after consecutiveLimit analyses without data', async () => {
      const world = new FakeWorld();
      noErrorRate(world);
      const run = await runRollout(env, seedSpec(), { world });
      assert.equal(run.result.outcome, 'rolled_back');
      assert.match(run.result.reason, /no data for 3 consecutive analyses/);
      assert.deepEqual(run.timeline.map((t) => [t.minute, t.weight]).slice(-2), [
        [2, 5],
        [3.5, 0],
      ]);
      const errorCheck = run.result.checks.find((c) => c.check === 'error_rate.critical');
      assert.equal(errorCheck?.outcome, 'no_data');
      assert.equal(errorCheck?.value, null);
    });

    it('policy hold: the phase does not advance until data returns', async () => {
      const world = new FakeWorld();
      noErrorRate(world);
      const run = await runRollout(env, seedSpec({ noData: { action: 'hold', consecutiveLimit: 3 } }), {
        world,
        record: 'v5-no-data-hold',
        drive: async (handle) => {
          await env.sleep(20 * MINUTE);
          const s = await handle.query(statusQuery);
          assert.equal(s.weight, 5, 'held at 5% while blind');
          assert.equal(s.phaseRemainingMs, 0);
          world.metric = (q) => HEALTHY[q.metric];
        },
      });
      assert.equal(run.result.outcome, 'promoted');
      const twenty = run.timeline.find((t) => t.weight === 20);
      assert.ok(twenty && twenty.minute >= 20 && twenty.minute <= 20.5, `20% at ${twenty?.minute}`);
      assert.ok(run.world.alerts.some((a) => a.name === 'CanaryAnalysisNoData'));
    });

    it('policy pause: pauses and alerts; resume continues', async () => {
      const world = new FakeWorld();
      noErrorRate(world);
      const run = await runRollout(env, seedSpec({ noData: { action: 'pause', consecutiveLimit: 2 } }), {
        world,
        drive: async (handle) => {
          await env.sleep(4 * MINUTE);
          const s = await handle.query(statusQuery);
          assert.equal(s.state, 'paused');
          world.metric = (q) => HEALTHY[q.metric];
          await handle.signal(resumeSignal);
        },
      });
      assert.equal(run.result.outcome, 'promoted');
      assert.ok(run.world.alerts.some((a) => a.name === 'CanaryAnalysisNoData' && a.severity === 'critical'));
    });
  });

  it('fails cleanly when an activity fails for good: traffic back to stable, canary gone, alert sent', async () => {
    const world = new FakeWorld();
    world.failures.setCanaryWeight = (input) =>
      (input as { weight: number }).weight === 40
        ? ApplicationFailure.create({ type: 'TrafficTargetNotFoundError', message: 'No such server.', nonRetryable: true })
        : undefined;
    const run = await runRollout(env, seedSpec(), { world, record: 'v5-failed-activity' });
    assert.equal(run.result.outcome, 'failed');
    assert.match(run.result.reason, /setCanaryWeight failed: No such server/);
    assert.deepEqual(
      run.timeline.map((t) => t.weight),
      [0, 5, 20, 0],
    );
    assert.equal(run.world.canaryRunning, false);
    assert.ok(run.world.alerts.some((a) => a.name === 'CanaryRolledBack' && a.severity === 'critical'));
  });

  it('cancelling the workflow returns traffic to stable before it ends as cancelled', async () => {
    const world = new FakeWorld();
    await assert.rejects(
      runRollout(env, seedSpec(), {
        world,
        drive: async (handle) => {
          await env.sleep(13 * MINUTE);
          await handle.cancel();
        },
      }),
      WorkflowFailedError,
    );
    assert.deepEqual(world.weights, [0, 5, 20, 0]);
    assert.equal(world.canaryRunning, false);
  });

  it('rejects a second rollout of a running service', async () => {
    const world = new FakeWorld();
    const taskQueue = 'duplicate-start';
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: world.activities(),
    });
    await worker.runUntil(async () => {
      const spec = seedSpec({ service: 'dup' });
      const opts = { taskQueue, workflowId: 'rollout-dup', args: [{ spec }] as const, workflowIdConflictPolicy: 'FAIL' as const };
      const first = await env.client.workflow.start(canaryRollout, { ...opts, args: [{ spec }] });
      await assert.rejects(
        env.client.workflow.start(canaryRollout, { ...opts, args: [{ spec }] }),
        WorkflowExecutionAlreadyStartedError,
      );
      await first.signal(abortSignal, { reason: 'test over' });
      assert.equal((await first.result()).outcome, 'aborted');
    });
  });

  it('continues as new past its event budget and keeps its state', async () => {
    const run = await runRollout(env, seedSpec(), {
      limits: { maxHistoryEvents: 150 },
      record: 'v2-continue-as-new-first-run',
      drive: async (handle) => {
        await env.sleep(13 * MINUTE);
        await handle.signal(pauseSignal);
        await env.sleep(3 * MINUTE);
        await handle.signal(resumeSignal);
      },
    });
    assert.equal(run.result.outcome, 'promoted');
    assert.ok(run.result.continuedAsNew >= 3, `continued as new ${run.result.continuedAsNew} times`);
    // The same plan as without continue-as-new, shifted by the 3-minute pause in phase 2.
    assert.deepEqual(steps(run.timeline), [
      [2, 5],
      [12, 20],
      [30, 40],
      [35, 60],
      [40, 80],
      [45, 100],
    ]);
    assert.equal(run.world.count('deployCanary'), 1, 'deploy is not repeated by a new run');
    // 45 minutes of traffic plus the 3-minute pause, analysed every 30 s.
    assert.equal(run.world.count('analyseCanary'), 96);
  });
});
