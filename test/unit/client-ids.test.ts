import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidRolloutIdError } from '../../client/errors';
import { normalizeRolloutId, serviceOfRolloutId } from '../../client/ids';

test('a bare service name becomes rollout-<service>', () => {
  assert.equal(normalizeRolloutId('checkout'), 'rollout-checkout');
  assert.equal(normalizeRolloutId(' checkout.v2_x '), 'rollout-checkout.v2_x');
});

test('a full rollout id is kept as is', () => {
  assert.equal(normalizeRolloutId('rollout-checkout'), 'rollout-checkout');
  // A service whose own name starts with rollout- has to be given in full.
  assert.equal(normalizeRolloutId('rollout-rollout-x'), 'rollout-rollout-x');
  assert.equal(serviceOfRolloutId('rollout-payments'), 'payments');
});

test('ids that cannot belong to a rollout are rejected with the input in the message', () => {
  for (const bad of ['', 'rollout-', 'check out', "x' OR 1=1", 'a/b', '-leading', 'x'.repeat(64)]) {
    assert.throws(() => normalizeRolloutId(bad), (err: unknown) => {
      assert.ok(err instanceof InvalidRolloutIdError);
      assert.equal(err.name, 'InvalidRolloutIdError');
      assert.match(err.message, new RegExp(JSON.stringify(bad).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')));
      return true;
    });
  }
});
