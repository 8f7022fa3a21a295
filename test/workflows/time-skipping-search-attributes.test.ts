/**
 * Pins down how the Java time-skipping test server treats the project's custom search attributes,
 * because the rollout workflow upserts PhoenixService/Phase/Weight/State on every phase change.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TypedSearchAttributes } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { ensureTestServer } from '../../scripts/provision';
import { serviceSearchAttribute, weightSearchAttribute } from '../../workflows/contract';
import { createTimeSkippingEnv, installQuietRuntime } from '../helpers/temporal';
import type * as probes from '../helpers/fixtures/search-attribute-workflows';

const workflowsPath = require.resolve('../helpers/fixtures/search-attribute-workflows');

describe('time-skipping test server and custom search attributes', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  const taskQueue = 'search-attribute-probe';

  before(async () => {
    env = await createTimeSkippingEnv();
    worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowsPath });
    running = worker.run();
  });

  after(async () => {
    worker?.shutdown();
    await running;
    await env?.teardown();
  });

  it('accepts upserts of PhoenixService/PhoenixWeight once createTimeSkippingEnv registered them', async () => {
    const handle = await env.client.workflow.start<typeof probes.upsertPhoenixAttributes>('upsertPhoenixAttributes', {
      taskQueue,
      workflowId: 'upsert-phoenix-attributes',
      args: ['checkout'],
      workflowExecutionTimeout: '1 minute',
    });
    assert.deepEqual(await handle.result(), { service: 'checkout' });
    const described = await handle.describe();
    assert.equal(described.typedSearchAttributes.get(serviceSearchAttribute), 'checkout');
    assert.equal(described.typedSearchAttributes.get(weightSearchAttribute), 5);
  });

  it('passes start-time search attributes through to workflowInfo', async () => {
    const handle = await env.client.workflow.start<typeof probes.reportStartAttributes>('reportStartAttributes', {
      taskQueue,
      workflowId: 'start-with-phoenix-attributes',
      typedSearchAttributes: new TypedSearchAttributes([{ key: serviceSearchAttribute, value: 'payments' }]),
    });
    assert.equal(await handle.result(), 'payments');
  });

  it('rejects unregistered custom search attributes on a bare test server', async () => {
    // A second, unprepared server: what a workflow test gets without createTimeSkippingEnv.
    installQuietRuntime();
    const bare = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: await ensureTestServer() } },
    });
    try {
      await assert.rejects(
        bare.client.workflow.start('reportStartAttributes', {
          taskQueue,
          workflowId: 'bare-server-start',
          typedSearchAttributes: new TypedSearchAttributes([{ key: serviceSearchAttribute, value: 'payments' }]),
        }),
        (err: Error) => /search attribute PhoenixService is not defined/.test(String(err.cause)),
      );
    } finally {
      await bare.teardown();
    }
  });
});
