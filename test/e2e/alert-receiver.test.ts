/**
 * The API's Alertmanager receiver on a real `temporal server start-dev` with a worker process
 * running the real workflow and recording activity doubles (test/helpers/double-worker.ts): an
 * opted-in alert for the running canary version takes the canary to 0% (the time from the POST
 * to the recorded setCanaryWeight(0) is printed as `measured:`), while alerts about the previous
 * rollout of the same service leave the running one alone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { hashToken } from '../../client/api/auth';
import { buildApiServer } from '../../client/api/server';
import { RolloutClient } from '../../client/rollouts';
import type { RolloutStatus } from '../../workflows/contract';
import { eventually } from '../helpers/client-e2e-world';
import { readRecordedCalls, useDoubleWorkerWorld, waitFor } from '../helpers/double-worker';
import { seedSpec } from '../workflows/spec-fixture';

const TOKEN = 'e2e-alert-receiver-token';
const world = useDoubleWorkerWorld();

describe('Alertmanager receiver (real dev server + double worker)', () => {
  let rollouts: RolloutClient;
  let app: FastifyInstance;
  let base: string;
  let callsFile: string;

  before(async () => {
    callsFile = world.newCallsFile();
    await world.startWorker({ CALLS_FILE: callsFile });
    rollouts = new RolloutClient({ client: world.client });
    app = buildApiServer({ rollouts, logger: pino({ level: 'silent' }), tokenHashes: [hashToken(TOKEN)] });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await app?.close();
  });

  const postAlerts = async (alerts: { status: string; labels: Record<string, string> }[]) => {
    const res = await fetch(`${base}/v1/alertmanager`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ version: '4', status: 'firing', receiver: 'phoenix', alerts }),
    });
    assert.equal(res.status, 200);
    return (await res.json()) as {
      aborted: { rolloutId: string; alert: string; message: string }[];
      skipped: { rolloutId: string | null; alert: string; reason: string }[];
    };
  };
  const weightCalls = () => readRecordedCalls(callsFile).filter((c) => c.activity === 'setCanaryWeight');
  /** A plan that holds its first traffic phase (5%) for 10 minutes. */
  const spec = (stable: string, canary: string) =>
    seedSpec({
      service: 'alerted',
      stable,
      canary,
      warmup: { duration: '1s' },
      analysisInterval: '1s',
      trafficControl: { phases: [{ name: 'initial_canary', percentage: 5, duration: '10m' }, { name: 'full_rollout', incrementSize: 50, intervalSeconds: 1 }] },
    });

  test('alerts about the previous rollout are stale and skipped; one for the running version takes the canary to 0%', async () => {
    // The previous rollout of the service: v1 → v2, aborted.
    const previous = await rollouts.start(spec('v1', 'v2'));
    await eventually('previous rollout at 5%', () => rollouts.status('alerted'), (s) => s.weight === 5);
    await rollouts.abort('alerted', 'superseded by v3', 'e2e');
    assert.equal((await rollouts.result('alerted')).outcome, 'aborted');

    // The running rollout: v2 → v3, holding 5%.
    const current = await rollouts.start(spec('v2', 'v3'));
    assert.notEqual(current.runId, previous.runId);
    await eventually('running rollout at 5%', () => rollouts.status('alerted'), (s) => s.state === 'progressing' && s.weight === 5);
    const weightsBefore = weightCalls().length;

    const stale = await postAlerts([
      { status: 'firing', labels: { alertname: 'CheckoutErrorBudgetBurn', phoenix_action: 'abort', service: 'alerted', canary_version: 'v2' } },
      { status: 'firing', labels: { alertname: 'CheckoutLatency', phoenix_action: 'abort', rollout_id: 'rollout-alerted', phoenix_run_id: previous.runId } },
      // Not opted in, although it names the running version.
      { status: 'firing', labels: { alertname: 'CheckoutCpu', service: 'alerted', canary_version: 'v3' } },
    ]);
    assert.deepEqual(stale.aborted, []);
    assert.deepEqual(
      stale.skipped.map((s) => [s.alert, s.reason.replace(/\(.*\)/, '(…)')]),
      [
        ['CheckoutErrorBudgetBurn', 'stale: about a previous rollout (…)'],
        ['CheckoutLatency', 'stale: about a previous rollout (…)'],
        ['CheckoutCpu', 'does not opt in: only alerts labelled phoenix_action="abort" abort a rollout'],
      ],
    );
    // The running rollout was not touched: no update reached it (the audit trail records every
    // one, accepted or refused) and the canary weight was not changed.
    const untouched: RolloutStatus = await rollouts.status('alerted');
    assert.equal(untouched.state, 'progressing');
    assert.equal(untouched.weight, 5);
    assert.equal(untouched.canaryVersion, 'v3');
    assert.deepEqual(untouched.operatorEvents, []);
    assert.equal(weightCalls().length, weightsBefore);

    const posted = Date.now();
    const fired = await postAlerts([
      { status: 'firing', labels: { alertname: 'CheckoutErrorBudgetBurn', phoenix_action: 'abort', service: 'alerted', canary_version: 'v3', severity: 'critical' } },
    ]);
    assert.deepEqual(fired.aborted.map((a) => [a.rolloutId, a.alert]), [['rollout-alerted', 'CheckoutErrorBudgetBurn']]);
    await waitFor('setCanaryWeight(0) after the alert', () => weightCalls().some((c) => c.weight === 0 && c.at >= posted), 30_000);
    const zero = weightCalls().find((c) => c.weight === 0 && c.at >= posted)!;
    console.log(`measured: Alertmanager webhook POST → setCanaryWeight(0) started: ${zero.at - posted} ms (goal < 1000 ms)`);

    const result = await rollouts.result('alerted');
    assert.equal(result.outcome, 'aborted');
    assert.match(result.reason, /CheckoutErrorBudgetBurn/);
    assert.match(result.reason, /by alertmanager:CheckoutErrorBudgetBurn/);
    assert.equal((await rollouts.run('alerted')).firstRunId, current.runId);
  });
});
