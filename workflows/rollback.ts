/**
 * The two rollback procedures of seed §6: immediate (all traffic to stable at once, canary
 * terminated, operators alerted) and gradual (−stepSize every interval while still analysing; an
 * immediate trigger or an abort turns it immediate; pause holds its weight). Both end the same
 * way: traffic verified on stable before the canary goes, or `stuck` until it can be.
 */
import { log } from '@temporalio/workflow';
import type { RolloutActivityProfiles } from './activity-options';
import { ALERT_NAMES } from './contract';
import { retireFreshBaseline } from './baseline';
import { hold } from './hold';
import { alert, alertText } from './notify';
import type { Rollout } from './rollout';
import { applyWeight, drainToStable } from './traffic';

/** How a rollback ended: the reason the rollout reports. */
export interface RollbackEnd {
  /** The canary was terminated: traffic was verified on stable (or an operator forced it). */
  canaryTerminated: boolean;
  reason: string;
}

export async function immediateRollback(r: Rollout, acts: RolloutActivityProfiles): Promise<RollbackEnd> {
  const reason = r.rollback?.reason ?? 'rollback';
  // Traffic first: every millisecond before this is user traffic on a bad canary.
  const drain = await drainToStable(r, acts, `immediate rollback: ${reason}`);
  const forcedNote = drain.forced
    ? drain.drained
      ? ` (forced by operator: ${r.data.forceDrain})`
      : ` (forced by operator: ${r.data.forceDrain}; the router could not be moved: ${drain.detail})`
    : '';
  await Promise.all([
    retireCanary(r, acts),
    alert(r, acts, 'critical', ALERT_NAMES.rolledBack, alertText(r, `${reason}${forcedNote}`)),
  ]);
  return { canaryTerminated: true, reason: `${reason}${forcedNote}` };
}

export async function gradualRollback(r: Rollout, acts: RolloutActivityProfiles): Promise<RollbackEnd> {
  const { spec } = r;
  const reason = r.rollback?.reason ?? 'rollback';
  await alert(r, acts, 'critical', ALERT_NAMES.rolledBack, alertText(r, reason));
  const stillGradual = (): boolean => r.rollback?.action === 'gradual_rollback';
  while (stillGradual() && r.weight - spec.gradualRollback.stepSize > 0) {
    await applyWeight(r, acts, r.weight - spec.gradualRollback.stepSize, `gradual rollback: ${reason}`);
    r.startHold();
    // Analysis keeps its own cadence across steps, whatever the ratio of the two intervals.
    r.data.nextAnalysisAtMs ??= Date.now() + spec.analysisIntervalMs;
    await hold(r, acts, {
      durationMs: spec.gradualRollback.intervalMs,
      gate: null,
      gated: false,
      interrupted: () => !stillGradual(),
    });
  }
  if (!stillGradual()) return immediateRollback(r, acts);
  // The last step is the move to 0: stable must be verified serving before the canary goes.
  await drainToStable(r, acts, `gradual rollback: ${reason}`);
  await retireCanary(r, acts);
  return { canaryTerminated: true, reason };
}

async function retireCanary(r: Rollout, acts: RolloutActivityProfiles): Promise<void> {
  await acts.platform.terminateCanary(r.ref);
  log.info('canary terminated', { reason: r.rollback?.reason });
  // A fresh baseline goes with the canary (a no-op without one).
  await retireFreshBaseline(r, acts);
}
