/**
 * Cheap in-process activity doubles for the scale bench: the shapes the real activities return,
 * healthy samples so every rollout promotes, and per-rollout state (each rollout has its own canary
 * weight, so the workflow's drift check sees what it set). Each analysis and weight change is
 * reported to `record` with its real time, which the bench turns into analysis lateness.
 */
import { Context } from '@temporalio/activity';
import type {
  AnalyseCanaryInput,
  AnalyseCanaryResult,
  GuardCanaryResult,
  MetricQuery,
  MetricSample,
  RolloutActivities,
} from '../../../activities/types';
import { HEALTHY } from '../../../test/workflows/fake-world';

/** One recorded call: rollout id, `A` (analyseCanary) or `W` (setCanaryWeight), time (ms), weight. */
export interface ScaleCall {
  r: string;
  a: 'A' | 'W';
  t: number;
  w: number;
}

function healthySamples(queries: MetricQuery[]): MetricSample[] {
  return queries.map((q) => ({ ...q, status: 'ok', value: HEALTHY[q.metric] }));
}

/** Activity doubles sharing one map of rollout id → canary weight. */
export function createScaleDoubles(record: (call: ScaleCall) => void): RolloutActivities {
  const weights = new Map<string, number>();
  return {
    resolveRollout: async (input) => {
      if (!('spec' in input)) throw new Error('the scale bench starts inline specs only');
      return { spec: input.spec, source: { kind: 'inline' } };
    },
    deployCanary: async () => undefined,
    checkCanaryHealth: async () => ({ healthy: true, detail: 'ok' }),
    setCanaryWeight: async (input) => {
      record({ r: input.rolloutId, a: 'W', t: Date.now(), w: input.weight });
      weights.set(input.rolloutId, input.weight);
      return { weight: input.weight };
    },
    analyseCanary: async (input: AnalyseCanaryInput): Promise<AnalyseCanaryResult> => {
      const weight = weights.get(input.rolloutId) ?? input.expectedWeight;
      record({ r: input.rolloutId, a: 'A', t: Date.now(), w: weight });
      return {
        samples: healthySamples(input.queries),
        traffic: { canaryWeight: weight, drifted: weight !== input.expectedWeight, detail: `canary=${weight} stable=${100 - weight}` },
      };
    },
    preflightMetrics: async () => [],
    queryMetrics: async (input) => healthySamples(input.queries),
    promoteCanary: async (input) => {
      weights.delete(input.rolloutId);
    },
    terminateCanary: async (input) => {
      weights.delete(input.rolloutId);
    },
    // The bench's specs have no fresh baseline (judge.freshBaseline).
    deployBaseline: async () => undefined,
    checkBaselineHealth: async () => ({ healthy: true, detail: 'ok' }),
    terminateBaseline: async () => undefined,
    // Only runs when a spec enables the fast guard (the bench's does not): sample until cancelled.
    guardCanary: async (): Promise<GuardCanaryResult> => {
      const ctx = Context.current();
      for (;;) {
        ctx.heartbeat();
        await ctx.sleep(200);
      }
    },
    // Only runs when a spec has a judge (the bench's does not).
    judgeCanary: async () => {
      throw new Error('the scale bench does not judge');
    },
    sendAlert: async () => undefined,
    resolveAlerts: async () => undefined,
  };
}
