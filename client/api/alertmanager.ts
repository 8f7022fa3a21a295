/**
 * Alertmanager webhook receiver: an alert that opts in aborts the one rollout run it is about.
 *
 * An alert aborts only when all of this holds, and is skipped with the reason otherwise:
 * 1. it is firing, and was not raised by Phoenix itself (`origin="phoenix"`: acting on those would loop);
 * 2. it opts in with `phoenix_action="abort"` (Phoenix's own Prometheus rules never do);
 * 3. it names a rollout: `rollout_id`, or `service` meaning `rollout-<service>`;
 * 4. it is scoped to a run: `canary_version` and/or `phoenix_run_id` (the run id `start` returned,
 *    or the current run's), and every one it carries matches the running rollout. An alert about
 *    an earlier rollout of the same service (Alertmanager re-sends firing alerts every
 *    `repeat_interval`) is `stale` and leaves the current one alone.
 * 5. the caller's credential may `abort` the rollout's service; otherwise the alert is skipped as
 *    `refused, out of scope: principal … may not abort service …` and nothing is asked of Temporal.
 * The abort is the `abort` update with `by` = `alertmanager:<alertname>`, bound to the run that was
 * checked, so a rollout started in between is not hit. Alertmanager retries on 5xx, so an
 * unreachable Temporal server is surfaced as an error, not swallowed.
 */
import type { FastifyBaseLogger } from 'fastify';
import { z } from 'zod';
import { isOperatorActionRefused } from '../errors';
import { normalizeRolloutId } from '../ids';
import type { RolloutClient, RolloutRun } from '../rollouts';

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
/** One alert of the payload. */
export type Alert = AlertmanagerPayload['alerts'][number];

/**
 * Alerts with this label value come from Phoenix itself (activities' `sendAlert`); they report
 * what a rollout already did, so acting on them again would only loop.
 */
export const PHOENIX_ORIGIN_LABEL = 'origin';
/** Value of {@link PHOENIX_ORIGIN_LABEL} on Phoenix's own alerts. */
export const PHOENIX_ORIGIN_VALUE = 'phoenix';
/** The opt-in label: only alerts with `phoenix_action="abort"` abort anything. */
export const PHOENIX_ACTION_LABEL = 'phoenix_action';
/** Label scoping an alert to the canary version it is about. */
export const CANARY_VERSION_LABEL = 'canary_version';
/** Label scoping an alert to a run: the rollout's first run id (what `start` returns) or its current one. */
export const RUN_ID_LABEL = 'phoenix_run_id';

/** What the webhook did with each alert (its response body). */
export interface AlertAbortOutcome {
  aborted: { rolloutId: string; alert: string; message: string }[];
  skipped: { rolloutId: string | null; alert: string; reason: string }[];
}

/** What the labels alone say about an alert: skip it (and why), or abort the rollout it names if its run matches. */
export type AlertTriage =
  | { kind: 'skip'; alert: string; rolloutId: string | null; reason: string }
  | { kind: 'abort'; alert: string; rolloutId: string; canaryVersion?: string; runId?: string };

/** The rollout an alert names: label `rollout_id`, else `service` → `rollout-<service>`. */
export function rolloutIdOfAlert(labels: Record<string, string>): string | null {
  if (labels.rollout_id !== undefined) return normalizeRolloutId(labels.rollout_id);
  // Prefixing keeps a service that is itself named `rollout-x` from being read as an id.
  if (labels.service !== undefined) return normalizeRolloutId(`rollout-${labels.service}`);
  return null;
}

/** Decides from the labels alone (no Temporal call) whether an alert may abort a rollout. */
export function triageAlert(alert: Alert): AlertTriage {
  const { labels } = alert;
  const name = labels.alertname ?? 'unnamed alert';
  const skip = (reason: string, rolloutId: string | null = null): AlertTriage => ({ kind: 'skip', alert: name, rolloutId, reason });
  const named = (): string | null => {
    try {
      return rolloutIdOfAlert(labels);
    } catch {
      return null;
    }
  };
  if (alert.status !== 'firing') return skip(`not firing (${alert.status})`, named());
  if (labels[PHOENIX_ORIGIN_LABEL] === PHOENIX_ORIGIN_VALUE) return skip('raised by phoenix itself', named());
  if (labels[PHOENIX_ACTION_LABEL] !== 'abort') {
    const value = labels[PHOENIX_ACTION_LABEL];
    return skip(
      value === undefined
        ? `does not opt in: only alerts labelled ${PHOENIX_ACTION_LABEL}="abort" abort a rollout`
        : `unknown ${PHOENIX_ACTION_LABEL} ${JSON.stringify(value)}: only "abort" is acted on`,
      named(),
    );
  }
  let rolloutId: string | null;
  try {
    rolloutId = rolloutIdOfAlert(labels);
  } catch (err) {
    return skip((err as Error).message);
  }
  if (rolloutId === null) return skip('names no rollout: needs a rollout_id or service label');
  const canaryVersion = labels[CANARY_VERSION_LABEL] || undefined;
  const runId = labels[RUN_ID_LABEL] || undefined;
  if (canaryVersion === undefined && runId === undefined) {
    return skip(`not scoped to a run: needs a ${CANARY_VERSION_LABEL} or ${RUN_ID_LABEL} label`, rolloutId);
  }
  return { kind: 'abort', alert: name, rolloutId, canaryVersion, runId };
}

