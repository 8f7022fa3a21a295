/**
 * How many history events one rollout of the seed's DEFAULT plan writes: the workflow runs on the
 * time-skipping test server with the activity doubles of test/workflows, and the events of every
 * run (continue-as-new included) are counted. This bounds what a real rollout costs Temporal.
 */
import { historyEventsOfChain } from './history-chain';
import { createTimeSkippingEnv } from '../../test/helpers/temporal';
import { runRollout } from '../../test/workflows/harness';
import { seedSpec } from '../../test/workflows/spec-fixture';

/** Result of {@link measureDefaultPlanHistory}. */
export interface DefaultPlanHistory {
  events: number;
  runs: number;
  outcome: string;
  /** Simulated duration of the rollout (first to last weight change), ms. */
  simulatedMs: number;
}

/** Runs one default-plan rollout with healthy doubles and counts its history events. */
export async function measureDefaultPlanHistory(): Promise<DefaultPlanHistory> {
  const env = await createTimeSkippingEnv();
  try {
    const run = await runRollout(env, seedSpec());
    const latest = await env.client.workflow.getHandle(run.workflowId).describe();
    const firstRunId = latest.raw.workflowExecutionInfo?.firstRunId || latest.runId;
    const { events, runs } = await historyEventsOfChain(env.client, run.workflowId, firstRunId);
    const t = run.result.timeline.map((c) => Date.parse(c.at));
    return { events, runs, outcome: run.result.outcome, simulatedMs: t.length ? Math.max(...t) - Math.min(...t) : 0 };
  } finally {
    await env.teardown();
  }
}
