/**
 * The HAProxy fast guard beside the Prometheus analysis (issue 9 §3). While the canary carries
 * traffic, one `guardCanary` activity samples HAProxy's response counters of the canary servers;
 * it returns only on a breach, and then the rollout rolls back at once, as an immediate trigger
 * does. The guard is an extra sensor, never the only one: when it cannot sample (HAProxy
 * unreachable) a warning goes out, it restarts with backoff, and the analysis still protects the
 * rollout. Behind the `fast-guard-v1` patch so rollouts recorded without it replay unchanged.
 */
import { CancellationScope, condition, isCancellation, log, patched } from '@temporalio/workflow';
import { enabledFastGuard, type FastGuard } from '../rollout-spec/fast-guard-settings';
import type { GuardCanaryResult } from '../activities/types';
import type { RolloutActivityProfiles } from './activity-options';
import { ALERT_NAMES, type FastGuardStatus } from './contract';
import { failureReason } from './failures';
import { alert, alertText } from './notify';
import type { Rollout } from './rollout';

/** The patch that introduced the guard. */
export const FAST_GUARD_PATCH = 'fast-guard-v1';

/** Backoff between failed guard attempts: 1 s doubling to 30 s, so a down HAProxy costs few events. */
const RESTART_BACKOFF_MS = { initial: 1_000, max: 30_000 } as const;

/** Stops the guard (before continue-as-new); the rollout's end and rollbacks stop it by themselves. */
export interface FastGuardHandle {
  stop(): void;
}

/**
 * Starts the guard's supervisor when the spec enables it (on rollouts that started with this
 * code), or returns null. Call once, after the operator handlers are registered.
 */
export function startFastGuard(r: Rollout, acts: RolloutActivityProfiles): FastGuardHandle | null {
  const guard = enabledFastGuard(r.spec);
  if (!guard || !patched(FAST_GUARD_PATCH)) return null;
  const state = { stopped: false };
  r.guard = status({ running: false, starts: 0, failures: 0, lastError: null, lastResult: null });
  // Not awaited: it lives beside the rollout's own sequence and ends with it.
  void supervise(r, acts, guard, state);
  return {
    stop: () => {
      state.stopped = true;
    },
  };
}

/** The guard samples only while the canary carries traffic and a rollback would still help. */
function wanted(r: Rollout, state: { stopped: boolean }): boolean {
  const d = r.data;
  return !state.stopped && d.deployed && d.weight > 0 && !d.rollback && !d.promotionStarted && !r.ended && d.state !== 'finalizing';
}

/** Once any of these holds the guard never runs again in this run. */
function over(r: Rollout, state: { stopped: boolean }): boolean {
  const d = r.data;
  return state.stopped || d.rollback !== null || d.promotionStarted || r.ended || d.state === 'finalizing';
}

async function supervise(r: Rollout, acts: RolloutActivityProfiles, guard: FastGuard, state: { stopped: boolean }): Promise<void> {
  try {
    while (!over(r, state)) {
      await condition(() => wanted(r, state) || over(r, state));
      if (over(r, state)) break;
      const result = await attempt(r, acts, state);
      if (result === 'left_traffic') continue;
      if ('failed' in result) {
        const g = r.guard as FastGuardStatus;
        r.guard = status({ ...g, running: false, failures: g.failures + 1, lastError: result.failed });
        log.warn('fast guard failed: restarting it; the Prometheus analysis still runs', { reason: result.failed, failures: g.failures + 1 });
        if (g.failures === 0) {
          await alert(r, acts, 'warning', ALERT_NAMES.fastGuardDown, alertText(r, `fast guard cannot sample HAProxy (${result.failed}); the Prometheus analysis still protects the rollout`));
        }
        const backoff = Math.min(RESTART_BACKOFF_MS.max, RESTART_BACKOFF_MS.initial * 2 ** Math.min(g.failures, 10));
        await condition(() => over(r, state), backoff);
        continue;
      }
      const g = r.guard as FastGuardStatus;
      r.guard = status({ ...g, running: false, failures: 0, lastError: null, lastResult: result.detail });
      if (result.breached) {
        const reason = breachReason(guard, result);
        if (r.data.promotionStarted || r.ended) {
          // The answer crossed the point of no return (the stable slot is being replaced): as an abort would be, it is refused.
          log.warn('fast guard breach after promotion started: not acted on', { reason });
          break;
        }
        log.warn('fast guard breached: immediate rollback', { reason });
        r.startRollback('immediate_rollback', reason, 'rolled_back');
        // Wakes the hold loop at once rather than at its next tick.
        r.wakeups += 1;
        break;
      }
    }
  } catch (err) {
    // The workflow was cancelled: its own cancellation handling returns traffic to stable.
    if (!isCancellation(err)) log.error('fast guard supervisor stopped', { err });
  } finally {
    if (r.guard) r.guard = status({ ...r.guard, running: false });
  }
}

type AttemptEnd = GuardCanaryResult | 'left_traffic' | { failed: string };

/** One guard activity, cancelled as soon as the canary leaves traffic or a rollback starts. */
async function attempt(r: Rollout, acts: RolloutActivityProfiles, state: { stopped: boolean }): Promise<AttemptEnd> {
  const g = r.guard as FastGuardStatus;
  r.guard = status({ ...g, running: true, starts: g.starts + 1 });
  const scope = new CancellationScope();
  let done = false;
  condition(() => done || !wanted(r, state))
    .then(() => {
      if (!done) scope.cancel();
    })
    // Rejects only when the workflow itself is cancelled, which cancels the scope anyway.
    .catch(() => undefined);
  try {
    return await scope.run(() => acts.guard.guardCanary(r.ref));
  } catch (err) {
    if (isCancellation(err)) {
      // Cancelled by us (the canary left traffic) or with the workflow (rethrown to end the supervisor).
      if (scope.consideredCancelled && !CancellationScope.current().consideredCancelled) return 'left_traffic';
      throw err;
    }
    return { failed: failureReason(err) };
  } finally {
    done = true;
  }
}

/** The rollback reason: names the guard, the error ratio, the responses and the window. */
export function breachReason(guard: FastGuard, result: GuardCanaryResult): string {
  const pct = (x: number): string => `${Math.round(x * 10_000) / 100}%`;
  const ratio = result.errorRate === null ? 'n/a' : pct(result.errorRate);
  return (
    `fast guard (HAProxy): canary 5xx ratio ${ratio} (${result.errors} of ${result.requests} requests) ` +
    `over the ${result.windowMs} ms window, at or above ${pct(guard.maxErrorRate)} (at least ${guard.minRequests} requests)`
  );
}

function status(s: Omit<FastGuardStatus, 'at'>): FastGuardStatus {
  return { ...s, at: new Date().toISOString() };
}
