/**
 * The real rollout activities. Dependencies are injected (logger, registry, fetch, env) and the
 * backends are chosen per call from the rollout spec, so one worker serves any mix of rollouts.
 */
import { Context } from '@temporalio/activity';
import type { Logger } from 'pino';
import { renderQuery } from '../rollout-spec/queries';
import type { Registry } from 'prom-client';
import { buildAlert, AlertmanagerClient } from './alerts';
import { appMetrics } from './app-metrics';
import { ClientCache } from './client-cache';
import { ConfigError, failureType, toApplicationFailure } from './errors';
import { queryInstant } from './metrics/prometheus-client';
import { PlatformFactory, type PlatformCall } from './platform';
import { checkContext, RolloutContextMetrics } from './rollout-context-metrics';
import { TrafficRouterFactory } from './traffic';
import type {
  AlertInput,
  HealthResult,
  MetricSample,
  QueryMetricsInput,
  RolloutActivities,
  RolloutRef,
  SetWeightInput,
  SetWeightResult,
} from './types';

/** What the activities need from the worker. */
export interface ActivityDeps {
  /** Root logger; each activity logs through a child carrying `rolloutId`. */
  logger: Logger;
  /** The app's prom-client registry (the worker serves it on /metrics). */
  registry: Registry;
  fetch?: typeof fetch;
  /** The worker environment: webhook secrets and the environment of started processes. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Timeout of one load balancer call (ms). */
  trafficTimeoutMs?: number;
  /** SIGTERM → SIGKILL grace for local processes (ms). */
  stopGraceMs?: number;
  /** Pause between health probes (ms). */
  healthIntervalMs?: number;
  /** How many Prometheus queries run at once. */
  queryConcurrency?: number;
  now?: () => number;
}

/** The name of the alert the workflow sends when it rolls back. */
export const ROLLBACK_ALERT_NAME = 'CanaryRolledBack';

