import assert from 'node:assert/strict';
import type { SetWeightResult } from '../../activities/types';

/** A setCanaryWeight result without its read-back time, after checking that it has one. */
export function withoutAppliedAt(value: unknown): Omit<SetWeightResult, 'appliedAtMs'> {
  const { appliedAtMs, ...rest } = value as SetWeightResult;
  assert.equal(typeof appliedAtMs, 'number', 'the result says when the router read the weight back');
  return rest;
}
