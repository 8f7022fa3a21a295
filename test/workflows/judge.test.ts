/**
 * The statistical judge in the rollout workflow, on the time-skipping server with the seed's
 * timings: when it judges, and what pass, marginal, fail and no data do. The judge activity is a
 * double returning the judgement a test sets; the statistics are tested in test/unit. Minutes
 * below are workflow time since the warm-up began.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { JudgeMetricStatus, JudgeResult } from '../../activities/judge/types';
import type { JudgeCanaryInput } from '../../activities/types';
import { statusQuery, type RolloutStatus } from '../../workflows/contract';
import { createTimeSkippingEnv } from '../helpers/temporal';
import { FakeWorld } from './fake-world';
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

const JUDGE = { metrics: [{ metric: 'p95_latency', critical: true, group: 'latency' }, { metric: 'error_rate', group: 'errors' }] };

function metric(classification: JudgeMetricStatus['classification'], over: Partial<JudgeMetricStatus> = {}): JudgeMetricStatus {
  return {
    metric: 'p95_latency',
    group: 'latency',
    critical: true,
    weight: 1,
    classification,
    pValue: classification === 'nodata' ? null : classification === 'pass' ? 0.41 : 1e-9,
    effectSize: classification === 'nodata' ? null : classification === 'pass' ? 1.01 : 1.16,
    canarySamples: classification === 'nodata' ? 3 : 60,
    baselineSamples: 60,
    reason: classification === 'high' ? 'ratio 1.16 above 1.10 (tolerance 10%), p = 1e-9 < 0.02' : 'no significant change',
    ...over,
  };
}

/** A judgement with the given verdict and score, as the judge activity returns it. */
function judgement(verdict: JudgeResult['status']['verdict'], score: number, metrics: JudgeMetricStatus[]) {
  return (input: JudgeCanaryInput): JudgeResult['status'] => ({
    at: new Date().toISOString(),
    score,
    verdict,
    passThreshold: input.spec.judge?.passThreshold ?? 95,
    marginalThreshold: input.spec.judge?.marginalThreshold ?? 75,
    metrics,
  });
}

const PASS = judgement('pass', 100, [metric('pass'), metric('pass', { metric: 'error_rate', critical: false, group: 'errors' })]);
const MARGINAL = judgement('marginal', 80, [metric('pass'), metric('high', { metric: 'error_rate', critical: false, group: 'errors' })]);
const FAIL = judgement('fail', 0, [metric('high'), metric('pass', { metric: 'error_rate', critical: false, group: 'errors' })]);
const NODATA = judgement('nodata', 0, [metric('nodata', { reason: '3 canary samples, fewer than 10' })]);

/** Weight changes as [minute, weight]. */
const weights = (timeline: { minute: number; weight: number }[]): [number, number][] => timeline.map((t) => [t.minute, t.weight]);

/** The weights at which the judge ran, in order. */
const judgedAt = (world: FakeWorld): number[] => world.calls.filter((c) => c.activity === 'judgeCanary').map((c) => c.weight ?? -1);

