/** Rollout id normalization shared by the CLI and the HTTP API. */
import { SAFE_LABEL_VALUE } from '../rollout-spec/queries';
import { rolloutWorkflowId } from '../workflows/contract';
import { InvalidRolloutIdError } from './errors';

const ID_PREFIX = rolloutWorkflowId('');
// The spec's service-name rule, so an id that passes here is one a rollout can have; it also keeps
// quotes and spaces out of visibility queries.
const SERVICE_PATTERN = SAFE_LABEL_VALUE;

/**
 * Accepts `rollout-checkout` or just `checkout` and returns the workflow id `rollout-checkout`.
 * A service that itself starts with `rollout-` must be given in full (`rollout-rollout-x`).
 */
export function normalizeRolloutId(input: string): string {
  const trimmed = input.trim();
  const service = trimmed.startsWith(ID_PREFIX) ? trimmed.slice(ID_PREFIX.length) : trimmed;
  if (!SERVICE_PATTERN.test(service)) throw new InvalidRolloutIdError(input);
  return rolloutWorkflowId(service);
}

/** The service name inside a rollout id (`rollout-checkout` → `checkout`). */
export function serviceOfRolloutId(rolloutId: string): string {
  return normalizeRolloutId(rolloutId).slice(ID_PREFIX.length);
}