/** Creates the activity implementations; register the result on the worker as `activities`. */
export function createActivities(deps: ActivityDeps): RolloutActivities {
  const fetchImpl = deps.fetch ?? globalThis.fetch;
  const env = deps.env ?? {};
  const now = deps.now ?? Date.now;
  const metrics = appMetrics(deps.registry);
  const rolloutMetrics = new RolloutContextMetrics(metrics, now);
  const routers = new TrafficRouterFactory({ fetch: fetchImpl, env, logger: deps.logger, timeoutMs: deps.trafficTimeoutMs });
  const platforms = new PlatformFactory({
    env,
    fetch: fetchImpl,
    stopGraceMs: deps.stopGraceMs,
    healthIntervalMs: deps.healthIntervalMs,
  });
  const alertmanagers = new ClientCache<AlertmanagerClient>();
  // Canaries this worker deployed and has not yet promoted or terminated: a Set keeps the gauge
  // right when Temporal retries an activity.
  const active = new Set<string>();
  const lastWeight = new Map<string, number>();

  /** Runs one activity body with a per-rollout logger, failure metrics and error conversion. */
  async function run<T>(activity: string, input: RolloutRef, body: (call: PlatformCall) => Promise<T>): Promise<T> {
    if (!input || typeof input.rolloutId !== 'string' || !input.spec || typeof input.spec !== 'object') {
      throw toApplicationFailure(new ConfigError(`${activity}: input must be {rolloutId, spec, ...}`, 'input'));
    }
    const logger = deps.logger.child({ rolloutId: input.rolloutId, activity });
    const call = { ...activityScope(now), rolloutId: input.rolloutId, spec: input.spec, logger };
    try {
      return await body(call);
    } catch (err) {
      const type = failureType(err);
      metrics.activityFailures.inc({ activity, type });
      logger.warn({ err, type }, 'activity failed');
      throw toApplicationFailure(err);
    }
  }

  function updateActive(rolloutId: string, running: boolean): void {
    if (running) active.add(rolloutId);
    else active.delete(rolloutId);
    metrics.activeRollouts.set(active.size);
  }

  return {
    async deployCanary(input: RolloutRef): Promise<void> {
      await run('deployCanary', input, async (call) => {
        await platforms.platformFor(input.spec.platform).deployCanary(call);
        updateActive(input.rolloutId, true);
      });
    },

    async checkCanaryHealth(input: RolloutRef): Promise<HealthResult> {
      return run('checkCanaryHealth', input, async (call) => {
        const result = await platforms.platformFor(input.spec.platform).checkHealth(call);
        call.logger.info(result, 'canary health checked');
        return result;
      });
    },

    async setCanaryWeight(input: SetWeightInput): Promise<SetWeightResult> {
      return run('setCanaryWeight', input, async (call) => {
        const router = routers.routerFor(input.spec.traffic, { service: input.spec.service, rolloutId: input.rolloutId });
        const weight = await router.setCanaryWeight(input.weight, call.signal);
        if (lastWeight.get(input.rolloutId) !== weight) metrics.weightChanges.inc({ service: input.spec.service });
        lastWeight.set(input.rolloutId, weight);
        metrics.canaryWeight.set({ service: input.spec.service, rollout_id: input.rolloutId }, weight);
        const ctx = checkContext(input.context, call.logger);
        rolloutMetrics.update(input.rolloutId, input.spec.service, ctx);
        rolloutMetrics.weightApplied(input.rolloutId, input.spec.service, weight, ctx, currentRunId());
        call.logger.info({ weight, requested: input.weight }, 'canary weight set');
        return { weight };
      });
    },

    async queryMetrics(input: QueryMetricsInput): Promise<MetricSample[]> {
      return run('queryMetrics', input, async (call) => {
        rolloutMetrics.update(input.rolloutId, input.spec.service, checkContext(input.context, call.logger));
        const source = input.spec.metrics;
        if (!/^https?:\/\/[^/]/.test(source.prometheusUrl ?? '')) {
          throw new ConfigError(
            `metrics.prometheusUrl must be an http(s) URL, got ${JSON.stringify(source.prometheusUrl)}`,
            'metrics.prometheusUrl',
          );
        }
        const samples = await mapLimit(input.queries, deps.queryConcurrency ?? 4, async (q): Promise<MetricSample> => {
          const template = source.queries[q.metric];
          if (typeof template !== 'string') {
            return { ...q, status: 'error', detail: `metric ${q.metric} is disabled (metrics.queries.${q.metric} is null)` };
          }
          let query: string;
          try {
            query = renderQuery(template, {
              service: input.spec.service,
              version: q.target === 'canary' ? input.spec.canary.version : input.spec.stable.version,
              versionLabel: source.versionLabel,
              windowMs: q.windowMs,
            });
          } catch (err) {
            return { ...q, status: 'error', detail: `invalid query: ${(err as Error).message}` };
          }
          const outcome = await queryInstant({
            prometheusUrl: source.prometheusUrl,
            query,
            timeoutMs: source.queryTimeoutMs,
            fetch: fetchImpl,
            signal: call.signal,
          });
          call.logger.debug({ metric: q.metric, target: q.target, query, ...outcome }, 'metric queried');
          return { ...q, ...outcome };
        });
        for (const s of samples) metrics.metricQueries.inc({ metric: s.metric, status: s.status });
        const notOk = samples.filter((s) => s.status !== 'ok');
        if (notOk.length > 0) {
          call.logger.info(
            { notOk: notOk.map((s) => ({ metric: s.metric, target: s.target, status: s.status, detail: s.detail })) },
            'some metric queries were inconclusive',
          );
        }
        return samples;
      });
    },

    async promoteCanary(input: RolloutRef): Promise<void> {
      await run('promoteCanary', input, async (call) => {
        await platforms.platformFor(input.spec.platform).promoteCanary(call);
        updateActive(input.rolloutId, false);
        rolloutMetrics.clearDeadline(input.rolloutId);
        call.logger.info({ version: input.spec.canary.version }, 'canary promoted');
      });
    },

    async terminateCanary(input: RolloutRef): Promise<void> {
      await run('terminateCanary', input, async (call) => {
        await platforms.platformFor(input.spec.platform).terminateCanary(call);
        updateActive(input.rolloutId, false);
        rolloutMetrics.clear(input.rolloutId);
      });
    },

    async sendAlert(input: AlertInput): Promise<void> {
      await run('sendAlert', input, async (call) => {
        const alert = buildAlert({
          name: input.name,
          service: input.spec.service,
          rolloutId: input.rolloutId,
          severity: input.severity,
          reason: input.reason,
          settings: input.spec.alerts ?? { labels: {} },
          now: now(),
        });
        const url = input.spec.alerts?.alertmanagerUrl;
        if (url) {
          await alertmanagers.get(url, () => new AlertmanagerClient(url, fetchImpl)).post([alert], call.signal);
        }
        call.logger.warn({ alert: alert.labels, reason: input.reason, delivered: Boolean(url) }, 'alert raised');
        // Rollbacks are counted where the weight reaches 0 (setCanaryWeight), with the action the workflow reports.
        metrics.alerts.inc({ severity: input.severity, name: input.name });
      });
    },

    async resolveAlerts(input: RolloutRef & { keep?: string[] }): Promise<void> {
      await run('resolveAlerts', input, async (call) => {
        const url = input.spec.alerts?.alertmanagerUrl;
        if (!url) {
          call.logger.info({ keep: input.keep ?? [] }, 'alerts resolved (log only)');
          return;
        }
        const client = alertmanagers.get(url, () => new AlertmanagerClient(url, fetchImpl));
        const keep = new Set(input.keep ?? []);
        const open = await client.listByLabel('rollout_id', input.rolloutId, call.signal);
        const endsAt = new Date(now()).toISOString();
        const toResolve = open.filter((a) => !keep.has(a.labels.alertname ?? ''));
        await client.post(
          toResolve.map((a) => ({ ...a, endsAt })),
          call.signal,
        );
        call.logger.info({ resolved: toResolve.map((a) => a.labels.alertname), kept: [...keep] }, 'alerts resolved');
      });
    },
  };
}

