/**
 * Test doubles for the rollout activities: a small simulated world with a canary weight and
 * metric values that tests set, and a log of every activity call. Metric values are functions of
 * the world's state (the canary weight) so a test can say "the canary fails once it has 20%".
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type {
  AlertInput,
  AnalyseCanaryInput,
  AnalyseCanaryResult,
  GuardCanaryInput,
  GuardCanaryResult,
  PreflightProblem,
  HealthResult,
  JudgeCanaryInput,
  MetricQuery,
  MetricSample,
  QueryMetricsInput,
  RolloutActivities,
  ResolvedRollout,
  ResolveRolloutInput,
  RolloutRef,
  SetWeightInput,
  SetWeightResult,
} from '../../activities/types';
import type { JudgeResult } from '../../activities/judge/types';
import { freshBaselineWeight } from '../../rollout-spec/fresh-baseline';
import type { MetricName } from '../../rollout-spec/types';

/** Healthy values for every metric, in the spec's units (fractions, ms). */
export const HEALTHY: Record<MetricName, number> = {
  error_rate: 0.0002,
  success_rate: 0.9998,
  request_rate: 50,
  p95_latency: 60,
  p99_latency: 120,
  cpu_usage: 0.3,
  memory_usage: 0.4,
  task_success_rate: 0.995,
  cache_hit_rate: 0.95,
  agent_health_score: 0.98,
  request_count: 10_000,
};

/** What a metric query returns: a number, or a classified failure. */
export type FakeValue = number | { status: Exclude<MetricSample['status'], 'ok'>; detail?: string };

export interface Call {
  activity: keyof RolloutActivities;
  weight?: number;
  alert?: { severity: string; name: string; reason: string };
  /** setCanaryWeight: whether the move was forced by an operator. */
  force?: boolean;
  /** When the call was made (real ms; the test server skips workflow time, not activity time). */
  atMs?: number;
  /** guardCanary: recorded when the attempt was cancelled. */
  cancelled?: boolean;
  /** setCanaryWeight with judge.freshBaseline: the baseline's weight it applied. */
  baseline?: number;
}

export class FakeWorld {
  weight = 0;
  canaryRunning = false;
  /** The fresh baseline instance (judge.freshBaseline) runs. */
  baselineRunning = false;
  promoted = false;
  calls: Call[] = [];
  /** Errors to throw from an activity, e.g. a non-retryable ApplicationFailure from setCanaryWeight. */
  failures: Partial<Record<keyof RolloutActivities, (input: unknown) => Error | undefined>> = {};
  /** How targets resolve (e.g. the real activity over a test catalog); default: inline specs as given. */
  resolver?: (input: ResolveRolloutInput) => Promise<ResolvedRollout>;
  /** Override per metric; gets the query and the current weight. Default: HEALTHY. */
  metric: (q: MetricQuery, weight: number) => FakeValue = (q) => HEALTHY[q.metric];
  /**
   * Whether the load balancer reports stable UP. While false, moving the canary's traffic back to
   * stable fails as HAProxy's router does (retryable TrafficServerDownError), unless forced.
   */
  stableUp = true;
  /** The weight the router really has when it differs from the last one set (a reload, a hand edit). */
  routerWeight: number | null = null;
  /** What pre-flight finds. */
  preflightProblems: PreflightProblem[] = [];
  /** While true, checkCanaryHealth keeps polling (heartbeating) and never answers. */
  healthHangs = false;
  /** While true, promoteCanary keeps working (heartbeating) and never answers. */
  promoteHangs = false;
  /** While set, setCanaryWeight to this weight waits before it answers. */
  weightHangs: number | null = null;
  /**
   * The fast guard (guardCanary): what it sees at a weight. `null` keeps it sampling (heartbeating
   * until cancelled); a result ends the attempt with it; an Error fails the attempt.
   */
  guard: (weight: number) => GuardCanaryResult | Error | null = () => null;
  /** The statistical judge (judgeCanary): its judgement at a weight; an Error fails the activity. Default: a score of 100. */
  judge: (input: JudgeCanaryInput, weight: number) => JudgeResult['status'] | Error = (input) => ({
    at: new Date().toISOString(),
    score: 100,
    verdict: 'pass',
    passThreshold: input.spec.judge?.passThreshold ?? 95,
    marginalThreshold: input.spec.judge?.marginalThreshold ?? 75,
    metrics: [],
  });

  get weights(): number[] {
    return this.calls.filter((c) => c.activity === 'setCanaryWeight').map((c) => c.weight ?? -1);
  }

  get alerts(): { severity: string; name: string; reason: string }[] {
    return this.calls.flatMap((c) => (c.alert ? [c.alert] : []));
  }

  count(activity: keyof RolloutActivities): number {
    return this.calls.filter((c) => c.activity === activity).length;
  }

  activities(): RolloutActivities {
    const acts = this.rawActivities();
    return Object.fromEntries(
      Object.entries(acts).map(([name, fn]) => [
        name,
        async (input: unknown) => {
          const err = this.failures[name as keyof RolloutActivities]?.(input);
          if (err) {
            this.calls.push({ activity: name as keyof RolloutActivities });
            throw err;
          }
          return (fn as (i: unknown) => Promise<unknown>)(input);
        },
      ]),
    ) as unknown as RolloutActivities;
  }

