/** sendAlert / resolveAlerts against a real Alertmanager. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createActivities } from '../../activities';
import { ALERT_TTL_MS } from '../../activities/alerts';
import { freePort } from '../helpers/free-port';
import { listAlerts, startAlertmanager, type AlertmanagerHandle } from '../helpers/alertmanager';
import { rolloutSpec } from '../helpers/rollout-spec';

describe('alerts with a real Alertmanager', () => {
  let am: AlertmanagerHandle;
  const registry = new Registry();
  const activities = createActivities({ logger: pino({ level: 'silent' }), registry });
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });

  before(async () => {
    am = await startAlertmanager();
  });
  after(async () => {
    await am?.stop();
  });

  it('sends alerts with identifying labels and resolves all but the kept ones', async () => {
    const spec = rolloutSpec({ alerts: { alertmanagerUrl: am.url, labels: { team: 'payments', severity: 'ignored' } } });
    const rolloutId = 'rollout-checkout';
    const before = Date.now();
    await env.run(activities.sendAlert, { rolloutId, spec, severity: 'warning' as const, name: 'CanaryDegraded', reason: 'p95 300ms > 200ms' });
    await env.run(activities.sendAlert, {
      rolloutId,
      spec,
      severity: 'critical' as const,
      name: 'CanaryRolledBack',
      reason: 'immediate_rollback: error_rate 5% > 1%',
    });
    // Idempotent: a retried send does not create a second alert.
    await env.run(activities.sendAlert, {
      rolloutId,
      spec,
      severity: 'critical' as const,
      name: 'CanaryRolledBack',
      reason: 'immediate_rollback: error_rate 5% > 1%',
    });
    // Another rollout's alert must survive this rollout's resolution.
    await env.run(activities.sendAlert, { rolloutId: 'rollout-other', spec, severity: 'info' as const, name: 'CanaryDegraded', reason: 'x' });

    const active = await listAlerts(am.url, `rollout_id="${rolloutId}"`);
    assert.deepEqual(active.map((a) => a.labels.alertname).sort(), ['CanaryDegraded', 'CanaryRolledBack']);
    const rolledBack = active.find((a) => a.labels.alertname === 'CanaryRolledBack');
    assert.deepEqual(rolledBack?.labels, {
      alertname: 'CanaryRolledBack',
      service: 'checkout',
      rollout_id: rolloutId,
      severity: 'critical' as const,
      origin: 'phoenix',
      team: 'payments',
    });
    assert.equal(rolledBack?.annotations.reason, 'immediate_rollback: error_rate 5% > 1%');
    const endsAt = Date.parse(rolledBack?.endsAt ?? '');
    assert.ok(endsAt >= before + ALERT_TTL_MS - 5000, `endsAt ${rolledBack?.endsAt} should be about an hour away`);

    await env.run(activities.resolveAlerts, { rolloutId, spec, keep: ['CanaryRolledBack'] });
    const after = await listAlerts(am.url, `rollout_id="${rolloutId}"`);
    assert.deepEqual(
      after.map((a) => a.labels.alertname),
      ['CanaryRolledBack'],
    );
    assert.equal((await listAlerts(am.url, 'rollout_id="rollout-other"')).length, 1);

    await env.run(activities.resolveAlerts, { rolloutId, spec });
    assert.deepEqual(await listAlerts(am.url, `rollout_id="${rolloutId}"`), []);

    const alerts = await registry.getSingleMetricAsString('phoenix_alerts_total');
    assert.match(alerts, /severity="critical",name="CanaryRolledBack"\} 2/);
    // Rollbacks are counted by setCanaryWeight when the weight reaches 0 (test/unit/app-metrics.test.ts), not per alert.
    const rollbacks = await registry.getSingleMetricAsString('phoenix_rollbacks_total');
    assert.doesNotMatch(rollbacks, /action=/);
  });

  it('only logs when no Alertmanager is configured', async () => {
    const spec = rolloutSpec();
    await env.run(activities.sendAlert, { rolloutId: 'r', spec, severity: 'info' as const, name: 'CanaryStarted', reason: 'start' });
    await env.run(activities.resolveAlerts, { rolloutId: 'r', spec });
  });

  it('fails retryably when Alertmanager is unreachable', async () => {
    const spec = rolloutSpec({ alerts: { alertmanagerUrl: `http://127.0.0.1:${await freePort()}` } });
    await assert.rejects(
      env.run(activities.sendAlert, { rolloutId: 'r', spec, severity: 'info' as const, name: 'X', reason: 'y' }),
      (err: unknown) => err instanceof ApplicationFailure && err.type === 'AlertDeliveryError' && !err.nonRetryable,
    );
  });
});
