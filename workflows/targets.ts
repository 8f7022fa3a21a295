/**
 * The rollout's targets, resolved once at its start on the worker (activities/resolve-rollout.ts):
 * a catalog request becomes the spec this rollout runs with, and that spec is kept in the
 * workflow's input and carried through continue-as-new, so a catalog edit never changes a
 * running rollout. An inline spec passes only where the worker allows inline targets. Until the
 * targets are known, and when they cannot be, `status` answers from the request.
 */
import { isCancellation, log, patched, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { TargetSource } from '../catalog/types';
import { resolutionActivities } from './activity-options';
import {
  serviceSearchAttribute,
  stateSearchAttribute,
  statusQuery,
  type RolloutInput,
  type RolloutResult,
  type RolloutStartInput,
  type RolloutState,
  type RolloutStatus,
} from './contract';
import { failureReason } from './failures';

/** The patch that introduced target resolution; runs recorded without it take their spec as given. */
export const CATALOG_PATCH = 'catalog-targets-v3';

export type Resolution =
  | { ok: true; input: RolloutInput; targets: TargetSource | null }
  | { ok: false; result: RolloutResult };

/** Resolves the targets of a new rollout; a continued run already has them. */
export async function resolveTargets(input: RolloutStartInput): Promise<Resolution> {
  if ('spec' in input && input.carried !== undefined) return { ok: true, input, targets: null };
  if (!patched(CATALOG_PATCH)) {
    // Only histories recorded before the catalog take this path, and those all carry a spec.
    if ('spec' in input) return { ok: true, input, targets: null };
  }
  const status = unresolvedStatus(input);
  setHandler(statusQuery, () => status);
  try {
    const resolved = await resolutionActivities().resolveRollout({
      rolloutId: workflowInfo().workflowId,
      ...('spec' in input ? { spec: input.spec } : { request: input.request }),
    });
    return { ok: true, input: { spec: resolved.spec, limits: input.limits }, targets: resolved.source };
  } catch (err) {
    if (isCancellation(err)) throw err;
    const reason = `not started, nothing was touched: ${failureReason(err)}`;
    log.error('rollout cannot start', { reason });
    status.state = 'failed';
    status.rollbackReason = reason;
    if (workflowInfo().typedSearchAttributes.get(serviceSearchAttribute) !== undefined) {
      upsertSearchAttributes([{ key: stateSearchAttribute, value: 'failed' satisfies RolloutState }]);
    }
    return {
      ok: false,
      result: { outcome: 'failed', reason, finalWeight: 0, timeline: [], checks: [], continuedAsNew: 0, operatorEvents: [] },
    };
  }
}

/** What `status` says before the rollout has a spec: who asked for what. */
function unresolvedStatus(input: RolloutStartInput): RolloutStatus {
  const named =
    'spec' in input
      ? { service: input.spec.service, stable: input.spec.stable.version, canary: input.spec.canary.version }
      : { service: input.request.service, stable: input.request.stable?.version ?? '', canary: input.request.canary.version };
  return {
    rolloutId: workflowInfo().workflowId,
    service: named.service,
    stableVersion: named.stable,
    canaryVersion: named.canary,
    state: 'deploying',
    paused: false,
    phase: 'resolve',
    step: 0,
    weight: 0,
    phaseRemainingMs: 0,
    phaseDurationMs: 0,
    checks: [],
    lastAnalysisAt: null,
    rollbackReason: null,
    rollbackAction: null,
    stuckReason: null,
    timeline: [],
    operatorEvents: [],
    startedAt: new Date().toISOString(),
    continuedAsNew: 0,
    targets: null,
  };
}
