/**
 * Turns a normalized spec into the ordered list of steps a rollout walks. Pure and sandbox-safe,
 * so the workflow, the status query and the client (to show a plan) agree on one plan.
 */
import type { RolloutSpec } from '../rollout-spec/types';

/** The phase gate a step must satisfy before the rollout moves past it. */
export interface StepGate {
  /** Highest canary error rate allowed (fraction). */
  maxErrorRate: number;
  /** Highest canary p95 latency allowed (ms). */
  maxP95LatencyMs: number;
}

/** One hold of the plan: set `weight`, then hold it for `durationMs` of unpaused time. */
export interface PlanStep {
  name: string;
  weight: number;
  durationMs: number;
  /** `null` for the warm-up, which carries no traffic and so has nothing to gate on. */
  gate: StepGate | null;
}

/**
 * The default plan is: warm-up at 0%, each traffic phase, then the full rollout stepping by
 * `incrementSize` from the last phase's weight up to 100. The 100% step is held for one more
 * interval of validation before the canary is promoted.
 */
export function buildPlan(spec: RolloutSpec): PlanStep[] {
  const steps: PlanStep[] = [{ name: 'warm_up', weight: 0, durationMs: spec.warmup.durationMs, gate: null }];
  for (const phase of spec.phases) {
    steps.push({
      name: phase.name,
      weight: phase.weight,
      durationMs: phase.durationMs,
      gate: { maxErrorRate: phase.errorThreshold, maxP95LatencyMs: phase.latencyThresholdMs },
    });
  }
  const full = spec.fullRollout;
  const gate: StepGate = { maxErrorRate: full.maxErrorRate, maxP95LatencyMs: full.latencyThresholdMs };
  let weight = steps[steps.length - 1]?.weight ?? 0;
  while (weight < 100) {
    weight = Math.min(100, weight + full.incrementSize);
    steps.push({ name: full.name, weight, durationMs: full.intervalMs, gate });
  }
  return steps;
}

/** Total unpaused duration of a plan, for summaries and estimates. */
export function planDurationMs(steps: PlanStep[]): number {
  return steps.reduce((sum, step) => sum + step.durationMs, 0);
}
