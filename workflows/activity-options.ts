/**
 * The activity option profiles of a rollout, one per kind of I/O, each with its timeouts and an
 * explicit retry policy. The workflow picks a profile by what is at stake, not per call.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  type LocalActivityOptions,
} from '@temporalio/workflow';
import type { RolloutActivities } from '../activities/types';
import type { RolloutSpec } from '../rollout-spec/types';
import { NON_RETRYABLE_ERROR_TYPES } from './contract';

const nonRetryableErrorTypes = [...NON_RETRYABLE_ERROR_TYPES];

/**
 * The patch that made forward weight changes local activities: each then runs inside the workflow
 * task that reached it (one marker) instead of costing an activity task and a second workflow task,
 * a quarter of a rollout's workflow tasks and most of its activity tasks (issue 10 §2). The move
 * back to stable stays an activity task (its own fail-fast profile). Runs recorded before it keep
 * their activities.
 */
export const LOCAL_WEIGHT_CHANGES_PATCH = 'local-weight-changes-v1';

/** True when this run makes forward weight changes local activities. */
function weightChangesAreLocal(): boolean {
  return patched(LOCAL_WEIGHT_CHANGES_PATCH);
}

/**
 * How long a rollback's traffic move waits for stable to be UP before it reports failure. Short,
 * so that a DOWN stable turns the rollout `stuck` and alerts within seconds; the workflow keeps retrying.
 */
export const ROLLBACK_SERVER_UP_TIMEOUT_MS = 2_000;

/** The profiles; every activity is reachable through each, the names say which to use for what. */
export interface RolloutActivityProfiles {
  /** Forward traffic moves: converge even if the load balancer is briefly unreachable (local since LOCAL_WEIGHT_CHANGES_PATCH). */
  traffic: RolloutActivities;
  /** Traffic back to stable: fail fast so the workflow can say it is stuck, then retry on its own. */
  rollbackTraffic: RolloutActivities;
  /** One analysis round; the activity itself keeps within the query deadline. */
  analysis: RolloutActivities;
  /**
   * The pre-flight check of the metric queries. Nothing is deployed yet, so retrying costs
   * nothing, while giving up fails the rollout: a few attempts ride out a worker that died or a
   * Prometheus restart (a query with no series is an answer, not a failure).
   */
  preflight: RolloutActivities;
  /**
   * The analysis round as a local activity: it runs inside the workflow task that its timer woke,
   * so a round costs one workflow task and a marker instead of two tasks and an activity task (half
   * the history events and server round trips). Its queries are reads, so re-running one after a
   * worker died mid-round is harmless.
   */
  localAnalysis: RolloutActivities;
  /** Deploy, health check, promote, terminate: long, heartbeating, cancellable by abort. */
  platform: RolloutActivities;
  /** Alerts are best effort: a down Alertmanager must not stop a rollback. */
  notify: RolloutActivities;
  /** The HAProxy fast guard: long-running, heartbeating every sample, restarted by the workflow when it fails. */
  guard: RolloutActivities;
  /**
   * The statistical judge, local like the analysis round: range queries only, so re-running one
   * is harmless. Two query rounds (canary and baseline) fit in the timeout; a judge that fails is
   * judged as no data, never a failed rollout.
   */
  judge: RolloutActivities;
}

/**
 * Local activities whose failures read as an activity's do. The SDK hands a failed local activity's
 * error to the workflow as is, without the ActivityFailure (and activity name) a task's failure
 * comes in, so the rollout's reason would lose which call failed.
 */
function localActivitiesNamedOnFailure(options: LocalActivityOptions): RolloutActivities {
  const acts = proxyLocalActivities<RolloutActivities>(options);
  return new Proxy(acts, {
    get(target, name) {
      const call = target[name as keyof RolloutActivities] as (...args: unknown[]) => Promise<unknown>;
      return async (...args: unknown[]) => {
        try {
          return await call(...args);
        } catch (err) {
          if (isCancellation(err) || err instanceof ActivityFailure || !(err instanceof Error)) throw err;
          throw new ActivityFailure('Local activity failed', String(name), undefined, 'NON_RETRYABLE_FAILURE', undefined, err);
        }
      };
    },
  });
}

