/**
 * Starts a real `temporal server start-dev` through the harness and checks what e2e tests and the
 * demo stack rely on: search attributes registered, data surviving graceful and hard restarts on the
 * same db file, the UI port, and detached start/stop by pid file.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { serviceSearchAttribute } from '../../workflows/contract';
import { freePort, startTemporalDevServer, stopDetachedDevServer, waitForDevServer } from '../../scripts/temporal-server';
import { startDevServer, type TestDevServer } from '../helpers/temporal';

/** Polls `fn` until it returns true: visibility (list) is eventually consistent. */
async function eventually(fn: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.fail(`timed out waiting for ${what}`);
}

async function listIds(address: string, query: string): Promise<string[]> {
  const connection = await Connection.connect({ address });
  try {
    const ids: string[] = [];
    for await (const execution of new Client({ connection }).workflow.list({ query })) ids.push(execution.workflowId);
    return ids;
  } finally {
    await connection.close();
  }
}

describe('temporal dev server harness', () => {
  let server: TestDevServer;

  before(async () => {
    server = await startDevServer();
  });

  after(async () => {
    await server?.teardown();
  });

  it('serves on 127.0.0.1 with the Phoenix search attributes registered', async () => {
    assert.match(server.address, /^127\.0\.0\.1:\d+$/);
    assert.equal(server.uiUrl, null);
    const connection = await Connection.connect({ address: server.address });
    try {
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
      for (const name of ['PhoenixService', 'PhoenixPhase', 'PhoenixWeight', 'PhoenixState']) {
        assert.ok(customAttributes && name in customAttributes, `${name} registered`);
      }
    } finally {
      await connection.close();
    }
  });

  it('keeps workflows across a graceful restart and a SIGKILL on the same db file', async () => {
    const connection = await Connection.connect({ address: server.address });
    try {
      // No worker: the run just stays open, which is all persistence needs to show.
      await new Client({ connection }).workflow.start('canaryRollout', {
        taskQueue: 'harness-test',
        workflowId: 'rollout-harness-svc',
        args: [],
        typedSearchAttributes: new TypedSearchAttributes([{ key: serviceSearchAttribute, value: 'harness-svc' }]),
      });
    } finally {
      await connection.close();
    }
    const query = `PhoenixService = 'harness-svc'`;
    await eventually(async () => (await listIds(server.address, query)).includes('rollout-harness-svc'), 'listed before restart');

    const pidBefore = server.pid;
    await server.restart();
    assert.notEqual(server.pid, pidBefore, 'a new process serves after restart');
    await eventually(async () => (await listIds(server.address, query)).includes('rollout-harness-svc'), 'listed after restart');

    await server.kill();
    await server.restart();
    await eventually(async () => (await listIds(server.address, query)).includes('rollout-harness-svc'), 'listed after SIGKILL');
    assert.deepEqual(await listIds(server.address, `PhoenixService = 'someone-else'`), []);
  });

  it('serves the web UI when asked and runs detached with a pid file', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'phoenix-detached-'));
    const pidFile = path.join(dir, 'temporal.pid');
    try {
      const handle = await startTemporalDevServer({
        port: await freePort(),
        uiPort: await freePort(),
        detached: true,
        pidFile,
        logFile: path.join(dir, 'temporal.log'),
      });
      assert.ok(handle.uiUrl);
      const response = await fetch(handle.uiUrl);
      assert.equal(response.status, 200);
      assert.equal(Number.parseInt(await fs.readFile(pidFile, 'utf8'), 10), handle.pid);
      await waitForDevServer(handle.address, { timeoutMs: 5_000 });

      assert.equal(await stopDetachedDevServer(pidFile), true);
      await assert.rejects(fs.access(pidFile), 'pid file removed');
      assert.throws(() => process.kill(handle.pid, 0), 'process gone');
      assert.equal(await stopDetachedDevServer(pidFile), false, 'second stop is a no-op');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('fails with a clear error when the port is taken', async () => {
    await assert.rejects(
      startTemporalDevServer({ port: Number(server.address.split(':')[1]), startTimeoutMs: 20_000 }),
      (err: Error) => err.name === 'DevServerError' && /port \d+ on 127\.0\.0\.1 is already in use/.test(err.message),
    );
  });
});
