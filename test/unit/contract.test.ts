/** The contract module is the one source of names: the lists agree with each other and with the code. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canaryRollout } from '../../workflows';
import { ENDED_STATES, ROLLOUT_STATES, WORKFLOW_TYPE } from '../../workflows/contract';
import { refusalOf } from '../../workflows/operator';

describe('workflow contract', () => {
  it('WORKFLOW_TYPE (used in visibility queries) is the registered workflow function name', () => {
    assert.equal(WORKFLOW_TYPE, canaryRollout.name);
  });

  it('every ended state is a rollout state, and stuck is one that has not ended', () => {
    for (const state of ENDED_STATES) assert.ok(ROLLOUT_STATES.includes(state), state);
    assert.ok(ROLLOUT_STATES.includes('stuck'));
    assert.ok(!(ENDED_STATES as readonly string[]).includes('stuck'));
  });

  it('operator refusals name the action and the reason', () => {
    const ended = { ended: true, data: { state: 'promoted' } } as unknown as Parameters<typeof refusalOf>[0];
    assert.equal(refusalOf(ended, 'abort'), 'abort refused: the rollout has already ended (promoted)');
  });
});
