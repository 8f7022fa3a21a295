/**
 * The fresh baseline of `judge.freshBaseline` (issue 11, Kayenta's recommendation): an instance
 * of the stable version started beside the canary once the canary is healthy, so the judge
 * compares two instances of the same age instead of the canary with a long-running stable whose
 * warm caches and uptime bias the comparison. Its traffic share follows the canary's weight
 * (rollout-spec/fresh-baseline.ts; the traffic activity applies it with every weight change, and
 * it is 0 whenever the canary has 0 or 100%). It goes with the canary: before the promotion,
 * and with the canary on rollback, abort and failure. Specs without it never get here, so their
 * rollouts issue exactly the commands they did before.
 */
import { ApplicationFailure, log } from '@temporalio/workflow';
import { freshBaselineWeight } from '../rollout-spec/fresh-baseline';
import type { RolloutActivityProfiles } from './activity-options';
import type { FreshBaselineStatus } from './contract';
import type { Rollout } from './rollout';

/** What the rollout remembers of its fresh baseline; plain JSON, carried by continue-as-new. */
export interface BaselineState {
  version: string;
  state: 'deploying' | 'running' | 'terminated';
}

function wanted(r: Rollout): boolean {
  return r.spec.judge?.freshBaseline === true;
}

/**
 * Deploys the fresh baseline and checks its health, after the canary is healthy and before
 * either has traffic. Throws `BaselineUnhealthy` (the rollout fails, and restoring stable
 * terminates both) when it does not become healthy. A no-op without `judge.freshBaseline`.
 */
export async function deployFreshBaseline(r: Rollout, acts: RolloutActivityProfiles): Promise<void> {
  if (!wanted(r)) return;
  const baseline: BaselineState = { version: r.spec.stable.version, state: 'deploying' };
  r.data.baseline = baseline;
  await acts.platform.deployBaseline(r.ref);
  const health = await acts.platform.checkBaselineHealth(r.ref);
  if (!health.healthy) {
    throw ApplicationFailure.create({ type: 'BaselineUnhealthy', message: `fresh baseline ${baseline.version} unhealthy: ${health.detail}` });
  }
  baseline.state = 'running';
  log.info('fresh baseline deployed', { version: baseline.version, health: health.detail });
}

/** Terminates the fresh baseline (harmless when it never started or is gone). A no-op without `judge.freshBaseline`. */
export async function retireFreshBaseline(r: Rollout, acts: RolloutActivityProfiles): Promise<void> {
  if (!wanted(r)) return;
  await acts.platform.terminateBaseline(r.ref);
  r.data.baseline = { version: r.data.baseline?.version ?? r.spec.stable.version, state: 'terminated' };
  log.info('fresh baseline terminated', { reason: r.rollback?.reason ?? 'promotion' });
}

/** The status query's view: which version the judge compares with and the share it gets now. */
export function freshBaselineStatus(r: Rollout): FreshBaselineStatus | undefined {
  const b = r.data.baseline;
  if (!wanted(r) || !b) return undefined;
  return { version: b.version, state: b.state, weight: b.state === 'running' ? freshBaselineWeight(r.data.weight) : 0 };
}
