/**
 * What a sample of finished rollouts' histories say: events per rollout (continue-as-new chain
 * included), workflow-task timeouts, analyses, and the analysis and weight-change times the
 * lateness figures need when no activity double recorded them (real I/O mode). Analyses are
 * counted whether they ran as activities (ActivityTaskScheduled) or local activities (markers).
 */
import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import type { TimedEvent } from './lateness';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
type EventType = temporal.api.enums.v1.EventType;

// Numeric values of temporal.api.enums.v1.EventType (stable wire numbers), so this module needs no
// value import of the generated protos.
const WORKFLOW_TASK_TIMED_OUT = 8 as EventType;
const ACTIVITY_TASK_SCHEDULED = 10 as EventType;
const ACTIVITY_TASK_COMPLETED = 12 as EventType;
const MARKER_RECORDED = 25 as EventType;

/** The activity type a local-activity marker records (Core's `core_local_activity` marker), else null. */
function localActivityType(e: HistoryEvent): string | null {
  const m = e.markerRecordedEventAttributes;
  if (m?.markerName !== 'core_local_activity') return null;
  const data = m.details?.data?.payloads?.[0]?.data;
  if (!data) return null;
  try {
    const parsed = JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type?: string; activityType?: string };
    return parsed.activity_type ?? parsed.activityType ?? null;
  } catch {
    return null;
  }
}

/** One sampled rollout. */
export interface RolloutHistory {
  workflowId: string;
  events: number;
  runs: number;
  workflowTaskTimeouts: number;
  analyses: number;
  /** analyseCanary scheduled (`A`) and setCanaryWeight completed (`W`), ms. */
  timed: TimedEvent[];
  /**
   * Events from one analysis to the next within a step (no weight change between): what one
   * analysis round costs in history, timer and workflow tasks included.
   */
  roundEvents: number[];
}

function ms(ts: HistoryEvent['eventTime']): number {
  if (!ts) return 0;
  return Number(ts.seconds?.toString() ?? 0) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
}

/** Reads one rollout's whole chain of runs, newest run found by following continued-as-new. */
export async function readRolloutHistory(client: Client, workflowId: string, firstRunId: string): Promise<RolloutHistory> {
  const h: RolloutHistory = { workflowId, events: 0, runs: 0, workflowTaskTimeouts: 0, analyses: 0, timed: [], roundEvents: [] };
  for (let runId: string | undefined = firstRunId; runId && h.runs < 1000; h.runs++) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const list: HistoryEvent[] = history.events ?? [];
    h.events += list.length;
    const scheduledType = new Map<string, string>();
    let lastAnalysis: number | null = null;
    const analysisAt = (i: number): void => {
      if (lastAnalysis !== null) h.roundEvents.push(i - lastAnalysis);
      lastAnalysis = i;
    };
    for (const [i, e] of list.entries()) {
      if (e.eventType === WORKFLOW_TASK_TIMED_OUT) h.workflowTaskTimeouts++;
      if (e.eventType === ACTIVITY_TASK_SCHEDULED) {
        const type = e.activityTaskScheduledEventAttributes?.activityType?.name ?? '';
        scheduledType.set(String(e.eventId), type);
        if (type === 'analyseCanary') {
          h.analyses++;
          h.timed.push({ a: 'A', t: ms(e.eventTime) });
          analysisAt(i);
        }
        if (type === 'setCanaryWeight') lastAnalysis = null;
      }
      // A local activity is one marker, written when the workflow task that ran it completed.
      if (e.eventType === MARKER_RECORDED) {
        const type = localActivityType(e);
        if (type === 'analyseCanary') {
          h.analyses++;
          h.timed.push({ a: 'A', t: ms(e.eventTime) });
          analysisAt(i);
        } else if (type === 'setCanaryWeight') {
          h.timed.push({ a: 'W', t: ms(e.eventTime) });
          lastAnalysis = null;
        }
      }
      if (e.eventType === ACTIVITY_TASK_COMPLETED) {
        const id = String(e.activityTaskCompletedEventAttributes?.scheduledEventId ?? '');
        if (scheduledType.get(id) === 'setCanaryWeight') h.timed.push({ a: 'W', t: ms(e.eventTime) });
      }
    }
    runId = list.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  return h;
}

/** `count` workflow ids spread evenly over `ids` (all of them when there are fewer). */
export function evenSample<T>(ids: T[], count: number): T[] {
  if (ids.length <= count) return [...ids];
  return Array.from({ length: count }, (_, i) => ids[Math.floor((i * ids.length) / count)] as T);
}
