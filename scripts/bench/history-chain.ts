/** Counting the history events of a workflow across its continue-as-new chain. */
import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/**
 * Follows the chain from `firstRunId` through each run's continued-as-new event and returns the
 * total number of events and of runs.
 */
export async function historyEventsOfChain(
  client: Client,
  workflowId: string,
  firstRunId: string,
): Promise<{ events: number; runs: number }> {
  let events = 0;
  let runs = 0;
  for (let runId: string | undefined = firstRunId; runId; runs++) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const list: HistoryEvent[] = history.events ?? [];
    events += list.length;
    const last: HistoryEvent | undefined = list[list.length - 1];
    runId = last?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
    if (runs > 10_000) throw new Error(`${workflowId}: continue-as-new chain longer than 10000 runs`);
  }
  return { events, runs };
}
