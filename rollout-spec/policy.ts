/**
 * The rollout policy blocks of the spec: the §3.2 traffic phases, §4.2 validation thresholds,
 * §6.1 rollback triggers, §6.2 gradual rollback, the §5.2 baseline comparison, what missing data
 * does, and where alerts go. Sandbox-safe: zod only.
 */
import { z } from 'zod';
import { durationField, fractionField, httpUrl, latencyField, strict, weightField, weightStep } from './fields';
import { LABEL_NAME, SAFE_LABEL_VALUE_RULE } from './queries';
import { SEED_TRAFFIC_CONTROL } from './seed-defaults';
import { parseTriggerCondition, type TriggerCondition } from './triggers';

// ---------------------------------------------------------------------------------------------
// Seed §3.2 traffic control
// ---------------------------------------------------------------------------------------------

const phaseName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, `phase name ${SAFE_LABEL_VALUE_RULE}`)
  .describe('Phase name, shown in status and the PhoenixPhase search attribute.');

const holdPhaseInput = strict({
  name: phaseName.optional(),
  percentage: weightField(
    'Canary traffic weight held during this phase: a whole number of percent, e.g. 5 or "5%" (HAProxy weights are integers).',
  ),
  duration: durationField('How long the phase is held (bare number = seconds, as in the seed).'),
  errorThreshold: fractionField(
    'Phase gate: canary error rate must stay at or below this. Default: validation.error_rate.critical.',
  ).optional(),
  latencyThreshold: latencyField(
    'Phase gate: canary p95 latency must stay at or below this. Default: validation.latency.p95_threshold.',
  ).optional(),
})
  .superRefine((phase, ctx) => {
    if (phase.percentage <= 0 || phase.percentage >= 100) {
      ctx.addIssue({
        code: 'custom',
        path: ['percentage'],
        message: `a held phase's weight must be above 0 and below 100 (the full rollout reaches 100), got ${phase.percentage}`,
      });
    }
  })
  .transform((p) => ({ kind: 'hold' as const, ...p }))
  .describe('A phase holding a fixed canary weight (seed §3.2 initial_canary, expanded_canary).');

const fullRolloutInput = strict({
  name: phaseName.optional(),
  incrementSize: weightStep('Weight added at each step (whole percent).'),
  intervalSeconds: durationField('Time between steps (bare number = seconds).').optional(),
  interval: durationField('Alias of intervalSeconds accepting units, e.g. "5m".').optional(),
  maxErrorRate: fractionField(
    'Gate for every step: canary error rate at or below this. Default: validation.error_rate.critical.',
  ).optional(),
  latencyThreshold: latencyField('Gate on canary p95 latency. Default: validation.latency.p95_threshold.').optional(),
})
  .superRefine((value, ctx) => {
    if (value.interval !== undefined && value.intervalSeconds !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['interval'], message: 'give either interval or intervalSeconds, not both' });
    }
  })
  .transform(({ interval, intervalSeconds, ...rest }) => ({
    kind: 'full' as const,
    ...rest,
    intervalMs: interval ?? intervalSeconds,
  }))
  .describe('The full rollout (seed §3.2 full_rollout): step from the last weight to 100.');

type PhaseItem = z.output<typeof holdPhaseInput> | z.output<typeof fullRolloutInput>;

