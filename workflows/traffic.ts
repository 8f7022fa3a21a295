/**
 * Moving traffic, and trusting only what the load balancer reads back. Forward moves retry until
 * they converge; the move back to stable never gives up and never pretends: while stable cannot
 * take the traffic the rollout is `stuck`, the canary keeps serving and operators are alerted.
 */
import { condition, isCancellation, log } from '@temporalio/workflow';
import type { TrafficObservation } from '../activities/types';
import { ROLLBACK_SERVER_UP_TIMEOUT_MS, type RolloutActivityProfiles } from './activity-options';
import { ALERT_NAMES } from './contract';
import { failureReason } from './failures';
import { alert, alertText } from './notify';
import type { PlanStep } from './plan';
import type { Rollout } from './rollout';

/** Retry pace of a stuck drain: fast at first (a restarting stable), then every 30 s. */
const STUCK_RETRY_MS = [1_000, 2_000, 5_000, 10_000, 30_000];

/** Sets the canary weight and records the weight the router read back. */
export async function applyWeight(
  r: Rollout,
  acts: RolloutActivityProfiles,
  weight: number,
  reason: string,
  startingStep?: PlanStep,
): Promise<void> {
  const { weight: applied, share, baseline, appliedAtMs } = await acts.traffic.setCanaryWeight({
    ...r.ref,
    weight,
    context: r.context(startingStep),
  });
  r.recordWeight(applied, reason, share, baseline, appliedAtMs);
}

/** Re-applies the current weight and reads it back; the timeline records it only if it was not there. */
export async function verifyWeight(r: Rollout, acts: RolloutActivityProfiles, reason: string): Promise<void> {
  const { weight: applied, share, baseline, appliedAtMs } = await acts.traffic.setCanaryWeight({ ...r.ref, weight: r.weight, context: r.context() });
  if (applied !== r.weight) r.recordWeight(applied, reason, share, baseline, appliedAtMs);
}

/**
 * Re-applies the planned weight when the router's real weights drifted from it (an HAProxy
 * reload resets them; someone typed `set weight`). Alerts once per drift.
 */
export async function reconcileTraffic(
  r: Rollout,
  acts: RolloutActivityProfiles,
  observed: TrafficObservation,
): Promise<void> {
  if (!observed.drifted) return;
  const planned = r.weight;
  log.warn('traffic drifted from the plan: re-applying', { planned, observed: observed.canaryWeight, detail: observed.detail });
  await applyWeight(r, acts, planned, `drift re-applied (router had ${observed.detail})`);
  await alert(
    r,
    acts,
    'warning',
    ALERT_NAMES.trafficDrift,
    alertText(r, `load balancer weights drifted (${observed.detail}); re-applied canary ${planned}%`),
  );
}

export type DrainResult =
  /** Traffic is on stable, verified by read-back with stable UP: the canary may go. */
  | { drained: true; forced: boolean }
  /** An operator forced the drain and the router could not be moved at all. */
  | { drained: false; forced: true; detail: string };

/**
 * Moves all traffic back to stable, and returns only once the router reads back 0% for the canary
 * (or an operator forced it). Until then the rollout is `stuck`: a critical alert goes out on the
 * first failure, the canary keeps its traffic, and the move is retried.
 */
export async function drainToStable(r: Rollout, acts: RolloutActivityProfiles, reason: string): Promise<DrainResult> {
  for (let attempt = 0; ; attempt++) {
    const force = r.data.forceDrain !== null;
    try {
      const { weight, share, baseline } = await acts.rollbackTraffic.setCanaryWeight({
        ...r.ref,
        weight: 0,
        context: r.context(),
        serverUpTimeoutMs: ROLLBACK_SERVER_UP_TIMEOUT_MS,
        ...(force ? { force: true } : {}),
      });
      if (weight !== r.weight || r.data.timeline.length === 0) {
        r.recordWeight(weight, force ? `forced drain: ${r.data.forceDrain}` : reason, share, baseline);
      }
      r.clearStuck();
      return { drained: true, forced: force };
    } catch (err) {
      if (isCancellation(err)) throw err;
      const why = failureReason(err);
      if (force) {
        log.error('forced drain could not move traffic', { reason: why });
        return { drained: false, forced: true, detail: why };
      }
      if (r.data.stuckReason === null) {
        r.markStuck(`traffic cannot go back to stable: ${why}`);
        await alert(
          r,
          acts,
          'critical',
          ALERT_NAMES.rollbackStuck,
          alertText(r, `rollback stuck, canary still serving ${r.weight}%: ${why} (fix stable, or abort --force to drain anyway)`),
        );
      } else {
        r.data.stuckReason = `traffic cannot go back to stable: ${why}`;
      }
    }
    const waitMs = STUCK_RETRY_MS[Math.min(attempt, STUCK_RETRY_MS.length - 1)] ?? 30_000;
    await condition(() => r.data.forceDrain !== null && !force, waitMs);
  }
}
