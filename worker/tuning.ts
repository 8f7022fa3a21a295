/**
 * How much one worker process takes on at once: the workflow cache and the task slots, from the
 * environment (see docs/scaling.md for the measurements behind the defaults). Shared by the worker
 * and the scale bench's worker, so the bench measures what production runs.
 */
import type { WorkerOptions } from '@temporalio/worker';

/** Worker capacity settings; unset fields keep the SDK's defaults. */
export interface WorkerTuning {
  /** Workflows kept in memory between tasks (`PHOENIX_WORKER_MAX_CACHED_WORKFLOWS`); an evicted one is replayed from history on its next task. */
  readonly maxCachedWorkflows?: number;
  /** Workflow tasks run at once (`PHOENIX_WORKER_WORKFLOW_TASK_SLOTS`). */
  readonly workflowTaskSlots?: number;
  /** Activities run at once (`PHOENIX_WORKER_ACTIVITY_SLOTS`). */
  readonly activitySlots?: number;
  /** Local activities (analysis rounds) run at once (`PHOENIX_WORKER_LOCAL_ACTIVITY_SLOTS`). */
  readonly localActivitySlots?: number;
}

/** The environment variable of each setting. */
export const WORKER_TUNING_ENV = {
  maxCachedWorkflows: 'PHOENIX_WORKER_MAX_CACHED_WORKFLOWS',
  workflowTaskSlots: 'PHOENIX_WORKER_WORKFLOW_TASK_SLOTS',
  activitySlots: 'PHOENIX_WORKER_ACTIVITY_SLOTS',
  localActivitySlots: 'PHOENIX_WORKER_LOCAL_ACTIVITY_SLOTS',
} as const satisfies Record<keyof WorkerTuning, string>;

/** The Worker.create options for `tuning`, beside the ones every Phoenix worker sets. */
export function workerTuningOptions(tuning: WorkerTuning): Partial<WorkerOptions> {
  return {
    // A cancellation (abort) reaches an activity only in the answer to a heartbeat: send the
    // waiting activities' heartbeats (every 500 ms) at least once a second, not every 8 s.
    maxHeartbeatThrottleInterval: '1s',
    ...(tuning.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: tuning.maxCachedWorkflows } : {}),
    ...(tuning.workflowTaskSlots !== undefined ? { maxConcurrentWorkflowTaskExecutions: tuning.workflowTaskSlots } : {}),
    ...(tuning.activitySlots !== undefined ? { maxConcurrentActivityTaskExecutions: tuning.activitySlots } : {}),
    ...(tuning.localActivitySlots !== undefined ? { maxConcurrentLocalActivityExecutions: tuning.localActivitySlots } : {}),
  };
}
