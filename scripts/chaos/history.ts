/** What a rollout's workflow history says about its weight changes. */
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';

/** Weights setCanaryWeight was asked for (in scheduling order) and its attempts beyond the first. */
export async function historyStats(
  raw: Client,
  rolloutId: string,
): Promise<{ weights: number[]; weightRetries: number; completedByPids: Set<number> }> {
  const history = await raw.workflow.getHandle(rolloutId).fetchHistory();
  const weights: number[] = [];
  const weightActivities = new Set<string>();
  let weightRetries = 0;
  const completedByPids = new Set<number>();
  for (const e of history.events ?? []) {
    const completed = e.activityTaskCompletedEventAttributes;
    if (completed && weightActivities.has(String(completed.scheduledEventId))) {
      // The SDK's default identity is pid@host.
      const pid = Number(/^(\d+)@/.exec(completed.identity ?? '')?.[1]);
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
  }
  return { weights, weightRetries, completedByPids };
}
