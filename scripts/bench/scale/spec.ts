/**
 * The scale bench's rollout spec: the seed's phase shape (warm-up, 5%, 20%, +20% steps to 100%)
 * and its thresholds and triggers, with every duration scaled so the plan lasts `planMs`, parsed by
 * the real spec parser. Only time is compressed; nothing about the judgement is weakened.
 */
import { parseRolloutSpec } from '../../../rollout-spec/parse';
import { SEED_ROLLBACK_TRIGGERS, SEED_TRAFFIC_CONTROL } from '../../../rollout-spec/seed-defaults';
import type { RolloutSpec } from '../../../rollout-spec/types';

/** The seed plan's length: 2 min warm-up, 10 + 15 min, four 5-min steps. */
export const SEED_PLAN_MS = (120 + 600 + 900 + 4 * 300) * 1000;

/** Where each rollout's targets point: placeholders for doubles, the bench's HAProxy and Prometheus for real I/O. */
export interface ScaleTargets {
  /** HAProxy runtime API (`host:port`); every service has its own backend named after it. */
  runtimeApi: string;
  prometheusUrl: string;
}

/** The scaled plan's step durations in whole seconds. */
export interface ScaledPlan {
  warmupS: number;
  initialS: number;
  expandedS: number;
  stepS: number;
  /** What the plan lasts, warm-up to the last step's end (promotion follows one more interval at 100%). */
  totalMs: number;
}

/** Scales the seed's durations to about `planMs`; each step lasts at least one interval and 1 s. */
export function scalePlan(planMs: number, intervalMs: number): ScaledPlan {
  const f = planMs / SEED_PLAN_MS;
  const atLeast = Math.max(1, Math.ceil(intervalMs / 1000));
  const s = (seedS: number): number => Math.max(atLeast, Math.round(seedS * f));
  const warmupS = Math.max(1, Math.round(120 * f));
  const [initialS, expandedS, stepS] = [s(600), s(900), s(300)];
  return { warmupS, initialS, expandedS, stepS, totalMs: (warmupS + initialS + expandedS + 4 * stepS) * 1000 };
}

/** The service name of rollout `i` (1-based), zero-padded so they sort. */
export function scaleService(i: number): string {
  return `scale-${String(i).padStart(5, '0')}`;
}

/** The spec of one bench rollout, through the real parser; throws on an invalid spec. */
export function scaleSpec(service: string, plan: ScaledPlan, intervalMs: number, targets: ScaleTargets): RolloutSpec {
  const [initial, expanded, full] = SEED_TRAFFIC_CONTROL.phases;
  const parsed = parseRolloutSpec({
    service,
    stable: 'v1',
    canary: 'v2',
    traffic: { kind: 'haproxy', runtimeApi: targets.runtimeApi, backend: service, stableServer: 'stable', canaryServer: 'canary' },
    // `true` as every platform command: deploying is not what this bench measures.
    platform: { kind: 'command', deploy: ['true'], healthCheck: ['true'], promote: ['true'], terminate: ['true'] },
    metrics: { prometheusUrl: targets.prometheusUrl },
    warmup: { duration: `${plan.warmupS}s` },
    analysisInterval: `${intervalMs}ms`,
    trafficControl: {
      phases: [
        { ...initial, duration: plan.initialS },
        { ...expanded, duration: plan.expandedS },
        { ...full, intervalSeconds: plan.stepS },
      ],
    },
    rollback_triggers: SEED_ROLLBACK_TRIGGERS.map((t) => ({ ...t })),
  });
  if (!parsed.success) {
    throw new Error(`scale bench spec for ${service} is invalid: ${parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  }
  return parsed.spec;
}

/**
 * Analyses one rollout of this plan runs when nothing is late, per second of its traffic steps: a
 * step of d ms analyses at +interval, +2·interval, … up to d (at least once), so a step that is not
 * a multiple of the interval runs fewer than d / interval. The honest "expected" next to N / interval.
 */
export function idealAnalysesPerSecond(plan: ScaledPlan, intervalMs: number): number {
  const steps = [plan.initialS, plan.expandedS, plan.stepS, plan.stepS, plan.stepS, plan.stepS].map((x) => x * 1000);
  const count = steps.reduce((a, d) => a + Math.max(1, Math.floor(d / intervalMs)), 0);
  return count / (steps.reduce((a, d) => a + d, 0) / 1000);
}
