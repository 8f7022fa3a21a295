/**
 * On a real `temporal server start-dev`: the worker running a rollout is SIGKILLed in the middle
 * of a phase and a new worker process finishes it, with no step repeated or skipped.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { startDoubleWorker } from '../helpers/double-worker';
import { startDevServer, type TestDevServer } from '../helpers/temporal';
import { seedSpec } from '../workflows/spec-fixture';
import { canaryRollout } from '../../workflows';
import { statusQuery } from '../../workflows/messages';

let server: TestDevServer;
let connection: Connection;
let client: Client;
const workers: ChildProcess[] = [];

async function startWorker(callsFile: string, taskQueue: string): Promise<ChildProcess> {
  const child = await startDoubleWorker({ TEMPORAL_ADDRESS: server.address, TASK_QUEUE: taskQueue, CALLS_FILE: callsFile });
  workers.push(child);
  return child;
}

interface Call {
  activity: string;
  weight?: number;
  pid: number;
}

function readCalls(file: string): Call[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Call);
}

async function waitFor(what: string, fn: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  server = await startDevServer();
  connection = await Connection.connect({ address: server.address });
  client = new Client({ connection });
});

after(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await connection?.close();
  await server?.teardown();
});

describe('a rollout survives its worker being killed', () => {
  it('SIGKILL mid-phase: a new worker finishes with every step once, in order', async () => {
    const dir = fs.mkdtempSync(path.join(server.dir, 'calls-'));
    const callsFile = path.join(dir, 'calls.jsonl');
    const taskQueue = 'crash-test';
    const spec = seedSpec({
      service: 'crashy',
      warmup: { duration: '1s' },
      analysisInterval: '1s',
      trafficControl: {
        phases: [
          { name: 'initial_canary', percentage: 5, duration: '3s' },
          { name: 'expanded_canary', percentage: 20, duration: '6s' },
          { name: 'full_rollout', incrementSize: 20, intervalSeconds: 2 },
        ],
      },
    });
    const first = await startWorker(callsFile, taskQueue);
    const handle = await client.workflow.start(canaryRollout, {
      taskQueue,
      workflowId: 'rollout-crashy',
      args: [{ spec }],
    });

    await waitFor('phase 2 (20%)', () => readCalls(callsFile).some((c) => c.weight === 20));
    await new Promise((r) => setTimeout(r, 1500));
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    const killedAt = readCalls(callsFile).length;
    // The phase clock is a server-side timer: it keeps running while no worker is alive.
    await new Promise((r) => setTimeout(r, 2000));
    const second = await startWorker(callsFile, taskQueue);

    const result = await handle.result();
    assert.equal(result.outcome, 'promoted', result.reason);
    assert.deepEqual(
      result.timeline.map((t) => t.weight),
      [0, 5, 20, 40, 60, 80, 100, 0],
      'the workflow saw each step exactly once',
    );
    const calls = readCalls(callsFile);
    const weights = calls.filter((c) => c.activity === 'setCanaryWeight').map((c) => c.weight);
    assert.deepEqual(weights, [0, 5, 20, 40, 60, 80, 100, 0], 'no weight change repeated or skipped across workers');
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
