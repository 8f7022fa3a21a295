/**
 * Alertmanager webhook receiver: a firing alert that names a rollout aborts it. Alertmanager
 * retries on 5xx, so an unreachable Temporal server is surfaced as an error, not swallowed.
 */
import type { FastifyBaseLogger } from 'fastify';
import { z } from 'zod';
import { normalizeRolloutId } from '../ids';
import type { RolloutClient } from '../rollouts';

/** The part of Alertmanager's webhook payload (version 4) that is used. */
export const alertmanagerPayload = z.object({
  version: z.string().optional(),
  status: z.string().optional(),
  alerts: z.array(
    z.object({
      status: z.string(),
      labels: z.record(z.string(), z.string()),
      annotations: z.record(z.string(), z.string()).optional(),
    }),
  ),
});
/** A validated Alertmanager webhook body. */
export type AlertmanagerPayload = z.infer<typeof alertmanagerPayload>;

/**
 * Alerts with this label value come from Phoenix itself (activities' `sendAlert`); they report
 * what a rollout already did, so acting on them again would only loop.
 */
export const PHOENIX_ORIGIN_LABEL = 'origin';
/** Value of {@link PHOENIX_ORIGIN_LABEL} on Phoenix's own alerts. */
export const PHOENIX_ORIGIN_VALUE = 'phoenix';

/** What the webhook did with each alert (its response body). */
export interface AlertAbortOutcome {
  aborted: { rolloutId: string; alert: string }[];
  skipped: { rolloutId: string | null; alert: string; reason: string }[];
}

/** The rollout an alert names: label `rollout_id`, else `service` → `rollout-<service>`. */
export function rolloutIdOfAlert(labels: Record<string, string>): string | null {
  if (labels.rollout_id !== undefined) return normalizeRolloutId(labels.rollout_id);
  // Prefixing keeps a service that is itself named `rollout-x` from being read as an id.
  if (labels.service !== undefined) return normalizeRolloutId(`rollout-${labels.service}`);
  return null;
}

/** Aborts every rollout named by a firing alert, once per rollout, with the alert name as reason. */
export async function abortForAlerts(
  rollouts: Pick<RolloutClient, 'abort'>,
  payload: AlertmanagerPayload,
  log: FastifyBaseLogger,
): Promise<AlertAbortOutcome> {
  const outcome: AlertAbortOutcome = { aborted: [], skipped: [] };
  const handled = new Set<string>();
  for (const alert of payload.alerts) {
    const name = alert.labels.alertname ?? 'unnamed alert';
    if (alert.status !== 'firing') continue;
    if (alert.labels[PHOENIX_ORIGIN_LABEL] === PHOENIX_ORIGIN_VALUE) {
      outcome.skipped.push({ rolloutId: alert.labels.rollout_id ?? null, alert: name, reason: 'raised by phoenix itself' });
      continue;
    }
    let rolloutId: string | null;
    try {
      rolloutId = rolloutIdOfAlert(alert.labels);
    } catch (err) {
      outcome.skipped.push({ rolloutId: null, alert: name, reason: (err as Error).message });
      continue;
    }
    if (rolloutId === null) {
      outcome.skipped.push({ rolloutId: null, alert: name, reason: 'no rollout_id or service label' });
      continue;
    }
    if (handled.has(rolloutId)) continue;
    handled.add(rolloutId);
    try {
      await rollouts.abort(rolloutId, name, 'alertmanager');
      log.warn({ rolloutId, alert: name }, 'rollout aborted by alert');
      outcome.aborted.push({ rolloutId, alert: name });
    } catch (err) {
      const e = err as Error;
      if (e.name !== 'RolloutNotFoundError' && e.name !== 'RolloutAlreadyFinishedError') throw err;
      log.info({ rolloutId, alert: name, reason: e.message }, 'alert names no running rollout');
      outcome.skipped.push({ rolloutId, alert: name, reason: e.message });
    }
  }
  return outcome;
}
