/**
 * The per-rollout app metrics the worker derives from the workflow's `context` (phase, phase
 * deadline, rollbacks, time from trigger to stable), driven through the real activities against a
 * real HAProxy and read back from the registry's Prometheus text output.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createActivities } from '../../activities';
import { TRIGGER_TO_STABLE_BUCKETS } from '../../activities/app-metrics';
import type { RolloutContext } from '../../activities/types';
import { startStableCanarySplit, type HaproxyHandle, type StableCanarySplit } from '../helpers/haproxy';
import { rolloutSpec } from '../helpers/rollout-spec';
import { withoutAppliedAt } from '../helpers/set-weight-result';

const ROLLOUT = 'rollout-checkout';
const T0 = Date.parse('2030-01-01T00:00:00.000Z');

/** Log lines the activities wrote, parsed. */
function logSink(): { logger: pino.Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const logger = pino({ level: 'info' }, stream);
  return {
    logger,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('rollout metrics from the workflow context', () => {
  let haproxy: HaproxyHandle;

  let split: StableCanarySplit | undefined;

  before(async () => {
    split = await startStableCanarySplit();
    ({ haproxy } = split);
  });
  after(() => split?.stop());

  /** Fresh activities on a fresh registry, with a settable clock. */
  function world(runId = 'run-1') {
    const registry = new Registry();
    const clock = { now: T0 };
    const logs = logSink();
    const activities = createActivities({ logger: logs.logger, registry, now: () => clock.now });
    const env = new MockActivityEnvironment(
      { workflowExecution: { workflowId: ROLLOUT, runId } },
      { logger: new DefaultLogger('ERROR') },
    );
    const spec = rolloutSpec({
      traffic: { kind: 'haproxy', runtimeApi: haproxy.runtimeApi, backend: 'app', stableServer: 'stable', canaryServer: 'canary' },
    });
    const setWeight = (weight: number, context?: RolloutContext | Record<string, unknown>) =>
      env.run(activities.setCanaryWeight, { rolloutId: ROLLOUT, spec, weight, context: context as RolloutContext });
    const text = () => registry.metrics();
    return { registry, clock, logs, activities, env, spec, setWeight, text };
  }

  /** The value of the one series of `name` whose labels contain all of `labels`, or undefined. */
  function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
    const found: number[] = [];
    for (const line of text.split('\n')) {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
      if (Object.entries(labels).every(([k, v]) => have[k] === v)) found.push(Number(m[3]));
    }
    assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches ${found.length} series`);
    return found[0];
  }
  const seriesOf = (text: string, name: string) => text.split('\n').filter((l) => l.startsWith(`${name}{`));

  it('publishes the phase and its deadline, moves them with the phase, drops the deadline while paused', async () => {
    const w = world();
    const endsAt = T0 + 10 * 60_000;
    await w.setWeight(5, { phase: 'initial_canary', phaseEndsAt: new Date(endsAt).toISOString(), rollbackStartedAt: null, rollbackAction: null });
    let text = await w.text();
    const id = { service: 'checkout', rollout_id: ROLLOUT };
    assert.equal(sample(text, 'phoenix_rollout_phase', { ...id, phase: 'initial_canary' }), 1);
    assert.equal(sample(text, 'phoenix_rollout_phase_deadline_timestamp_seconds', { ...id, phase: 'initial_canary' }), endsAt / 1000);
    assert.equal(sample(text, 'phoenix_canary_weight', id), 5);

    // Paused: the analysis still runs and reports no deadline; the phase stays.
    await w.env.run(w.activities.queryMetrics, {
      rolloutId: ROLLOUT,
      spec: w.spec,
      queries: [],
      context: { phase: 'initial_canary', phaseEndsAt: null, rollbackStartedAt: null, rollbackAction: null },
    });
    text = await w.text();
    assert.deepEqual(seriesOf(text, 'phoenix_rollout_phase_deadline_timestamp_seconds'), []);
    assert.equal(sample(text, 'phoenix_rollout_phase', { ...id, phase: 'initial_canary' }), 1);

    // Resumed: the deadline comes back, moved on by the pause.
    await w.env.run(w.activities.queryMetrics, {
      rolloutId: ROLLOUT,
      spec: w.spec,
      queries: [],
      context: { phase: 'initial_canary', phaseEndsAt: new Date(endsAt + 60_000).toISOString() },
    });
    text = await w.text();
    assert.equal(sample(text, 'phoenix_rollout_phase_deadline_timestamp_seconds', { ...id, phase: 'initial_canary' }), endsAt / 1000 + 60);

    // Next phase: one series per rollout, for the new phase only.
    const next = endsAt + 15 * 60_000;
    await w.setWeight(20, { phase: 'expanded_canary', phaseEndsAt: new Date(next).toISOString() });
    text = await w.text();
    assert.deepEqual(seriesOf(text, 'phoenix_rollout_phase'), [
      `phoenix_rollout_phase{service="checkout",rollout_id="${ROLLOUT}",phase="expanded_canary"} 1`,
    ]);
    assert.deepEqual(seriesOf(text, 'phoenix_rollout_phase_deadline_timestamp_seconds'), [
      `phoenix_rollout_phase_deadline_timestamp_seconds{service="checkout",rollout_id="${ROLLOUT}",phase="expanded_canary"} ${next / 1000}`,
    ]);

    // Promoted: no deadline any more; terminated: no per-rollout phase series either.
    await w.env.run(w.activities.promoteCanary, { rolloutId: ROLLOUT, spec: w.spec });
    text = await w.text();
    assert.deepEqual(seriesOf(text, 'phoenix_rollout_phase_deadline_timestamp_seconds'), []);
    assert.equal(sample(text, 'phoenix_rollout_phase', { ...id, phase: 'expanded_canary' }), 1);
    await w.setWeight(0, { phase: 'finalize', phaseEndsAt: null });
    await w.env.run(w.activities.terminateCanary, { rolloutId: ROLLOUT, spec: w.spec });
    text = await w.text();
    assert.deepEqual(seriesOf(text, 'phoenix_rollout_phase'), []);
    assert.deepEqual(seriesOf(text, 'phoenix_rollout_phase_deadline_timestamp_seconds'), []);
    // A promotion is not a rollback.
    assert.deepEqual(seriesOf(text, 'phoenix_rollbacks_total'), []);
    assert.equal(sample(text, 'phoenix_trigger_to_stable_seconds_count'), undefined);
  });

  it('observes trigger-to-stable once per rollback when the weight reaches 0, and counts the rollback by its action', async () => {
    const w = world();
    const startedAt = new Date(T0).toISOString();
    await w.setWeight(60, { phase: 'full_rollout_60', phaseEndsAt: new Date(T0 + 60_000).toISOString() });

    // A gradual rollback steps down: no observation until the weight is 0.
    w.clock.now = T0 + 1_000;
    const rollback = { phase: 'rollback', phaseEndsAt: null, rollbackStartedAt: startedAt, rollbackAction: 'gradual_rollback' as const };
    await w.setWeight(40, rollback);
    let text = await w.text();
    assert.equal(sample(text, 'phoenix_trigger_to_stable_seconds_count', { service: 'checkout', action: 'gradual_rollback' }), undefined);
    assert.deepEqual(seriesOf(text, 'phoenix_rollbacks_total'), []);
    assert.deepEqual(seriesOf(text, 'phoenix_rollout_phase_deadline_timestamp_seconds'), [], 'no deadline while rolling back');
    assert.equal(sample(text, 'phoenix_rollout_phase', { rollout_id: ROLLOUT, phase: 'rollback' }), 1);

    w.clock.now = T0 + 125_000;
    await w.setWeight(0, rollback);
    text = await w.text();
    const labels = { service: 'checkout', action: 'gradual_rollback' };
    assert.equal(sample(text, 'phoenix_trigger_to_stable_seconds_count', labels), 1);
    assert.equal(sample(text, 'phoenix_trigger_to_stable_seconds_sum', labels), 125);
    assert.equal(sample(text, 'phoenix_trigger_to_stable_seconds_bucket', { ...labels, le: '120' }), 0);
    assert.equal(sample(text, 'phoenix_trigger_to_stable_seconds_bucket', { ...labels, le: '180' }), 1);
    assert.equal(sample(text, 'phoenix_rollbacks_total', labels), 1);

    // Temporal retries the activity (the result was lost): nothing is counted twice.
    w.clock.now = T0 + 130_000;
    await w.setWeight(0, rollback);
    text = await w.text();
    assert.equal(sample(text, 'phoenix_trigger_to_stable_seconds_count', labels), 1);
    assert.equal(sample(text, 'phoenix_trigger_to_stable_seconds_sum', labels), 125);
    assert.equal(sample(text, 'phoenix_rollbacks_total', labels), 1);

    await w.env.run(w.activities.terminateCanary, { rolloutId: ROLLOUT, spec: w.spec });
    text = await w.text();
    assert.deepEqual(seriesOf(text, 'phoenix_rollout_phase'), []);

    // A later rollout of the same service (same workflow id) that rolls back is a new rollback.
    const later = T0 + 3_600_000;
    w.clock.now = later + 800;
    await w.setWeight(0, { phase: 'rollback', rollbackStartedAt: new Date(later).toISOString(), rollbackAction: 'immediate_rollback' });
    text = await w.text();
    const immediate = { service: 'checkout', action: 'immediate_rollback' };
    assert.equal(sample(text, 'phoenix_trigger_to_stable_seconds_count', immediate), 1);
    assert.equal(sample(text, 'phoenix_trigger_to_stable_seconds_sum', immediate), 0.8);
    assert.equal(sample(text, 'phoenix_trigger_to_stable_seconds_bucket', { ...immediate, le: '0.5' }), 0);
    assert.equal(sample(text, 'phoenix_trigger_to_stable_seconds_bucket', { ...immediate, le: '1' }), 1);
    assert.equal(sample(text, 'phoenix_rollbacks_total', immediate), 1);
    assert.equal(sample(text, 'phoenix_rollbacks_total', labels), 1);
  });

  it('buckets span 0.1 s to 10 min', () => {
    assert.equal(TRIGGER_TO_STABLE_BUCKETS[0], 0.1);
    assert.equal(TRIGGER_TO_STABLE_BUCKETS.at(-1), 600);
    assert.deepEqual([...TRIGGER_TO_STABLE_BUCKETS].sort((a, b) => a - b), TRIGGER_TO_STABLE_BUCKETS);
  });

  it('a cancelled rollout (rollback without a start time) counts the rollback, once per run, without a duration', async () => {
    const w = world('run-cancelled');
    await w.setWeight(20, { phase: 'expanded_canary' });
    const ctx = { phase: 'rollback', phaseEndsAt: null, rollbackStartedAt: null, rollbackAction: 'immediate_rollback' as const };
    await w.setWeight(0, ctx);
    await w.setWeight(0, ctx);
    const text = await w.text();
    assert.equal(sample(text, 'phoenix_rollbacks_total', { service: 'checkout', action: 'immediate_rollback' }), 1);
    assert.equal(sample(text, 'phoenix_trigger_to_stable_seconds_count', { action: 'immediate_rollback' }), undefined);
  });

  it('weight 0 outside a rollback, or without a context, is not a rollback; a call without context leaves the gauges alone', async () => {
    const w = world();
    await w.setWeight(0, { phase: 'warmup', phaseEndsAt: new Date(T0 + 120_000).toISOString(), rollbackStartedAt: null, rollbackAction: null });
    await w.setWeight(0);
    const text = await w.text();
    assert.deepEqual(seriesOf(text, 'phoenix_rollbacks_total'), []);
    assert.equal(sample(text, 'phoenix_trigger_to_stable_seconds_count'), undefined);
    assert.equal(sample(text, 'phoenix_rollout_phase', { phase: 'warmup' }), 1);
    assert.equal(sample(text, 'phoenix_rollout_phase_deadline_timestamp_seconds', { phase: 'warmup' }), (T0 + 120_000) / 1000);
  });

  it('an invalid context field is logged by name and ignored: the traffic move still happens', async () => {
    const w = world();
    const result = await w.setWeight(10, { phase: 'initial_canary', phaseEndsAt: 'next tuesday', rollbackAction: 'panic' });
    assert.deepEqual(withoutAppliedAt(result), { weight: 10 });
    const text = await w.text();
    assert.equal(sample(text, 'phoenix_canary_weight', { rollout_id: ROLLOUT }), 10);
    assert.equal(sample(text, 'phoenix_rollout_phase', { phase: 'initial_canary' }), 1);
    assert.deepEqual(seriesOf(text, 'phoenix_rollout_phase_deadline_timestamp_seconds'), []);
    const warned = w.logs.lines().filter((l) => l.level === 40).map((l) => l.field);
    assert.deepEqual(warned, ['context.phaseEndsAt', 'context.rollbackAction']);
    assert.ok(w.logs.lines().every((l) => l.rolloutId === ROLLOUT), 'every log line carries the rollout id');
  });
});
