/**
 * The Alertmanager receiver's decisions without Temporal: which alerts may abort (opt-in label,
 * a named rollout, a run scope, the caller's credential scope) and when a matching rollout is a
 * different run (stale). The
 * receiver over HTTP with a client double is in client-api.test.ts, on a real server and worker
 * in test/e2e/alert-receiver.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import pino from 'pino';
import { parse as parseYaml } from 'yaml';
import { buildAlert } from '../../activities/alerts';
import { abortForAlerts, OUT_OF_SCOPE_PREFIX, staleness, triageAlert, type Alert } from '../../client/api/alertmanager';
import { compileScope } from '../../client/api/scope';
import { serviceOfRolloutId } from '../../client/ids';
import type { RolloutRun } from '../../client/rollouts';
import { ALERT_NAMES } from '../../workflows/contract';
import { rolloutSpec } from '../helpers/rollout-spec';

const firing = (labels: Record<string, string>): Alert => ({ status: 'firing', labels });
const run = (over: Partial<RolloutRun> = {}): RolloutRun => ({
  rolloutId: 'rollout-checkout',
  runId: 'run-current',
  firstRunId: 'run-first',
  executionStatus: 'RUNNING',
  stableVersion: 'v1',
  canaryVersion: 'v2',
  ...over,
});

test('an opted-in, scoped alert naming a rollout is an abort candidate', () => {
  assert.deepEqual(triageAlert(firing({ alertname: 'Burn', phoenix_action: 'abort', service: 'checkout', canary_version: 'v2' })), {
    kind: 'abort',
    alert: 'Burn',
    rolloutId: 'rollout-checkout',
    canaryVersion: 'v2',
    runId: undefined,
  });
  const byRun = triageAlert(firing({ alertname: 'Burn', phoenix_action: 'abort', rollout_id: 'checkout', phoenix_run_id: 'r1' }));
  assert.equal(byRun.kind, 'abort');
  assert.equal(byRun.kind === 'abort' && byRun.runId, 'r1');
});

test('each reason to skip an alert, decided from the labels alone', () => {
  const cases: [Alert, RegExp][] = [
    [{ status: 'resolved', labels: { alertname: 'A', phoenix_action: 'abort', service: 'checkout', canary_version: 'v2' } }, /^not firing \(resolved\)$/],
    [firing({ alertname: 'A', origin: 'phoenix', phoenix_action: 'abort', service: 'checkout', canary_version: 'v2' }), /^raised by phoenix itself$/],
    [firing({ alertname: 'A', service: 'checkout', canary_version: 'v2' }), /^does not opt in: only alerts labelled phoenix_action="abort"/],
    [firing({ alertname: 'A', phoenix_action: 'pause', service: 'checkout', canary_version: 'v2' }), /^unknown phoenix_action "pause"/],
    [firing({ alertname: 'A', phoenix_action: 'abort', canary_version: 'v2' }), /^names no rollout/],
    [firing({ alertname: 'A', phoenix_action: 'abort', service: 'has space', canary_version: 'v2' }), /^invalid rollout id/],
    [firing({ alertname: 'A', phoenix_action: 'abort', service: 'checkout' }), /^not scoped to a run: needs a canary_version or phoenix_run_id label$/],
    [firing({ alertname: 'A', phoenix_action: 'abort', service: 'checkout', canary_version: '' }), /^not scoped to a run/],
  ];
  for (const [alert, reason] of cases) {
    const triage = triageAlert(alert);
    assert.equal(triage.kind, 'skip', JSON.stringify(alert));
    if (triage.kind === 'skip') assert.match(triage.reason, reason, JSON.stringify(alert));
  }
});

test('stale: another canary version or another run; a matching first or current run id is not', () => {
  assert.equal(staleness({ canaryVersion: 'v2' }, run()), null);
  assert.equal(staleness({ runId: 'run-first' }, run()), null);
  assert.equal(staleness({ runId: 'run-current' }, run()), null);
  assert.equal(staleness({ canaryVersion: 'v2', runId: 'run-first' }, run()), null);
  assert.equal(staleness({ canaryVersion: 'v1' }, run()), 'stale: about a previous rollout (canary_version v1, running v2)');
  assert.match(staleness({ runId: 'run-old' }, run()) ?? '', /^stale: about a previous rollout \(phoenix_run_id run-old, running run-first\)$/);
  assert.match(staleness({ canaryVersion: 'v2', runId: 'run-old' }, run()) ?? '', /^stale: /);
  assert.equal(staleness({ canaryVersion: 'v2' }, run({ executionStatus: 'COMPLETED' })), 'no rollout running (the latest ended completed)');
});

test("none of Phoenix's own Prometheus rules (deploy/prometheus) can abort a rollout", async () => {
  const rules = parseYaml(readFileSync('deploy/prometheus/rules/phoenix-orchestrator.yml', 'utf8')) as {
    groups: { rules: { alert?: string; labels?: Record<string, string> }[] }[];
  };
  const alerts = rules.groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined);
  assert.ok(alerts.length >= 5, `expected the orchestrator's rules, got ${alerts.length}`);
  for (const rule of alerts) {
    // As fired for a rollout of the service whose version is running: only the opt-in is missing.
    const alert = firing({ ...rule.labels, alertname: rule.alert!, service: 'checkout', rollout_id: 'rollout-checkout', canary_version: 'v2' });
    const triage = triageAlert(alert);
    assert.equal(triage.kind, 'skip', rule.alert);
    if (triage.kind === 'skip') assert.match(triage.reason, /does not opt in/, rule.alert);
  }
});

test("a rollout's own alerts (origin=phoenix) never abort, even with the opt-in among the spec's extra labels", async () => {
  const settings = { ...rolloutSpec().alerts, labels: { phoenix_action: 'abort', canary_version: 'v2' } };
  const aborted: unknown[] = [];
  const rollouts = {
    run: async () => run(),
    abort: async (...args: unknown[]) => {
      aborted.push(args);
      return { action: 'abort' as const, state: 'rolling_back' as const, message: 'aborting' };
    },
  };
  const alerts = Object.values(ALERT_NAMES).map((name) => {
    const built = buildAlert({ name, service: 'checkout', rolloutId: 'rollout-checkout', severity: 'critical', reason: 'r', settings, now: 0 });
    return { status: 'firing', labels: built.labels, annotations: built.annotations };
  });
  const outcome = await abortForAlerts(rollouts, { alerts }, pino({ level: 'silent' }));
  assert.deepEqual(outcome.aborted, []);
  assert.deepEqual(
    outcome.skipped.map((s) => s.reason),
    alerts.map(() => 'raised by phoenix itself'),
  );
  assert.deepEqual(aborted, []);
});

test('only rollouts the caller may abort are aborted; the others are refused as out of scope before Temporal is asked', async () => {
  const calls: string[] = [];
  const rollouts = {
    run: async (id: string) => {
      calls.push(`run ${id}`);
      return run({ rolloutId: id });
    },
    abort: async (id: string) => {
      calls.push(`abort ${id}`);
      return { action: 'abort' as const, state: 'rolling_back' as const, message: 'aborting' };
    },
  };
  const scope = compileScope(['checkout', 'checkout-*'], ['abort']);
  const outOfScope = (rolloutId: string) => {
    const service = serviceOfRolloutId(rolloutId);
    return scope.allows('abort', service) ? null : `principal am may not abort service ${service}`;
  };
  const alert = (name: string, service: string) => firing({ alertname: name, phoenix_action: 'abort', service, canary_version: 'v2' });
  const outcome = await abortForAlerts(
    rollouts,
    { alerts: [alert('A', 'payments'), alert('B', 'checkout-eu'), alert('C', 'payments'), firing({ alertname: 'D', service: 'payments' })] },
    pino({ level: 'silent' }),
    { outOfScope },
  );
  assert.deepEqual(outcome.aborted.map((a) => a.rolloutId), ['rollout-checkout-eu']);
  assert.deepEqual(
    outcome.skipped.map((s) => [s.alert, s.reason]),
    [
      ['A', `${OUT_OF_SCOPE_PREFIX}principal am may not abort service payments`],
      ['C', 'refused, out of scope: principal am may not abort service payments'],
      // Not opted in: skipped for that reason, whatever the scope.
      ['D', 'does not opt in: only alerts labelled phoenix_action="abort" abort a rollout'],
    ],
  );
  assert.deepEqual(calls, ['run rollout-checkout-eu', 'abort rollout-checkout-eu']);
});
