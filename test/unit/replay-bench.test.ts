/**
 * `npm run bench -- --replay`: its median, and one real (tiny) run through every sandbox set-up.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_HISTORY, measureReplay, median, REPLAY_SETUPS } from '../../scripts/bench/replay';
import { installQuietRuntime } from '../helpers/temporal';

installQuietRuntime();

describe('replay bench', () => {
  it('takes the median of odd and even counts', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
  });

  it('compares against the SDK defaults first', () => {
    assert.deepEqual(REPLAY_SETUPS[0]?.settings, { stackTraces: true, shareModules: false });
    assert.equal(REPLAY_SETUPS.length, 3);
  });

  it('replays the default plan through every set-up and reports CPU per workflow task', async () => {
    const report = await measureReplay({ replays: 1, batches: 1, history: DEFAULT_HISTORY }, () => undefined);
    assert.equal(report.workflowTasks, 108);
    assert.equal(report.setups.length, 3);
    for (const s of report.setups) assert.ok(s.medianCpuMsPerWorkflowTask > 0, JSON.stringify(s));
    assert.equal(report.setups[0]?.ratioToSdkDefaults, 1);
  });
});