/**
 * Why an alert scoped to `scope` is not about `run`, or null when it is. Skipped alerts are
 * `stale: about a previous rollout …` when the versions or run ids differ.
 */
export function staleness(scope: { canaryVersion?: string; runId?: string }, run: RolloutRun): string | null {
  if (run.executionStatus !== 'RUNNING') return `no rollout running (the latest ended ${run.executionStatus.toLowerCase()})`;
  if (scope.canaryVersion !== undefined && scope.canaryVersion !== run.canaryVersion) {
    return `stale: about a previous rollout (${CANARY_VERSION_LABEL} ${scope.canaryVersion}, running ${run.canaryVersion || 'unknown'})`;
  }
  if (scope.runId !== undefined && scope.runId !== run.firstRunId && scope.runId !== run.runId) {
    return `stale: about a previous rollout (${RUN_ID_LABEL} ${scope.runId}, running ${run.firstRunId})`;
  }
  return null;
}

/** Errors that mean "nothing to abort there", reported as a skip rather than a 5xx. */
const NOTHING_TO_ABORT = new Set(['RolloutNotFoundError', 'RolloutAlreadyFinishedError']);

/** Prefix of the skip reason of an alert about a service the caller may not abort. */
export const OUT_OF_SCOPE_PREFIX = 'refused, out of scope: ';

/** Options of {@link abortForAlerts}. */
export interface AbortForAlertsOptions {
  /**
   * Why the caller may not abort `rolloutId` (e.g. `principal am may not abort service payments`),
   * or null when it may. Default: every rollout may be aborted.
   */
  outOfScope?: (rolloutId: string) => string | null;
}

/**
 * Aborts the rollout run each opted-in, matching, firing alert is about, once per rollout per
 * notification; every other alert is listed in `skipped` with the reason.
 */
export async function abortForAlerts(
  rollouts: Pick<RolloutClient, 'abort' | 'run'>,
  payload: AlertmanagerPayload,
  log: FastifyBaseLogger,
  options: AbortForAlertsOptions = {},
): Promise<AlertAbortOutcome> {
  const outcome: AlertAbortOutcome = { aborted: [], skipped: [] };
  /** Rollouts already aborted (or found to have nothing to abort) in this notification, by alert. */
  const handled = new Map<string, string>();
  const runs = new Map<string, RolloutRun | null>();
  const runOf = async (rolloutId: string): Promise<RolloutRun | null> => {
    if (!runs.has(rolloutId)) {
      try {
        runs.set(rolloutId, await rollouts.run(rolloutId));
      } catch (err) {
        if (!(err instanceof Error && err.name === 'RolloutNotFoundError')) throw err;
        runs.set(rolloutId, null);
      }
    }
    return runs.get(rolloutId) ?? null;
  };

  for (const alert of payload.alerts) {
    const triage = triageAlert(alert);
    const name = triage.alert;
    if (triage.kind === 'skip') {
      outcome.skipped.push({ rolloutId: triage.rolloutId, alert: name, reason: triage.reason });
      continue;
    }
    const { rolloutId } = triage;
    const skip = (reason: string): void => void outcome.skipped.push({ rolloutId, alert: name, reason });
    // Checked before anything is asked of Temporal: out of scope means not even looked at.
    const refusal = options.outOfScope?.(rolloutId) ?? null;
    if (refusal !== null) {
      log.warn({ rolloutId, alert: name, reason: refusal }, 'abort by alert refused: out of scope');
      skip(`${OUT_OF_SCOPE_PREFIX}${refusal}`);
      continue;
    }
    const earlier = handled.get(rolloutId);
    if (earlier !== undefined) {
      skip(`already handled by alert ${earlier} in this notification`);
      continue;
    }
    const run = await runOf(rolloutId);
    if (run === null) {
      skip(`rollout ${rolloutId} not found`);
      continue;
    }
    const stale = staleness(triage, run);
    if (stale !== null) {
      log.info({ rolloutId, alert: name, reason: stale }, 'alert skipped');
      skip(stale);
      continue;
    }
    handled.set(rolloutId, name);
    const summary = alert.annotations?.summary;
    const reason = summary ? `${name}: ${summary}` : name;
    try {
      const ack = await rollouts.abort(rolloutId, reason, `alertmanager:${name}`, { firstRunId: run.firstRunId });
      log.warn({ rolloutId, alert: name, state: ack.state }, 'rollout aborted by alert');
      outcome.aborted.push({ rolloutId, alert: name, message: ack.message });
    } catch (err) {
      if (isOperatorActionRefused(err)) {
        log.info({ rolloutId, alert: name, reason: err.reason }, 'abort by alert refused');
        skip(err.reason);
        continue;
      }
      if (!(err instanceof Error && NOTHING_TO_ABORT.has(err.name))) throw err;
      log.info({ rolloutId, alert: name, reason: err.message }, 'alert names no running rollout');
      skip(err.message);
    }
  }
  return outcome;
}
