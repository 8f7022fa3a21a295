/**
 * On a real `temporal server start-dev`: the worker running a rollout is SIGKILLed in the middle
 * of a phase and a new worker process finishes it, with no step repeated or skipped.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readRecordedCalls, useDoubleWorkerWorld, waitFor } from '../helpers/double-worker';
import { SECONDS_PLAN, seedSpec } from '../workflows/spec-fixture';
import { canaryRollout } from '../../workflows';
import { statusQuery } from '../../workflows/contract';

const world = useDoubleWorkerWorld();

describe('a rollout survives its worker being killed', () => {
  it('SIGKILL mid-phase: a new worker finishes with every step once, in order', async () => {
    const callsFile = world.newCallsFile();
    const taskQueue = 'crash-test';
    const spec = seedSpec({
      service: 'crashy',
      ...SECONDS_PLAN,
    });
    const first = await world.startWorker({ TASK_QUEUE: taskQueue, CALLS_FILE: callsFile });
    const handle = await world.client.workflow.start(canaryRollout, {
      taskQueue,
      workflowId: 'rollout-crashy',
      args: [{ spec }],
    });

    await waitFor('phase 2 (20%)', () => readRecordedCalls(callsFile).some((c) => c.weight === 20));
    await new Promise((r) => setTimeout(r, 1500));
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    const killedAt = readRecordedCalls(callsFile).length;
    // The phase clock is a server-side timer: it keeps running while no worker is alive.
    await new Promise((r) => setTimeout(r, 2000));
    const second = await world.startWorker({ TASK_QUEUE: taskQueue, CALLS_FILE: callsFile });

    const result = await handle.result();
    assert.equal(result.outcome, 'promoted', result.reason);
    assert.deepEqual(
      result.timeline.map((t) => t.weight),
      [0, 5, 20, 40, 60, 80, 100, 0],
      'the workflow saw each step exactly once',
    );
    const calls = readRecordedCalls(callsFile);
    const weights = calls.filter((c) => c.activity === 'setCanaryWeight').map((c) => c.weight);
    // 100 twice: finalize re-applies and verifies it before it touches the stable slot.
    assert.deepEqual(weights, [0, 5, 20, 40, 60, 80, 100, 100, 0], 'no weight change repeated or skipped across workers');
    assert.equal(calls.filter((c) => c.activity === 'deployCanary').length, 1, 'deploy not repeated');
    assert.equal(calls.filter((c) => c.activity === 'promoteCanary').length, 1);
    assert.ok(
      calls.slice(killedAt).every((c) => c.pid === second.pid),
      'everything after the kill ran on the new worker',
    );
    assert.ok(calls.slice(killedAt).some((c) => c.activity === 'setCanaryWeight' && c.weight === 40));
    const status = await handle.query(statusQuery);
    assert.equal(status.state, 'promoted');
  });
});
