/**
 * `RolloutClient`'s operator actions over a stand-in for `@temporalio/client`: they are updates
 * (name, payload, run binding), and the SDK's errors become the client's own (a validator's
 * rejection is a refusal with the workflow's reason). The real round trip is in the e2e tests.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  OperatorActionRefusedError,
  RolloutAlreadyFinishedError,
  RolloutNotFoundError,
  RolloutNotRespondingError,
} from '../../client/errors';
import { RolloutClient, buildListQuery } from '../../client/rollouts';
import type { OperatorAck } from '../../workflows/contract';

interface UpdateCall {
  workflowId: string;
  firstExecutionRunId: string | undefined;
  update: string;
  args: unknown[];
  deadline: number | undefined;
}

/** A Temporal client whose `executeUpdate` answers with `answer`; `describe` reports `latest`. */
function fakeTemporal(answer: () => Promise<OperatorAck>, latest: 'RUNNING' | 'COMPLETED' | 'none' = 'RUNNING') {
  const calls: UpdateCall[] = [];
  let deadline: number | undefined;
  const client = {
    connection: {
      withDeadline: async <T>(at: number, fn: () => Promise<T>): Promise<T> => {
        deadline = at;
        try {
          return await fn();
        } finally {
          deadline = undefined;
        }
      },
    },
    workflow: {
      getHandle: (workflowId: string, _runId?: string, options?: { firstExecutionRunId?: string }) => ({
        executeUpdate: async (def: { name: string }, opts: { args: unknown[] }) => {
          calls.push({ workflowId, firstExecutionRunId: options?.firstExecutionRunId, update: def.name, args: opts.args, deadline });
          return answer();
        },
        describe: async () => {
          if (latest === 'none') throw new WorkflowNotFoundError('not found', workflowId, undefined);
          return { status: { name: latest }, runId: 'r2', memo: {}, raw: {} };
        },
      }),
    },
  };
  return { rollouts: new RolloutClient({ client: client as unknown as Client }), calls };
}

const ack = (over: Partial<OperatorAck> = {}): OperatorAck => ({ action: 'pause', state: 'paused', message: 'paused', ...over });

test('pause, resume, promote and abort are the updates of the same name, with the operator input as their one argument', async () => {
  const { rollouts, calls } = fakeTemporal(async () => ack());
  const before = Date.now();
  assert.deepEqual(await rollouts.pause('checkout', { reason: 'lunch', by: 'cli:alice' }), ack());
  await rollouts.resume('rollout-checkout');
  await rollouts.promote('checkout', { by: 'x' });
  await rollouts.abort('checkout', 'bad canary', 'cli:alice', { force: true, firstRunId: 'run-1' });
  await rollouts.abort('checkout', 'again');
  assert.deepEqual(
    calls.map(({ deadline: _, ...c }) => c),
    [
      { workflowId: 'rollout-checkout', firstExecutionRunId: undefined, update: 'pause', args: [{ reason: 'lunch', by: 'cli:alice' }] },
      { workflowId: 'rollout-checkout', firstExecutionRunId: undefined, update: 'resume', args: [{}] },
      { workflowId: 'rollout-checkout', firstExecutionRunId: undefined, update: 'promote', args: [{ by: 'x' }] },
      { workflowId: 'rollout-checkout', firstExecutionRunId: 'run-1', update: 'abort', args: [{ reason: 'bad canary', by: 'cli:alice', force: true }] },
      { workflowId: 'rollout-checkout', firstExecutionRunId: undefined, update: 'abort', args: [{ reason: 'again' }] },
    ],
  );
  // Every update runs under a deadline: without a worker the server would hold it indefinitely.
  for (const call of calls) assert.ok(call.deadline !== undefined && call.deadline >= before + 5_000, JSON.stringify(call));
});

test("a validator's rejection is OperatorActionRefusedError carrying the workflow's reason", async () => {
  const reason = 'promote refused: a rollback is in progress';
  const { rollouts } = fakeTemporal(async () => {
    throw new WorkflowUpdateFailedError('Workflow Update failed', ApplicationFailure.create({ message: reason, type: 'Error' }));
  });
  await assert.rejects(rollouts.promote('checkout'), (err: unknown) => {
    assert.ok(err instanceof OperatorActionRefusedError);
    assert.equal(err.name, 'OperatorActionRefusedError');
    assert.equal(err.reason, reason);
    assert.equal(err.message, reason);
    assert.equal(err.action, 'promote');
    assert.equal(err.rolloutId, 'rollout-checkout');
    return true;
  });
});

test('no answer in time is RolloutNotRespondingError; a closed workflow is RolloutAlreadyFinishedError; none is RolloutNotFoundError', async () => {
  const timeout = fakeTemporal(async () => {
    throw new WorkflowUpdateRPCTimeoutOrCancelledError('Workflow update call timeout or cancelled');
  });
  await assert.rejects(timeout.rollouts.pause('checkout'), RolloutNotRespondingError);

  const notFound = async (): Promise<OperatorAck> => {
    throw new WorkflowNotFoundError('workflow execution already completed', 'rollout-checkout', undefined);
  };
  await assert.rejects(fakeTemporal(notFound, 'COMPLETED').rollouts.resume('checkout'), (err: unknown) => {
    assert.ok(err instanceof RolloutAlreadyFinishedError);
    assert.equal(err.executionStatus, 'COMPLETED');
    return true;
  });
  await assert.rejects(fakeTemporal(notFound, 'none').rollouts.abort('checkout', 'x'), RolloutNotFoundError);
});

test("list filters accept every state of the contract, 'stuck' included", () => {
  assert.match(buildListQuery({ state: 'stuck' }), /PhoenixState = 'stuck'/);
  assert.throws(() => buildListQuery({ state: 'sleeping' as never }), /expected one of deploying, .*stuck/);
});

test('a bad service filter is reported as the service filter, not as a rollout id', () => {
  assert.match(buildListQuery({ service: 'checkout' }), /PhoenixService = 'checkout'/);
  assert.throws(
    () => buildListQuery({ service: 'no spaces' }),
    (err: unknown) => err instanceof Error && err.name === 'InvalidFilterError' && (err as { field?: string }).field === 'service',
  );
});
