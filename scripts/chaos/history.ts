/** What a rollout's workflow history says about its weight changes. */
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';

/**
 * A local activity's marker (the SDK core's `core_local_activity` marker data, JSON). Forward
 * weight changes are local activities since `local-weight-changes-v1`; the move back to stable is not.
 */
interface LocalActivityMarker {
  activity_type?: string;
  attempt?: number;
}

/**
 * Weights setCanaryWeight was asked for (activity tasks) or applied (local activities, whose marker
 * keeps the result, not the input), in history order, and the attempts beyond the first; the pids
 * of the workers that reported them.
 */
export async function historyStats(
  raw: Client,
  rolloutId: string,
): Promise<{ weights: number[]; weightRetries: number; completedByPids: Set<number> }> {
  const history = await raw.workflow.getHandle(rolloutId).fetchHistory();
  const weights: number[] = [];
  const weightActivities = new Set<string>();
  const taskCompletedBy = new Map<string, number>();
  let weightRetries = 0;
  const completedByPids = new Set<number>();
  // The SDK's default identity is pid@host.
  const pidOf = (identity: string | null | undefined): number => Number(/^(\d+)@/.exec(identity ?? '')?.[1]);
  for (const e of history.events ?? []) {
    const taskCompleted = e.workflowTaskCompletedEventAttributes;
    if (taskCompleted) taskCompletedBy.set(String(e.eventId), pidOf(taskCompleted.identity));
    const completed = e.activityTaskCompletedEventAttributes;
    if (completed && weightActivities.has(String(completed.scheduledEventId))) {
      const pid = pidOf(completed.identity);
      if (Number.isInteger(pid)) completedByPids.add(pid);
    }
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled?.activityType?.name === 'setCanaryWeight') {
      weightActivities.add(String(e.eventId));
      const input = scheduled.input?.payloads?.[0];
      const decoded = input ? defaultPayloadConverter.fromPayload<{ weight?: number }>(input) : undefined;
      if (typeof decoded?.weight === 'number') weights.push(decoded.weight);
    }
    const started = e.activityTaskStartedEventAttributes;
    if (started && weightActivities.has(String(started.scheduledEventId)) && (started.attempt ?? 1) > 1) {
      weightRetries += (started.attempt ?? 1) - 1;
    }
    const marker = e.markerRecordedEventAttributes;
    if (marker?.markerName === 'core_local_activity') {
      const data = decodeJson<LocalActivityMarker>(marker.details?.data?.payloads?.[0]?.data);
      if (data?.activity_type !== 'setCanaryWeight') continue;
      const result = decodeJson<{ weight?: number }>(marker.details?.result?.payloads?.[0]?.data);
      if (typeof result?.weight === 'number') weights.push(result.weight);
      if ((data.attempt ?? 1) > 1) weightRetries += (data.attempt ?? 1) - 1;
      // The marker is written by the workflow task completion of the worker that ran it.
      const pid = taskCompletedBy.get(String(marker.workflowTaskCompletedEventId));
      if (pid !== undefined && Number.isInteger(pid)) completedByPids.add(pid);
    }
  }
  return { weights, weightRetries, completedByPids };
}

function decodeJson<T>(data: Uint8Array | null | undefined): T | undefined {
  return data && data.length > 0 ? (JSON.parse(Buffer.from(data).toString('utf8')) as T) : undefined;
}
