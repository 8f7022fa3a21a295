/**
 * Runs rollout workflows on the time-skipping test server against a FakeWorld. The bundle is
 * built once per test file; each rollout gets its own task queue so tests cannot steal tasks.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { RolloutSpec } from '../../rollout-spec/types';
import { canaryRollout } from '../../workflows';
import type { RolloutResult, RolloutStartInput } from '../../workflows/contract';
import { buildWorkflowBundle } from '../../worker/workflow-bundle';
import { FakeWorld } from './fake-world';

export const MINUTE = 60_000;

/** Recorded histories of released workflow code; replay tests keep them working. */
export const HISTORIES_DIR = path.join(__dirname, 'histories');

let bundle: WorkflowBundleWithSourceMap | undefined;

/** Bundles the workflows once; the SDK's webpack build takes seconds. */
export async function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= await buildWorkflowBundle();
  return bundle;
}


export interface RolloutRun {
  result: RolloutResult;
  world: FakeWorld;
  workflowId: string;
  /** Minutes since the first timeline entry, and the weight set then. */
  timeline: { minute: number; weight: number; reason: string }[];
}

/**
 * Starts a rollout of `spec`, lets `drive` act on it (signals, env.sleep, changing the world),
 * and returns the result once the workflow ends.
 */
export async function runRollout(
  env: TestWorkflowEnvironment,
  spec: RolloutSpec,
  opts: {
    world?: FakeWorld;
    drive?: (handle: WorkflowHandle<typeof canaryRollout>, world: FakeWorld) => Promise<void>;
    limits?: { maxHistoryEvents?: number };
    workflowId?: string;
    /** With PHOENIX_RECORD_HISTORIES=1, saves the first run's history under this name for replay tests. */
    record?: string;
    /** Start with this input instead of `{spec}` (e.g. a catalog request). */
    start?: RolloutStartInput;
  } = {},
): Promise<RolloutRun> {
  const world = opts.world ?? new FakeWorld();
  const taskQueue = `test-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: world.activities(),
    // As worker/main.ts: an abort reaches a heartbeating activity within about a second.
    maxHeartbeatThrottleInterval: '1s',
  });
  const workflowId = opts.workflowId ?? `rollout-${spec.service}-${randomUUID().slice(0, 8)}`;
  const result = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(canaryRollout, {
      taskQueue,
      workflowId,
      args: [opts.start ?? { spec, limits: opts.limits }],
    });
    if (opts.drive) {
      try {
        await opts.drive(handle, world);
      } catch (err) {
        // A failed assertion must not leave the test waiting on a rollout that never ends.
        await handle.terminate('test drive failed').catch(() => undefined);
        throw err;
      }
    }
    const result = await handle.result();
    if (opts.record && process.env.PHOENIX_RECORD_HISTORIES === '1') {
      const first = env.client.workflow.getHandle(workflowId, handle.firstExecutionRunId);
      await fs.mkdir(HISTORIES_DIR, { recursive: true });
      await fs.writeFile(path.join(HISTORIES_DIR, `${opts.record}.json`), historyToJSON(await first.fetchHistory()));
    }
    return result;
  });
  const t0 = Date.parse(result.timeline[0]?.at ?? new Date().toISOString());
  const timeline = result.timeline.map((c) => ({
    // One decimal: activities take real milliseconds even while the test server skips time.
    minute: Math.round(((Date.parse(c.at) - t0) / MINUTE) * 10) / 10,
    weight: c.weight,
    reason: c.reason,
  }));
  return { result, world, workflowId, timeline };
}
