/**
 * Replays histories recorded from earlier versions of the workflow. A change to workflow code
 * that would break rollouts already running (non-determinism) fails here. Re-record with
 * `PHOENIX_RECORD_HISTORIES=1 npm test -- test/workflows/canary-rollout.test.ts` only when the
 * change is behind `patched()` or no rollout of the old code can still be running.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { installQuietRuntime } from '../helpers/temporal';
import { HISTORIES_DIR, workflowBundle } from './harness';

const files = fs.existsSync(HISTORIES_DIR) ? fs.readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json')) : [];

describe('replay of recorded rollout histories', () => {
  it('has recorded histories to replay', () => {
    assert.ok(files.length >= 5, `expected recorded histories in ${HISTORIES_DIR}, found ${files.length}`);
  });

  it('bundles no zod: every cached workflow evaluates its own copy of the bundle (docs/scaling.md)', async () => {
    const { code } = await workflowBundle();
    const heavy = [...new Set(code.match(/node_modules\/(zod|yaml|pino|fastify|commander)\//g) ?? [])];
    assert.deepEqual(heavy, [], 'the workflow bundle must stay free of the spec parser and I/O libraries');
  });

  for (const file of files) {
    it(`replays ${file} without non-determinism`, async () => {
      installQuietRuntime();
      const history = historyFromJSON(JSON.parse(fs.readFileSync(path.join(HISTORIES_DIR, file), 'utf8')));
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, path.basename(file, '.json'));
    });
  }
});