const phaseList = z
  .array(z.union([holdPhaseInput, fullRolloutInput]))
  .min(1, 'must list at least one phase')
  .superRefine(
    (items: PhaseItem[], ctx) => {
      let previous: { weight: number; index: number } | undefined;
      const names = new Map<string, number>();
      items.forEach((item, index) => {
        // An item that failed to parse is still raw input (no `kind`); judge only the parsed ones.
        if (item === null || typeof item !== 'object' || !('kind' in item)) return;
        if (item.name !== undefined) {
          const first = names.get(item.name);
          if (first !== undefined) {
            ctx.addIssue({ code: 'custom', path: [index, 'name'], message: `duplicate phase name (also phases[${first}])` });
          } else {
            names.set(item.name, index);
          }
        }
        if (item.kind === 'full') {
          if (index !== items.length - 1) {
            ctx.addIssue({
              code: 'custom',
              path: [index],
              message: 'the full rollout (incrementSize) must be the last phase',
            });
          }
          return;
        }
        if (previous && item.percentage <= previous.weight) {
          ctx.addIssue({
            code: 'custom',
            path: [index, 'percentage'],
            message: `phase weights must strictly increase: ${item.percentage} is not above phases[${previous.index}]'s ${previous.weight}`,
          });
        }
        previous = { weight: item.percentage, index };
      });
    },
    // Run even when some items failed, so ordering problems show up together with theirs.
    { when: (payload) => Array.isArray(payload.value) },
  )
  .describe(
    'Held phases (items with percentage + duration) in increasing weight, optionally ending with the full rollout (the item with incrementSize).',
  );

/** `trafficControl`: the seed §3.2 block; defaults to the seed's phases. */
export const trafficControlSchema = strict({ phases: phaseList })
  .prefault(SEED_TRAFFIC_CONTROL)
  .describe('Seed §3.2 traffic phases, verbatim. Default: the seed (5% for 10m, 20% for 15m, then +20% every 5m).');

// ---------------------------------------------------------------------------------------------
// Seed §4.2 validation thresholds
// ---------------------------------------------------------------------------------------------

/** `validation`: the seed §4.2 block (snake_case), normalized to camelCase fractions and ms. */
export const validationSchema = strict({
  error_rate: strict({
    warning: fractionField('Canary error rate that raises a warning.').prefault('0.5%'),
    critical: fractionField('Canary error rate counted as a failure.').prefault('1%'),
  })
    .superRefine((value, ctx) => {
      if (value.warning > value.critical) {
        ctx.addIssue({
          code: 'custom',
          path: ['warning'],
          message: `warning (${value.warning}) must not exceed critical (${value.critical})`,
        });
      }
    })
    .prefault({})
    .describe('Canary error-rate thresholds (fractions or percentages).'),
  latency: strict({
    p95_threshold: latencyField('Highest acceptable canary p95 latency.').prefault('200ms'),
    p99_threshold: latencyField('Highest acceptable canary p99 latency.').prefault('500ms'),
  })
    .superRefine((value, ctx) => {
      if (value.p95_threshold > value.p99_threshold) {
        ctx.addIssue({
          code: 'custom',
          path: ['p95_threshold'],
          message: `p95_threshold (${value.p95_threshold}ms) must not exceed p99_threshold (${value.p99_threshold}ms)`,
        });
      }
    })
    .prefault({})
    .describe('Canary latency thresholds (bare number = ms).'),
  resource_usage: strict({
    cpu_threshold: fractionField('Highest acceptable canary CPU, in cores ("80%" = 0.8 of one core).', {
      max: 1024,
    }).prefault('80%'),
    memory_threshold: fractionField('Highest acceptable canary memory usage ratio.').prefault('85%'),
  })
    .prefault({})
    .describe('Canary resource thresholds.'),
  business_metrics: strict({
    min_task_success_rate: fractionField('Lowest acceptable task success rate.').prefault('99%'),
    min_cache_hit_rate: fractionField('Lowest acceptable cache hit rate.').prefault('90%'),
    min_agent_health: fractionField('Lowest acceptable agent health score.').prefault('95%'),
  })
    .prefault({})
    .describe('Business KPI floors (seed §4.1 business metrics).'),
})
  .prefault({})
  .transform((v) => ({
    errorRate: { warning: v.error_rate.warning, critical: v.error_rate.critical },
    latency: { p95ThresholdMs: v.latency.p95_threshold, p99ThresholdMs: v.latency.p99_threshold },
    resourceUsage: {
      cpuThreshold: v.resource_usage.cpu_threshold,
      memoryThreshold: v.resource_usage.memory_threshold,
    },
    businessMetrics: {
      minTaskSuccessRate: v.business_metrics.min_task_success_rate,
      minCacheHitRate: v.business_metrics.min_cache_hit_rate,
      minAgentHealth: v.business_metrics.min_agent_health,
    },
  }))
  .describe('Seed §4.2 validation thresholds, verbatim (snake_case). Every value defaults to the seed.');