describe('the statistical judge in canaryRollout', () => {
  it('passing judgements leave the seed plan as it is; the judge runs every interval while 0 < weight < 100, never at 100%', async () => {
    const world = new FakeWorld();
    world.judge = PASS;
    let during: RolloutStatus | undefined;
    const run = await runRollout(env, seedSpec({ judge: JUDGE }), {
      world,
      drive: async (handle) => {
        await env.sleep(20 * MINUTE);
        during = await handle.query(statusQuery);
      },
    });
    assert.equal(run.result.outcome, 'promoted', run.result.reason);
    assert.deepEqual(
      weights(run.timeline).filter(([, w]) => w > 0),
      [
        [2, 5],
        [12, 20],
        [27, 40],
        [32, 60],
        [37, 80],
        [42, 100],
      ],
    );
    const judged = judgedAt(world);
    assert.ok(!judged.includes(100) && !judged.includes(0), `judged at ${JSON.stringify(judged)}`);
    // Every minute from one interval into the traffic (3.5 min) to the last round at 80% (41.5 min).
    assert.ok(judged.length >= 37 && judged.length <= 40, `${judged.length} judgements`);
    for (const w of [5, 20, 40, 60, 80]) assert.ok(judged.includes(w), `judged at ${w}%`);
    assert.equal(world.alerts.length, 0);
    assert.equal(during?.judge?.verdict, 'pass');
    assert.equal(during?.judge?.score, 100);
    assert.equal(during?.judge?.metrics.length, 2);
    assert.ok((during?.judge?.history.length ?? 0) >= 15, 'the status keeps the history of scores');
  });

  it('keeps at most 50 scores in the history', async () => {
    const world = new FakeWorld();
    world.judge = PASS;
    let history = -1;
    await runRollout(env, seedSpec({ judge: { ...JUDGE, interval: '30s' } }), {
      world,
      drive: async (handle) => {
        await env.sleep(40 * MINUTE);
        history = (await handle.query(statusQuery)).judge?.history.length ?? -1;
      },
    });
    assert.ok(judgedAt(world).length > 60, `${judgedAt(world).length} judgements`);
    assert.equal(history, 50);
  });

  it('always judges before a phase advances, even when the interval is longer than the phase', async () => {
    const world = new FakeWorld();
    world.judge = PASS;
    const run = await runRollout(env, seedSpec({ judge: { ...JUDGE, interval: '1h' } }), { world });
    assert.equal(run.result.outcome, 'promoted', run.result.reason);
    assert.deepEqual(judgedAt(world), [5, 20, 40, 60, 80], 'one judgement in the last round of each phase with a baseline');
  });

  it('marginal holds the phase past its end and alerts once; a passing judgement lets it advance', async () => {
    const world = new FakeWorld();
    world.judge = (input, weight) => (weight === 20 ? MARGINAL(input) : PASS(input));
    let held: RolloutStatus | undefined;
    const run = await runRollout(env, seedSpec({ judge: JUDGE }), {
      world,
      drive: async (handle) => {
        await env.sleep(35 * MINUTE);
        held = await handle.query(statusQuery);
        world.judge = PASS;
      },
    });
    assert.equal(held?.weight, 20, 'still at 20% eight minutes after the phase would have ended');
    assert.equal(held?.phase, 'expanded_canary');
    assert.equal(held?.judge?.verdict, 'marginal');
    assert.ok(held?.checks.every((c) => c.outcome === 'pass'), 'the thresholds are green: only the judge holds');
    assert.equal(run.result.outcome, 'promoted', run.result.reason);
    const to40 = run.timeline.find((t) => t.weight === 40);
    assert.ok(to40 && to40.minute >= 35 && to40.minute <= 36.5, `40% at minute ${to40?.minute}`);
    const marginal = world.alerts.filter((a) => a.name === 'CanaryJudgeMarginal');
    assert.equal(marginal.length, 1, JSON.stringify(world.alerts));
    assert.equal(marginal[0]?.severity, 'warning');
    assert.match(marginal[0]?.reason ?? '', /score 80 \(marginal: < pass 95, ≥ marginal 75\): error_rate high/);
  });

  it('fail rolls back at once with the judge\'s reasons while every threshold check passes', async () => {
    const world = new FakeWorld();
    world.judge = (input, weight) => (weight === 20 ? FAIL(input) : PASS(input));
    const run = await runRollout(env, seedSpec({ judge: JUDGE }), { world, record: 'v6-judge-fail' });
    assert.equal(run.result.outcome, 'rolled_back');
    assert.equal(
      run.result.reason.startsWith(
        'judge: score 0 (fail: < marginal 75): p95_latency (critical) high: ratio 1.16 above 1.10 (tolerance 10%), p = 1e-9 < 0.02',
      ),
      true,
      run.result.reason,
    );
    assert.deepEqual(weights(run.timeline), [
      [0, 0],
      [2, 5],
      [12, 20],
      [12.5, 0],
    ]);
    assert.ok(run.result.checks.every((c) => c.outcome === 'pass'), JSON.stringify(run.result.checks));
    assert.equal(world.count('terminateCanary'), 1);
    assert.ok(world.alerts.some((a) => a.name === 'CanaryRolledBack' && a.severity === 'critical'));
  });

  it('fail with onFail gradual_rollback steps down 20% a minute', async () => {
    const world = new FakeWorld();
    world.judge = (input, weight) => (weight === 60 ? FAIL(input) : PASS(input));
    const run = await runRollout(env, seedSpec({ judge: { ...JUDGE, onFail: 'gradual_rollback' } }), { world });
    assert.equal(run.result.outcome, 'rolled_back');
    const from60 = weights(run.timeline).slice(run.timeline.findIndex((t) => t.weight === 60));
    assert.deepEqual(
      from60.map(([, w]) => w),
      [60, 40, 20, 0],
    );
    const afterStart = world.calls.slice(world.calls.findIndex((c) => c.activity === 'judgeCanary' && c.weight === 60) + 1);
    assert.equal(afterStart.filter((c) => c.activity === 'judgeCanary').length, 0, 'a rollback is never judged');
  });

  it('no data follows noData: three judgements without data in a row roll back (the default action)', async () => {
    const world = new FakeWorld();
    world.judge = NODATA;
    const run = await runRollout(env, seedSpec({ judge: JUDGE }), { world });
    assert.equal(run.result.outcome, 'rolled_back');
    assert.match(run.result.reason, /^judge: no data in 3 judgements in a row \(p95_latency \(critical\) nodata: 3 canary samples, fewer than 10\)/);
    // Judged at 3.5, 4.5 and 5.5 minutes: no advance, and back to 0 on the third.
    assert.deepEqual(weights(run.timeline), [
      [0, 0],
      [2, 5],
      [5.5, 0],
    ]);
  });

  it('no data with noData hold keeps the phase, warns, and a judge that cannot run counts as no data', async () => {
    const world = new FakeWorld();
    world.judge = () => new Error('prometheus unreachable');
    let held: RolloutStatus | undefined;
    const run = await runRollout(env, seedSpec({ judge: JUDGE, noData: { action: 'hold', consecutiveLimit: 2 } }), {
      world,
      drive: async (handle) => {
        await env.sleep(16 * MINUTE);
        held = await handle.query(statusQuery);
        world.judge = PASS;
      },
    });
    assert.equal(held?.weight, 5, 'no advance on no data');
    assert.equal(held?.judge?.verdict, 'nodata');
    assert.match(held?.judge?.metrics[0]?.reason ?? '', /judge failed: .*prometheus unreachable/);
    assert.equal(run.result.outcome, 'promoted', run.result.reason);
    const warnings = world.alerts.filter((a) => a.name === 'CanaryAnalysisNoData');
    assert.ok(warnings.length >= 2 && warnings.every((a) => a.severity === 'warning'), JSON.stringify(warnings));
  });

  it('a spec without a judge never calls it', async () => {
    const world = new FakeWorld();
    const run = await runRollout(env, seedSpec({ trafficControl: { phases: [{ percentage: 5, duration: '2m' }] } }), { world });
    assert.equal(run.result.outcome, 'promoted');
    assert.equal(world.count('judgeCanary'), 0);
  });
});
