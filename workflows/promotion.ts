/**
 * Finalize (seed phase 3's end): the canary becomes the new stable. The order keeps a serving
 * version under the traffic at every moment: 100% on the canary, verified; a fresh baseline
 * (judge.freshBaseline, with no traffic at 100%) terminated; only then the stable
 * slot is replaced (the point of no return: abort is refused from here); traffic moves back to
 * the stable slot only once the router sees it UP; the canary goes last. A failure half-way leaves
 * traffic where it is served and says so.
 */
import { log } from '@temporalio/workflow';
import type { RolloutActivityProfiles } from './activity-options';
import { retireFreshBaseline } from './baseline';
import { ALERT_NAMES } from './contract';
import { failureReason } from './failures';
import { alert, alertText } from './notify';
import type { Rollout } from './rollout';
import { applyWeight, verifyWeight } from './traffic';

export type FinalizeEnd =
  | { outcome: 'promoted'; reason: string }
  /** An abort arrived before the point of no return: the caller rolls back. */
  | { outcome: 'aborted_before_promotion' }
  | { outcome: 'failed'; reason: string };

export async function finalize(r: Rollout, acts: RolloutActivityProfiles, why: string): Promise<FinalizeEnd> {
  const { spec } = r;
  r.setState('finalizing');
  // Always re-applied and read back, even at 100% already: the stable slot must carry nothing.
  if (r.weight === 100) await verifyWeight(r, acts, why);
  else await applyWeight(r, acts, 100, why);
  if (r.rollback) return { outcome: 'aborted_before_promotion' };
  // At 100% the fresh baseline has no traffic and nothing left to judge: it goes before the
  // promotion, while a failure to stop it can still roll back (a no-op without one).
  await retireFreshBaseline(r, acts);

  r.data.promotionStarted = true;
  try {
    await acts.platform.promoteCanary(r.ref);
  } catch (err) {
    return promotionFailed(
      r,
      acts,
      `promotion failed while replacing the stable slot (${failureReason(err)}); traffic stays on the canary ` +
        `${spec.canary.version} at ${r.weight}%, which is serving; the stable slot may be stopped`,
    );
  }
  try {
    await applyWeight(r, acts, 0, `promoted: stable now runs ${spec.canary.version}`);
  } catch (err) {
    return promotionFailed(
      r,
      acts,
      `the stable slot now runs ${spec.canary.version} but traffic could not move to it (${failureReason(err)}); ` +
        `traffic stays on the canary slot at ${r.weight}%, which is serving, and the canary is left running`,
    );
  }
  try {
    await acts.platform.terminateCanary(r.ref);
  } catch (err) {
    // Traffic is on the new stable; a canary left running costs resources, not users.
    log.warn('canary not terminated after promotion', { reason: failureReason(err) });
    await alert(r, acts, 'warning', ALERT_NAMES.promotionFailed, alertText(r, `promoted, but the canary slot could not be stopped: ${failureReason(err)}`));
  }
  log.info('canary promoted', { version: spec.canary.version, reason: why });
  return { outcome: 'promoted', reason: why };
}

async function promotionFailed(r: Rollout, acts: RolloutActivityProfiles, reason: string): Promise<FinalizeEnd> {
  log.error('promotion failed half-way', { reason });
  await alert(r, acts, 'critical', ALERT_NAMES.promotionFailed, alertText(r, reason));
  return { outcome: 'failed', reason };
}
