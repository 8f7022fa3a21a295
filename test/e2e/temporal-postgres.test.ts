/**
 * On a real Temporal server backed by PostgreSQL (not the dev server): two workers poll one task
 * queue, one is SIGKILLed mid-rollout and the other carries on, the Temporal server is SIGKILLed
 * and started again mid-rollout, and the rollout still ends promoted with every planned weight
 * applied in order.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { readRecordedCalls, startDoubleWorker, waitFor, type RecordedCall } from '../helpers/double-worker';
import { startPostgresTemporal, type PostgresTemporal } from '../helpers/temporal-postgres';
import { lastStartTimings } from '../../scripts/temporal-postgres';
import { SECONDS_PLAN, seedSpec } from '../workflows/spec-fixture';
import { canaryRollout } from '../../workflows';
import { statusQuery } from '../../workflows/contract';

const TIMELINE = [0, 5, 20, 40, 60, 80, 100, 0];
/** 100 twice: finalize re-applies and verifies it before it touches the stable slot. */
const APPLIED = [0, 5, 20, 40, 60, 80, 100, 100, 0];

/** Consecutive repeats folded: an activity retried after a kill applies the same weight again, which is not a step. */
function steps(weights: number[]): number[] {
  return weights.filter((w, i) => i === 0 || w !== weights[i - 1]);
}

const weightsOf = (calls: RecordedCall[]): number[] =>
  calls.filter((c) => c.activity === 'setCanaryWeight').map((c) => c.weight as number);

describe('a rollout on a PostgreSQL-backed Temporal server', { timeout: 180_000 }, () => {
  let temporal: PostgresTemporal | undefined;
  let connection: Connection | undefined;
  let client: Client;
  let dir: string;
  const workers: ChildProcess[] = [];

  before(async () => {
    const started = Date.now();
    temporal = await startPostgresTemporal();
    const t = lastStartTimings();
    process.stdout.write(
      `# PostgreSQL + Temporal server serving in ${((Date.now() - started) / 1000).toFixed(1)} s ` +
        `(initdb + PostgreSQL ${t?.postgresMs} ms, schema ${t?.schemaMs} ms, Temporal to serving with namespace and search attributes ${t?.temporalMs} ms)\n`,
    );
    connection = await Connection.connect({ address: temporal.address });
    client = new Client({ connection, namespace: temporal.namespace });
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'phoenix-pg-e2e-'));
  });

  after(async () => {
    for (const w of workers) w.kill('SIGKILL');
    await connection?.close();
    await temporal?.stop();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('two workers, one SIGKILLed and the server restarted mid-rollout: promoted, every weight in order', async () => {
    const callsFile = path.join(dir, 'calls.jsonl');
    const taskQueue = 'pg-two-workers';
    const env = { TEMPORAL_ADDRESS: (temporal as PostgresTemporal).address, TASK_QUEUE: taskQueue, CALLS_FILE: callsFile, SHARED_WORLD: '1' };
    const workersStarted = Date.now();
    const [a, b] = await Promise.all([startDoubleWorker(env), startDoubleWorker(env)]);
    workers.push(a, b);
    const rolloutStarted = Date.now();
    process.stdout.write(`# two workers polling after ${((rolloutStarted - workersStarted) / 1000).toFixed(1)} s\n`);
    const spec = seedSpec({
      service: 'pg-two-workers',
      ...SECONDS_PLAN,
    });
    const handle = await client.workflow.start(canaryRollout, { taskQueue, workflowId: 'rollout-pg-two-workers', args: [{ spec }] });

    // Kill whichever worker ran the last activity once the 5% step is applied: the busy one.
    await waitFor('the 5% step', () => weightsOf(readRecordedCalls(callsFile)).includes(5));
    const victimPid = readRecordedCalls(callsFile).at(-1)?.pid;
    const [victim, survivor] = victimPid === b.pid ? [b, a] : [a, b];
    victim.kill('SIGKILL');
    await new Promise((resolve) => (victim.exitCode !== null || victim.signalCode !== null ? resolve(null) : victim.once('exit', resolve)));
    const killedAt = readRecordedCalls(callsFile).length;

    // Restart the server in the middle of the 20% phase, with only the survivor polling.
    await waitFor('the 20% step', () => weightsOf(readRecordedCalls(callsFile)).includes(20));
    const restartStarted = Date.now();
    await (temporal as PostgresTemporal).restart();
    const restartMs = Date.now() - restartStarted;
    process.stdout.write(`# worker ${victim.pid} SIGKILLed at 5%; Temporal server SIGKILLed at 20% and serving again after ${restartMs} ms\n`);

    const result = await handle.result();
    process.stdout.write(`# rollout promoted ${((Date.now() - rolloutStarted) / 1000).toFixed(1)} s after its start\n`);
    assert.equal(result.outcome, 'promoted', result.reason);
    assert.deepEqual(result.timeline.map((t) => t.weight), TIMELINE, 'the workflow saw each step exactly once');
    const calls = readRecordedCalls(callsFile);
    const applied = weightsOf(calls);
    process.stdout.write(`# weights applied (pid): ${calls.filter((c) => c.activity === 'setCanaryWeight').map((c) => `${c.weight} (${c.pid})`).join(', ')}\n`);
    assert.deepEqual(steps(applied), steps(APPLIED), `weights applied out of order or skipped: ${applied.join(', ')}`);
    assert.equal(calls.filter((c) => c.activity === 'promoteCanary').length, 1);
    assert.ok(
      calls.slice(killedAt).every((c) => c.pid === survivor.pid),
      `everything after the kill ran on the surviving worker ${survivor.pid}`,
    );
    assert.ok(weightsOf(calls.slice(killedAt)).includes(40), 'the survivor applied the later steps');
    assert.equal((await handle.query(statusQuery)).state, 'promoted');
  });
});
