/**
 * The workflow sandbox's per-promise stack traces are off by default (worker/sandbox-preload.ts,
 * a third of the worker's CPU per workflow task) and on with `stackTraces: true`: the Temporal
 * UI's stack-trace query shows which.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { canaryRollout } from '../../workflows';
import { statusQuery } from '../../workflows/contract';
import { buildWorkflowBundle } from '../../worker/workflow-bundle';
import { createTimeSkippingEnv, installQuietRuntime } from '../helpers/temporal';
import { FakeWorld } from './fake-world';
import { seedSpec } from './spec-fixture';

installQuietRuntime();

/** The `__stack_trace` answer of a rollout held in its warm-up on a worker with `stackTraces`. */
async function stackTraceOfHeldRollout(env: TestWorkflowEnvironment, stackTraces: boolean): Promise<string> {
  const taskQueue = `stack-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await buildWorkflowBundle({ stackTraces }),
    activities: new FakeWorld().activities(),
  });
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start(canaryRollout, {
      taskQueue,
      workflowId: `stack-${randomUUID().slice(0, 8)}`,
      args: [{ spec: seedSpec() }],
    });
    try {
      // Held in the warm-up: the workflow waits on a timer and a condition.
      for (let i = 0; i < 200; i++) {
        const status = await handle.query(statusQuery);
        if (status.phase === 'warm_up' && status.state !== 'deploying') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      return await handle.query<string>('__stack_trace');
    } finally {
      await handle.terminate('test done');
    }
  });
}

describe('workflow sandbox stack traces', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await createTimeSkippingEnv();
  });
  after(async () => {
    await env?.teardown();
  });

  it('are empty by default: no frame is captured per promise', async () => {
    const trace = await stackTraceOfHeldRollout(env, false);
    assert.doesNotMatch(trace, /\bat \S/, trace);
  });

  it('name the workflow code with stackTraces: true', async () => {
    const trace = await stackTraceOfHeldRollout(env, true);
    assert.match(trace, /at \S+ \(.*workflows\/\S+\.ts:\d+:\d+\)/, trace);
  });
});
