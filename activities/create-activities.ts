/**
 * The real rollout activities. Dependencies are injected (logger, registry, fetch, env) and the
 * backends are chosen per call from the rollout spec, so one worker serves any mix of rollouts.
 */
import { Context } from '@temporalio/activity';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { buildAlert, AlertmanagerClient } from './alerts';
import { appMetrics } from './app-metrics';
import { ClientCache } from './client-cache';
import { ConfigError, failureType, toApplicationFailure } from './errors';
import { guardCanaryLoop } from './fast-guard';
import { runJudgeActivity } from './judge/activity';
import { preflightMetricQueries } from './metrics/preflight';
import type { SharedDeadline } from './metrics/prometheus-client';
import { runMetricQueries, type QueryLimit } from './metrics/run-queries';
import { PlatformFactory, type PlatformCall } from './platform';
import { createResolveRollout, type TargetPolicy } from './resolve-rollout';
import { WAIT_HEARTBEAT_MS } from './platform/poll-health';
import { checkContext, RolloutContextMetrics } from './rollout-context-metrics';
import { TrafficRouterFactory, type TrafficWeights } from './traffic';
import { ALERT_NAMES } from '../workflows/contract';
import { freshBaselineWeight } from '../rollout-spec/fresh-baseline';
import type {
  AlertInput,
  AnalyseCanaryInput,
  AnalyseCanaryResult,
  GuardCanaryInput,
  GuardCanaryResult,
  HealthResult,
  JudgeCanaryInput,
  MetricSample,
  PreflightProblem,
  QueryMetricsInput,
  RolloutActivities,
  RolloutRef,
  SetWeightInput,
  SetWeightResult,
  TrafficObservation,
} from './types';
import type { JudgeResult } from './judge/types';

/** What the activities need from the worker. */
export interface ActivityDeps {
  /** Root logger; each activity logs through a child carrying `rolloutId`. */
  logger: Logger;
  /** The app's prom-client registry (the worker serves it on /metrics). */
  registry: Registry;
  fetch?: typeof fetch;
  /** The worker environment: webhook secrets and the environment of started processes. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Where rollout targets may come from (default: no catalog, no inline targets). */
  targets?: TargetPolicy;
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

/** The name of the alert the workflow sends when it rolls back (kept for importers; the contract owns it). */
export const ROLLBACK_ALERT_NAME = ALERT_NAMES.rolledBack;

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

  /**
   * Runs one activity body with a per-rollout logger, failure metrics and error conversion. Once
   * the activity is cancelled, whatever the body throws becomes the cancellation itself. With
   * `keepAlive`, the activity heartbeats (repeating the body's latest details) every
   * {@link WAIT_HEARTBEAT_MS} for as long as the body runs, whatever it is waiting on.
   */
  async function run<T>(
    activity: string,
    input: RolloutRef,
    body: (call: PlatformCall) => Promise<T>,
    opts: { keepAlive?: boolean } = {},
  ): Promise<T> {
    if (!input || typeof input.rolloutId !== 'string' || !input.spec || typeof input.spec !== 'object') {
      throw toApplicationFailure(new ConfigError(`${activity}: input must be {rolloutId, spec, ...}`, 'input'));
    }
    const logger = deps.logger.child({ rolloutId: input.rolloutId, activity });
    const scope = activityScope(now);
    let ticker: NodeJS.Timeout | undefined;
    let heartbeat = scope.heartbeat;
    if (opts.keepAlive) {
      let latest: unknown;
      heartbeat = (details) => {
        latest = details;
        scope.heartbeat(details);
      };
      ticker = setInterval(() => scope.heartbeat(latest), WAIT_HEARTBEAT_MS);
    }
    const call = { ...scope, heartbeat, rolloutId: input.rolloutId, spec: input.spec, logger };
    try {
      return await body(call);
    } catch (thrown) {
      // e.g. a webhook call aborted by the cancellation reports "unavailable"; the truth is "cancelled".
      const err: unknown = call.signal.aborted ? (call.signal.reason ?? thrown) : thrown;
      const type = failureType(err);
      metrics.activityFailures.inc({ activity, type });
      if (call.signal.aborted) logger.info({ type }, 'activity cancelled');
      else logger.warn({ err, type }, 'activity failed');
      throw toApplicationFailure(err);
    } finally {
      clearInterval(ticker);
    }
  }