  private rawActivities(): RolloutActivities {
    return {
      // Targets resolve as the inline spec they are (the real activity is tested against a catalog).
      resolveRollout: async (input: ResolveRolloutInput): Promise<ResolvedRollout> => {
        if (this.resolver) return this.resolver(input);
        if (!('spec' in input)) throw new Error('the fake world resolves inline specs only; set world.resolver');
        return { spec: input.spec, source: { kind: 'inline' } };
      },
      deployCanary: async (_: RolloutRef): Promise<void> => {
        this.calls.push({ activity: 'deployCanary' });
        this.canaryRunning = true;
      },
      checkCanaryHealth: async (_: RolloutRef): Promise<HealthResult> => {
        this.calls.push({ activity: 'checkCanaryHealth', atMs: Date.now() });
        while (this.healthHangs) {
          const ctx = Context.current();
          ctx.heartbeat();
          await ctx.sleep(100); // throws once the activity is cancelled
        }
        return { healthy: this.canaryRunning, detail: this.canaryRunning ? 'ok' : 'not running' };
      },
      setCanaryWeight: async (input: SetWeightInput): Promise<SetWeightResult> => {
        const force = input.force === true;
        this.calls.push({ activity: 'setCanaryWeight', weight: input.weight, atMs: Date.now(), ...(force ? { force } : {}) });
        while (this.weightHangs === input.weight) await new Promise((resolve) => setTimeout(resolve, 50));
        if (input.weight === 0 && this.weight > 0 && !this.stableUp && !force) {
          throw ApplicationFailure.create({
            type: 'TrafficServerDownError',
            message: 'stable is DOWN in HAProxy; weights unchanged',
          });
        }
        this.weight = input.weight;
        this.routerWeight = null;
        // As the real activity: a fresh baseline's share follows the canary's weight.
        if (input.spec.judge?.freshBaseline) {
          const baseline = freshBaselineWeight(input.weight);
          this.calls[this.calls.length - 1] = { ...(this.calls[this.calls.length - 1] as Call), baseline };
          return { weight: this.weight, baseline };
        }
        return { weight: this.weight };
      },
      analyseCanary: async (input: AnalyseCanaryInput): Promise<AnalyseCanaryResult> => {
        this.calls.push({ activity: 'analyseCanary', weight: this.weight, atMs: Date.now() });
        const real = this.routerWeight ?? this.weight;
        return {
          samples: input.queries.map((q) => {
            const v = this.metric(q, this.weight);
            return typeof v === 'number' ? { ...q, status: 'ok', value: v } : { ...q, ...v };
          }),
          traffic: {
            canaryWeight: real,
            drifted: real !== input.expectedWeight,
            detail: `canary=${real} stable=${100 - real}`,
          },
        };
      },
      preflightMetrics: async (_: RolloutRef): Promise<PreflightProblem[]> => {
        this.calls.push({ activity: 'preflightMetrics' });
        return this.preflightProblems;
      },
      queryMetrics: async (input: QueryMetricsInput): Promise<MetricSample[]> => {
        this.calls.push({ activity: 'queryMetrics', weight: this.weight });
        return input.queries.map((q) => {
          const v = this.metric(q, this.weight);
          return typeof v === 'number' ? { ...q, status: 'ok', value: v } : { ...q, ...v };
        });
      },
      promoteCanary: async (_: RolloutRef): Promise<void> => {
        this.calls.push({ activity: 'promoteCanary' });
        while (this.promoteHangs) {
          Context.current().heartbeat();
          await Context.current().sleep(100);
        }
        this.promoted = true;
      },
      terminateCanary: async (_: RolloutRef): Promise<void> => {
        this.calls.push({ activity: 'terminateCanary' });
        this.canaryRunning = false;
      },
      deployBaseline: async (_: RolloutRef): Promise<void> => {
        this.calls.push({ activity: 'deployBaseline' });
        this.baselineRunning = true;
      },
      checkBaselineHealth: async (_: RolloutRef): Promise<HealthResult> => {
        this.calls.push({ activity: 'checkBaselineHealth' });
        return { healthy: this.baselineRunning, detail: this.baselineRunning ? 'ok' : 'not running' };
      },
      terminateBaseline: async (_: RolloutRef): Promise<void> => {
        this.calls.push({ activity: 'terminateBaseline' });
        this.baselineRunning = false;
      },
      guardCanary: async (_: GuardCanaryInput): Promise<GuardCanaryResult> => {
        this.calls.push({ activity: 'guardCanary', weight: this.weight, atMs: Date.now() });
        const ctx = Context.current();
        for (;;) {
          const seen = this.guard(this.weight);
          if (seen instanceof Error) throw seen;
          if (seen) return seen;
          ctx.heartbeat();
          try {
            await ctx.sleep(50); // throws once the activity is cancelled
          } catch (err) {
            this.calls.push({ activity: 'guardCanary', cancelled: true, atMs: Date.now() });
            throw err;
          }
        }
      },
      judgeCanary: async (input: JudgeCanaryInput): Promise<JudgeResult> => {
        this.calls.push({ activity: 'judgeCanary', weight: this.weight, atMs: Date.now() });
        const judged = this.judge(input, this.weight);
        if (judged instanceof Error) throw judged;
        const endMs = Date.now();
        return {
          status: judged,
          durationMs: 1,
          reason: `score ${judged.score}`,
          window: { startMs: endMs - input.windowMs, endMs, stepMs: input.windowMs / 50, pointWindowMs: input.windowMs / 50, points: 50 },
        };
      },
            sendAlert: async (input: AlertInput): Promise<void> => {
        this.calls.push({
          activity: 'sendAlert',
          alert: { severity: input.severity, name: input.name, reason: input.reason },
        });
      },
      resolveAlerts: async (_: RolloutRef & { keep?: string[] }): Promise<void> => {
        this.calls.push({ activity: 'resolveAlerts' });
      },
    };
  }
}
