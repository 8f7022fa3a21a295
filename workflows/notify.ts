/** Alerts from the workflow: best effort, so a down Alertmanager never stops a rollback. */
import { log } from '@temporalio/workflow';
import type { AlertSeverity } from '../activities/types';
import type { RolloutActivityProfiles } from './activity-options';
import type { Rollout } from './rollout';

export async function alert(
  r: Rollout,
  acts: RolloutActivityProfiles,
  severity: AlertSeverity,
  name: string,
  reason: string,
): Promise<void> {
  try {
    await acts.notify.sendAlert({ ...r.ref, severity, name, reason });
  } catch (err) {
    log.warn('alert not delivered', { name, err });
  }
}

/** The text of a rollout's alerts: which service and version, and why. */
export function alertText(r: Rollout, reason: string): string {
  return `${r.spec.service} ${r.spec.canary.version}: ${reason}`;
}