  /** Runs an analysis' queries (shared by analyseCanary and queryMetrics), counting and logging outcomes. */
  async function queryBatch(call: PlatformCall, input: QueryMetricsInput, limit: QueryLimit): Promise<MetricSample[]> {
    rolloutMetrics.update(input.rolloutId, input.spec.service, checkContext(input.context, call.logger));
    const samples = await runMetricQueries({
      spec: input.spec,
      queries: input.queries,
      fetch: fetchImpl,
      concurrency: deps.queryConcurrency ?? 4,
      limit,
      signal: call.signal,
      logger: call.logger,
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
  }

  /**
   * Reads the router's weights under the analysis deadline and compares them with the plan. Never
   * throws except on cancellation: a failed read is an observation (`canaryWeight: null`).
   */
  async function observeTraffic(call: PlatformCall, input: AnalyseCanaryInput, deadline: SharedDeadline): Promise<TrafficObservation> {
    // A fresh baseline's share follows the canary's weight (rollout-spec/judge.ts), so its expected weight is known here.
    const baseline = input.spec.judge?.freshBaseline ? freshBaselineWeight(input.expectedWeight) : undefined;
    const expected = { canary: input.expectedWeight, stable: 100 - input.expectedWeight - (baseline ?? 0) };
    let weights: TrafficWeights | null;
    try {
      const router = routers.routerFor(input.spec.traffic, { service: input.spec.service, rolloutId: input.rolloutId });
      const signal = AbortSignal.any([call.signal, deadline.signal]);
      // Pool routers judge drift against the split the servers' health calls for now.
      if (router.checkSplit) {
        const canaryMembers = platforms.platformFor(input.spec.platform).canaryInstancesFor?.(input.spec, input.expectedWeight);
        return await router.checkSplit(input.expectedWeight, signal, canaryMembers);
      }
      weights = await router.readWeights(signal, baseline === undefined ? {} : { baseline: true });
    } catch (err) {
      if (call.signal.aborted) throw call.signal.reason;
      const why = deadline.signal.aborted ? deadline.detail : err instanceof Error ? err.message : String(err);
      call.logger.warn({ err }, 'could not read the traffic weights back');
      return { canaryWeight: null, drifted: false, detail: `could not read the router's weights: ${why}` };
    }
    if (weights === null) return { canaryWeight: null, drifted: false, detail: 'router cannot read weights back' };
    const drifted =
      weights.canary !== expected.canary ||
      (weights.stable !== undefined && weights.stable !== expected.stable) ||
      (baseline !== undefined && weights.baseline !== baseline);
    const read =
      (weights.stable === undefined ? `canary=${weights.canary}` : `canary=${weights.canary} stable=${weights.stable}`) +
      (weights.baseline === undefined ? '' : ` baseline=${weights.baseline}`);
    const wanted = `canary=${expected.canary} stable=${expected.stable}${baseline === undefined ? '' : ` baseline=${baseline}`}`;
    return {
      canaryWeight: weights.canary,
      drifted,
      detail: drifted ? `read ${read}, expected ${wanted}` : `read ${read}, as planned`,
    };
  }

  function updateActive(rolloutId: string, running: boolean): void {
    if (running) active.add(rolloutId);
    else active.delete(rolloutId);
    metrics.activeRollouts.set(active.size);
  }

  return {
    resolveRollout: createResolveRollout(deps.targets ?? { allowInlineTargets: false }, deps.logger),

    async deployCanary(input: RolloutRef): Promise<void> {
      await run(
        'deployCanary',
        input,
        async (call) => {
          await platforms.platformFor(input.spec.platform).deployCanary(call);
          updateActive(input.rolloutId, true);
        },
        { keepAlive: true },
      );
    },

    async checkCanaryHealth(input: RolloutRef): Promise<HealthResult> {
      return run(
        'checkCanaryHealth',
        input,
        async (call) => {
          const result = await platforms.platformFor(input.spec.platform).checkHealth(call);
          call.logger.info(result, 'canary health checked');
          return result;
        },
        { keepAlive: true },
      );
    },

    async setCanaryWeight(input: SetWeightInput): Promise<SetWeightResult> {
      return run('setCanaryWeight', input, async (call) => {
        const router = routers.routerFor(input.spec.traffic, { service: input.spec.service, rolloutId: input.rolloutId });
        if (input.force) {
          call.logger.warn(
            { weight: input.weight, phase: input.context?.phase, rollbackAction: input.context?.rollbackAction },
            'forced weight change: traffic moves even if the server taking it all is not UP',
          );
        }
        // A fresh baseline gets its share of the canary's weight, and 0 whenever the canary has 0 or 100%.
        const baselineWeight = input.spec.judge?.freshBaseline ? freshBaselineWeight(input.weight) : undefined;
        const options = {
          serverUpTimeoutMs: input.serverUpTimeoutMs,
          force: input.force === true,
          reason: input.force ? 'operator forced the move (abort --force)' : undefined,
          ...(baselineWeight === undefined ? {} : { baselineWeight }),
        };
        // A canary pool that follows its weight grows before the traffic reaches the new instances
        // and shrinks after it left them. A rollback never starts instances: it only takes traffic away.
        const platform = platforms.platformFor(input.spec.platform);
        const canaryMembers = platform.canaryInstancesFor?.(input.spec, input.weight);
        const rollingBack = input.weight === 0 || Boolean(input.context?.rollbackAction);
        const grown = canaryMembers !== undefined && !rollingBack ? ((await platform.scaleCanary?.(call, canaryMembers, 'grow')) ?? 0) : 0;
        // Pool routers also report the share their per-server weights really give.
        const scale = canaryMembers !== undefined ? { canaryMembers, newCanaryMembers: grown > 0 } : {};
        const split = router.applySplit ? await router.applySplit(input.weight, call.signal, { ...options, ...scale }) : undefined;
        const weight = split ? split.weight : await router.setCanaryWeight(input.weight, call.signal, options);
        if (canaryMembers !== undefined && split) await platform.scaleCanary?.(call, canaryMembers, 'shrink');
        if (split) metrics.canaryShare.set({ service: input.spec.service, rollout_id: input.rolloutId }, split.share);
        if (lastWeight.get(input.rolloutId) !== weight) metrics.weightChanges.inc({ service: input.spec.service });
        lastWeight.set(input.rolloutId, weight);
        metrics.canaryWeight.set({ service: input.spec.service, rollout_id: input.rolloutId }, weight);
        const ctx = checkContext(input.context, call.logger);
        rolloutMetrics.update(input.rolloutId, input.spec.service, ctx);
        rolloutMetrics.weightApplied(input.rolloutId, input.spec.service, weight, ctx, currentRunId());
        call.logger.info(
          {
            weight,
            requested: input.weight,
            ...(split ? { share: split.share, servers: split.servers, leftOut: split.leftOut } : {}),
            ...(baselineWeight === undefined ? {} : { baseline: baselineWeight }),
          },
          'canary weight set',
        );
        const appliedAtMs = Date.now();
        if (split) return { weight, share: split.share, servers: split.servers, leftOut: split.leftOut, appliedAtMs };
        // The router read the baseline's weight back with the others: a returned weight means it matched.
        return baselineWeight === undefined ? { weight, appliedAtMs } : { weight, baseline: baselineWeight, appliedAtMs };
      });
    },

    async queryMetrics(input: QueryMetricsInput): Promise<MetricSample[]> {
      return run('queryMetrics', input, async (call) => {
        // The behaviour rollouts started before analyseCanary were written against: a timeout per
        // query (an `error` sample), and ±Inf reported as not_a_number.
        const samples = await queryBatch(call, input, { kind: 'per-query', timeoutMs: input.spec.metrics.queryTimeoutMs });
        return samples.map(legacySample);
      });
    },

    async analyseCanary(input: AnalyseCanaryInput): Promise<AnalyseCanaryResult> {
      return run('analyseCanary', input, async (call) => {
        const { expectedWeight } = input;
        if (!Number.isInteger(expectedWeight) || expectedWeight < 0 || expectedWeight > 100) {
          throw new ConfigError(`expectedWeight must be an integer from 0 to 100, got ${expectedWeight}`, 'expectedWeight');
        }
        const timeoutMs = input.spec.metrics.queryTimeoutMs;
        if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
          throw new ConfigError(`metrics.queryTimeoutMs must be a positive number of ms, got ${timeoutMs}`, 'metrics.queryTimeoutMs');
        }
        // One deadline for the whole round, from now: every query and the traffic read share it.
        const deadline: SharedDeadline = { signal: AbortSignal.timeout(timeoutMs), detail: `no answer within ${timeoutMs} ms` };
        const [samples, traffic] = await Promise.all([
          queryBatch(call, input, { kind: 'deadline', deadline }),
          observeTraffic(call, input, deadline),
        ]);
        if (traffic.drifted) call.logger.warn({ traffic, expectedWeight }, 'traffic weights differ from the plan');
        return { samples, traffic };
      });
    },

    async preflightMetrics(input: RolloutRef): Promise<PreflightProblem[]> {
      return run('preflightMetrics', input, async (call) => {
        const problems = await preflightMetricQueries(input.spec, {
          fetch: fetchImpl,
          signal: call.signal,
          concurrency: deps.queryConcurrency,
        });
        if (problems.length > 0) call.logger.warn({ problems }, 'metric preflight found queries that cannot work');
        else call.logger.info('metric preflight passed');
        return problems;
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

    async deployBaseline(input: RolloutRef): Promise<void> {
      await run(
        'deployBaseline',
        input,
        async (call) => {
          const platform = platforms.platformFor(input.spec.platform);
          if (!platform.deployBaseline) throw noFreshBaseline(input);
          await platform.deployBaseline(call);
        },
        { keepAlive: true },
      );
    },

    async checkBaselineHealth(input: RolloutRef): Promise<HealthResult> {
      return run(
        'checkBaselineHealth',
        input,
        async (call) => {
          const platform = platforms.platformFor(input.spec.platform);
          if (!platform.checkBaselineHealth) throw noFreshBaseline(input);
          const result = await platform.checkBaselineHealth(call);
          call.logger.info(result, 'baseline health checked');
          return result;
        },
        { keepAlive: true },
      );
    },

    async terminateBaseline(input: RolloutRef): Promise<void> {
      await run('terminateBaseline', input, async (call) => {
        const platform = platforms.platformFor(input.spec.platform);
        if (!platform.terminateBaseline) throw noFreshBaseline(input);
        await platform.terminateBaseline(call);
      });
    },

    async guardCanary(input: GuardCanaryInput): Promise<GuardCanaryResult> {
      return run('guardCanary', input, async (call) => {
        return guardCanaryLoop(call, { sampleTimeoutMs: Math.min(deps.trafficTimeoutMs ?? 1_000, 1_000), now });
      });
    },

    async judgeCanary(input: JudgeCanaryInput): Promise<JudgeResult> {
      return run('judgeCanary', input, async (call) => {
        rolloutMetrics.update(input.rolloutId, input.spec.service, checkContext(input.context, call.logger));
        return runJudgeActivity({ fetch: fetchImpl, metrics, now }, input, call);
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

/** The spec validation refuses a fresh baseline on such a platform; a spec that got here anyway is a config error. */
function noFreshBaseline(input: RolloutRef): ConfigError {
  return new ConfigError(`platform.kind "${input.spec.platform.kind}" cannot run a fresh baseline instance`, 'judge.freshBaseline');
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

/** A sample as queryMetrics reported it before `infinite` existed. */
function legacySample(sample: MetricSample): MetricSample {
  if (sample.status !== 'infinite') return sample;
  const { sign, ...rest } = sample;
  return { ...rest, status: 'not_a_number', detail: `value is ${sign === -1 ? '-Inf' : '+Inf'}` };
}