// ---------------------------------------------------------------------------------------------
// Seed §6.1 rollback triggers
// ---------------------------------------------------------------------------------------------

/** Actions a rollback trigger may take. */
export const ROLLBACK_ACTIONS = ['immediate_rollback', 'gradual_rollback'] as const;

const triggerCondition = z
  .string()
  .transform((condition, ctx): TriggerCondition & { condition: string } => {
    try {
      return { ...parseTriggerCondition(condition), condition: condition.trim() };
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
      return z.NEVER;
    }
  })
  .describe('`<metric> <op> <threshold>`, e.g. `error_rate > 1%`, `p95_latency > 500ms`.');

const triggerInput = strict({
  condition: triggerCondition,
  window: durationField('Window the metric is evaluated over. Default: metrics.defaultWindow.').optional(),
  action: z
    .enum(ROLLBACK_ACTIONS, { error: `must be one of: ${ROLLBACK_ACTIONS.join(', ')}` })
    .describe('What a breach does.'),
});

/** `rollback_triggers` / `rollbackTriggers`: the seed §6.1 list. */
export const triggerList = z.array(triggerInput).describe('Seed §6.1 rollback triggers, verbatim. Default: the seed.');

// ---------------------------------------------------------------------------------------------
// Seed §6.2 gradual rollback, §5.2 baseline, missing data, alerts
// ---------------------------------------------------------------------------------------------

/** `gradualRollback`: the seed §6.2 step-down. */
export const gradualRollbackSchema = strict({
  stepSize: weightStep('Weight removed at each step (whole percent).').default(20),
  interval: durationField('Time between steps.').prefault('1m'),
})
  .prefault({})
  .transform((g) => ({ stepSize: g.stepSize, intervalMs: g.interval }))
  .describe('Seed §6.2 gradual rollback: 20% decrease every minute by default.');

/** `baseline`: the seed §5.2 canary-vs-baseline comparison. */
export const baselineSchema = strict({
  enabled: z.boolean().default(true).describe('Compare the canary with the stable baseline.'),
  maxErrorRateIncrease: fractionField(
    'Alert when canary error rate exceeds the baseline by more than this (percentage points).',
  ).prefault('0.1%'),
  maxLatencyIncrease: fractionField(
    'Alert when canary p95/p99 latency exceeds the baseline by more than this ratio.',
  ).prefault('20%'),
})
  .prefault({})
  .describe('Seed §5.2 canary-vs-baseline comparison.');

/** `noData`: what repeated inconclusive analyses do. */
export const noDataSchema = strict({
  action: z
    .enum(['rollback', 'pause', 'hold'], { error: 'must be one of: rollback, pause, hold' })
    .default('rollback')
    .describe('What happens after consecutiveLimit inconclusive analyses in a row.'),
  consecutiveLimit: z
    .number()
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .default(3)
    .describe('Inconclusive analyses in a row before the action is taken.'),
})
  .prefault({})
  .describe('Missing data never counts as a pass; this says what repeated missing data does.');

/** `alerts`: Alertmanager URL and extra labels. */
export const alertsSchema = strict({
  alertmanagerUrl: httpUrl('Alertmanager base URL; alerts are only logged when absent.').optional(),
  labels: z
    .record(z.string().regex(LABEL_NAME, 'must be a Prometheus label name'), z.string())
    .default({})
    .describe('Extra labels on every alert.'),
})
  .prefault({})
  .describe('Where alerts go.');
