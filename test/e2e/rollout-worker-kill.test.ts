/**
 * Scenario 4 on the real local stack: the stack's worker is SIGKILLed in the middle of the 20%
 * phase and started again with the same command line. The rollout still ends promoted, every
 * weight was applied exactly once and in order (workflow timeline and the worker's own
 * setCanaryWeight activity log lines), and HAProxy ends with everything on the stable slot.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { pidAlive, startStack, type Stack } from '../helpers/stack';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const WEIGHTS = [0, 5, 20, 40, 60, 80, 100, 0];
/** The activity also runs once more at 100%: finalize re-applies and reads it back before touching the stable slot. */
const APPLIED = [0, 5, 20, 40, 60, 80, 100, 100, 0];

/** Weights the setCanaryWeight activity applied, in log order, from every worker process. */
async function appliedWeights(logFile: string): Promise<{ weight: number; pid: number }[]> {
  const text = await fs.readFile(logFile, 'utf8');
  const out: { weight: number; pid: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (entry.activity === 'setCanaryWeight' && entry.msg === 'canary weight set' && typeof entry.requested === 'number') {
      out.push({ weight: entry.requested, pid: entry.pid as number });
    }
  }
  return out;
}

describe('a rollout survives its worker being SIGKILLed (real stack)', { timeout: 420_000 }, () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack({ loadRate: 100 });
  });

  after(async () => {
    await stack?.teardown();
  });

  test('worker killed mid-phase and restarted: promoted, each weight once, in order', { timeout: 360_000 }, async () => {
    const spec = stack.spec({
      trafficControl: {
        phases: [
          { name: 'initial_canary', percentage: 5, duration: '15s', errorThreshold: '0.1%', latencyThreshold: '100ms' },
          { name: 'expanded_canary', percentage: 20, duration: '20s', errorThreshold: '0.5%', latencyThreshold: '200ms' },
          { name: 'full_rollout', incrementSize: 20, intervalSeconds: 10, maxErrorRate: '1%' },
        ],
      },
    });
    await stack.client.start(spec);

    const inPhase = await stack.waitForStatus('the 20% phase', (s) => s.phase === 'expanded_canary' && s.weight === 20, 150_000);
    // Mid-phase: several analyses have run, the phase clock is well under way.
    await sleep(6_000);
    const before = await stack.status();
    assert.equal(before.phase, 'expanded_canary');
    assert.equal(before.timeline.length, inPhase.timeline.length);

    const killed = await stack.killPart('worker', 'SIGKILL');
    assert.equal(pidAlive(killed), false);
    // The canary and the traffic split outlive the worker.
    assert.deepEqual(await stack.haproxyWeights(), { stable: 80, canary: 20 });
    assert.ok(await stack.pid('canary'), 'the canary died with the worker');

    const restartStarted = Date.now();
    await stack.startPart('worker');
    const restarted = await stack.pid('worker');
    assert.ok(restarted && restarted !== killed, `worker not restarted (pid ${restarted}, killed ${killed})`);
    console.log(`\nworker ${killed} SIGKILLed in expanded_canary; new worker ${restarted} polling after ${((Date.now() - restartStarted) / 1000).toFixed(1)} s\n`);

    const result = await stack.client.result(stack.service);
    assert.equal(result.outcome, 'promoted', `outcome ${result.outcome}: ${result.reason}\n${await stack.logTail('worker')}`);
    assert.deepEqual(result.timeline.map((t) => t.weight), WEIGHTS);
    // No phase repeated: each (phase, weight) appears once.
    const keys = result.timeline.map((t) => `${t.phase}@${t.weight}`);
    assert.equal(new Set(keys).size, keys.length, keys.join(', '));
    // The timeline up to the kill is the one the first worker wrote.
    assert.deepEqual(result.timeline.slice(0, before.timeline.length), before.timeline);

    // At the activity level too: HAProxy was told each weight once, the later ones by the new worker.
    const applied = await appliedWeights(`${stack.endpoints.logs}/worker.log`);
    assert.deepEqual(applied.map((a) => a.weight), APPLIED, JSON.stringify(applied));
    assert.ok(applied.slice(0, 3).every((a) => a.pid === killed), 'weights before the kill came from the first worker');
    assert.ok(applied.slice(3).every((a) => a.pid === restarted), 'weights after the kill came from the new worker');

    assert.deepEqual(await stack.haproxyWeights(), { stable: 100, canary: 0 });
    assert.equal((await stack.stats('stable')).version, 'v2');
    assert.equal(await stack.pid('canary'), undefined);
  });
});