export function activitiesFor(spec: RolloutSpec): RolloutActivityProfiles {
  const local = weightChangesAreLocal();
  const trafficOptions = {
    startToCloseTimeout: '30s',
    scheduleToCloseTimeout: '10m',
    retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '5s', nonRetryableErrorTypes },
  } as const;
  return {
    // A weight change is a read-back-verified idempotent set, so re-running it on another worker
    // after a crash is harmless; as a local activity an operator's update waits for it (the SDK
    // extends the workflow task while it runs), which a forward move's short wait keeps brief.
    traffic: local ? localActivitiesNamedOnFailure(trafficOptions) : proxyActivities<RolloutActivities>(trafficOptions),
    rollbackTraffic: proxyActivities<RolloutActivities>({
      startToCloseTimeout: '15s',
      retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumAttempts: 2, nonRetryableErrorTypes },
    }),
    analysis: proxyActivities<RolloutActivities>({
      startToCloseTimeout: spec.metrics.queryTimeoutMs + 10_000,
      retry: { initialInterval: '500ms', maximumAttempts: 2, nonRetryableErrorTypes },
    }),
    preflight: proxyActivities<RolloutActivities>({
      startToCloseTimeout: spec.metrics.queryTimeoutMs + 10_000,
      retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5, nonRetryableErrorTypes },
    }),
    localAnalysis: proxyLocalActivities<RolloutActivities>({
      startToCloseTimeout: spec.metrics.queryTimeoutMs + 10_000,
      retry: { initialInterval: '500ms', maximumAttempts: 2, nonRetryableErrorTypes },
    }),
    platform: proxyActivities<RolloutActivities>({
      startToCloseTimeout: '15m',
      // The worker sends heartbeats at most every second, so an abort reaches a deploy or health
      // check within about a second; 10 s without one means the worker is gone.
      heartbeatTimeout: '10s',
      cancellationType: 'WAIT_CANCELLATION_COMPLETED',
      retry: { initialInterval: '2s', maximumAttempts: 5, nonRetryableErrorTypes },
    }),
    notify: proxyActivities<RolloutActivities>({
      startToCloseTimeout: '15s',
      retry: { initialInterval: '1s', maximumAttempts: 5, nonRetryableErrorTypes },
    }),
    guard: proxyActivities<RolloutActivities>({
      // The activity returns on its own shortly before this (the workflow starts the next attempt),
      // so one attempt costs a handful of history events per half hour.
      startToCloseTimeout: '30m',
      // It heartbeats every sample (≤ 250 ms): 3 s of silence means the worker is gone, and the
      // retry (on any worker) resumes sampling within seconds.
      heartbeatTimeout: '3s',
      // Nothing waits on the guard: a cancelled attempt need not be confirmed.
      cancellationType: ActivityCancellationType.TRY_CANCEL,
      // A few quick retries cover a worker crash or a blip; after that the workflow warns and
      // restarts the guard with its own backoff, so a failure never ends the rollout.
      retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '2s', maximumAttempts: 3, nonRetryableErrorTypes },
    }),
    judge: proxyLocalActivities<RolloutActivities>({
      startToCloseTimeout: 2 * spec.metrics.queryTimeoutMs + 10_000,
      retry: { initialInterval: '500ms', maximumAttempts: 2, nonRetryableErrorTypes },
    }),
  };
}

/**
 * Resolving the rollout's targets at its start (before a spec exists): the worker reads its
 * catalog files, so a few quick retries; a rejected request is non-retryable.
 */
export function resolutionActivities(): RolloutActivities {
  return proxyActivities<RolloutActivities>({
    startToCloseTimeout: '30s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumAttempts: 3, nonRetryableErrorTypes },
  });
}