/** The workflow run the current activity belongs to ('' outside an activity). */
function currentRunId(): string {
  try {
    return Context.current().info.workflowExecution?.runId ?? '';
  } catch {
    return '';
  }
}

/** Heartbeat, cancellation and deadline from the activity context (inert outside one). */
function activityScope(now: () => number): Pick<PlatformCall, 'signal' | 'heartbeat' | 'deadline'> {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    // Called outside an activity (scripts, direct tests): nothing to heartbeat to, nothing cancels.
    return { signal: new AbortController().signal, heartbeat: () => undefined, deadline: now() + 10 * 60_000 };
  }
  const info = ctx.info;
  const start = now();
  const limits: number[] = [];
  if (info.startToCloseTimeoutMs > 0) limits.push(start + info.startToCloseTimeoutMs);
  if (info.scheduleToCloseTimeoutMs > 0 && info.scheduledTimestampMs > 1) {
    limits.push(info.scheduledTimestampMs + info.scheduleToCloseTimeoutMs);
  }
  const hardLimit = limits.length ? Math.min(...limits) : start + 10 * 60_000;
  // Leave room to report "not healthy" as a result before Temporal times the attempt out.
  const margin = Math.min(5000, Math.max(0, (hardLimit - start) * 0.1));
  return { signal: ctx.cancellationSignal, heartbeat: (d) => ctx.heartbeat(d), deadline: hardLimit - margin };
}

/** `Promise.all` over `items` with at most `limit` running at once, preserving order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(Math.max(1, limit), items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  });
  await Promise.all(workers);
  return results;
}
