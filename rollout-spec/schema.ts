/**
 * The rollout spec schema: the single source of truth for what a user may write (YAML or JSON)
 * and for the normalized {@link RolloutSpec} a workflow receives. Parsing resolves every unit
 * (durations → ms, rates → fractions, latencies → ms, weights → percent) and fills the seed
 * design's defaults. Sandbox-safe: zod only.
 *
 * The seed's blocks are accepted verbatim: §3.2 `trafficControl`, §4.2 `validation`,
 * §6.1 `rollback_triggers`. Everything else is camelCase.
 *
 * This module is the root: the top-level object, its cross-field checks and the normalization
 * into {@link RolloutSpec}. The blocks live by concern in ./fields (field builders), ./targets
 * (traffic and platform), ./metrics-source, ./policy (phases, thresholds, triggers, rollback,
 * baseline, noData, alerts) and ./seed-defaults.
 */
import { z } from 'zod';
import { fastGuardSchema, normalizeFastGuard } from './fast-guard';
import { durationField, safeLabelValueCheck, strict, versionRef } from './fields';
import { checkFreshBaseline, checkJudgeAgainstSpec, judgeSchema, normalizeJudge } from './judge';
import { metricsSchema } from './metrics-source';
import {
  alertsSchema,
  baselineSchema,
  gradualRollbackSchema,
  noDataSchema,
  trafficControlSchema,
  triggerList,
  validationSchema,
} from './policy';
import { SAFE_LABEL_VALUE } from './queries';
import { SEED_FULL_ROLLOUT, SEED_ROLLBACK_TRIGGERS } from './seed-defaults';
import { platformSchema, trafficSchema } from './targets';

export { ROLLBACK_ACTIONS } from './policy';
export { DEFAULT_QUERIES, renderQuery, SAFE_LABEL_VALUE } from './queries';

const rolloutSpecObject = strict({
  $schema: z.string().optional().describe('Editor hint; ignored.'),
  service: z
    .string({ error: 'service must be a string' })
    .superRefine(safeLabelValueCheck('service'))
    .meta({ pattern: SAFE_LABEL_VALUE.source, minLength: 1 })
    .describe('Service name: the `{{service}}` label value and the workflow id `rollout-<service>`.'),
  stable: versionRef('stable'),
  canary: versionRef('canary'),
  traffic: trafficSchema,
  platform: platformSchema,
  metrics: metricsSchema.prefault({}),
  warmup: strict({ duration: durationField('Warm-up at 0% after the canary is healthy.').prefault('2m') })
    .prefault({})
    .describe('Seed §3.1 phase 0 warm-up.'),
  trafficControl: trafficControlSchema,
  analysisInterval: durationField('How often the analysis runs while traffic is on the canary.').prefault('30s'),
  failureLimit: z
    .number()
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .default(3)
    .describe('Consecutive failures of one check that lead to a gradual rollback.'),
  validation: validationSchema,
  rollback_triggers: triggerList.optional(),
  rollbackTriggers: triggerList.optional().describe('camelCase alias of rollback_triggers.'),
  gradualRollback: gradualRollbackSchema,
  baseline: baselineSchema,
  noData: noDataSchema,
  alerts: alertsSchema,
  fastGuard: fastGuardSchema.optional(),
  judge: judgeSchema.optional(),
});

type SpecObjectOutput = z.output<typeof rolloutSpecObject>;

/** True when no issue so far lies under any of `prefixes` (so those fields parsed) or at the root. */
function parsedOk(issues: readonly RootIssue[], ...prefixes: string[]): boolean {
  return !issues.some((issue) => {
    const head = issue.path?.[0];
    return head === undefined ? !isUnknownKeyIssue(issue) : prefixes.includes(String(head));
  });
}

type RootIssue = { code?: string; path?: readonly PropertyKey[] };

/** Unknown keys leave the known fields parsed, so they do not stop cross-field checks. */
function isUnknownKeyIssue(issue: RootIssue): boolean {
  return issue.code === 'unrecognized_keys';
}

/**
 * The one schema. Input: the user's spec (YAML/JSON data). Output: the normalized RolloutSpec.
 */
export const rolloutSpecSchema = rolloutSpecObject
  .superRefine(
    (spec, ctx) => {
      const issues = ctx.issues ?? [];
      if (parsedOk(issues, 'stable', 'canary') && spec.stable.version === spec.canary.version) {
        ctx.addIssue({
          code: 'custom',
          path: ['canary'],
          message: `canary version must differ from stable version (both "${spec.canary.version}")`,
        });
      }
      if (spec.rollback_triggers !== undefined && spec.rollbackTriggers !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['rollbackTriggers'],
          message: 'give either rollback_triggers or rollbackTriggers, not both',
        });
      }
      if (spec.fastGuard?.enabled && parsedOk(issues, 'traffic', 'fastGuard') && spec.traffic.kind !== 'haproxy') {
        ctx.addIssue({
          code: 'custom',
          path: ['fastGuard', 'enabled'],
          message: `the fast guard reads HAProxy's counters, so it needs traffic.kind: haproxy (got ${JSON.stringify(spec.traffic.kind)})`,
        });
      }
      if (spec.judge && parsedOk(issues, 'metrics', 'judge')) checkJudgeAgainstSpec(spec.judge, spec, ctx);
      if (spec.judge && parsedOk(issues, 'metrics', 'judge', 'platform', 'traffic')) checkFreshBaseline({ ...spec, judge: spec.judge }, ctx);
      // A trigger on a disabled metric (metrics.queries.X: null) is valid and never evaluated:
      // turning a metric off is that one field. evidence.ts `disabledTriggers` lists such triggers.
    },
    // Cross-field checks run even when unrelated fields failed, so all problems show at once.
    {
      when: (payload) =>
        payload.value !== null &&
        typeof payload.value === 'object' &&
        !Array.isArray(payload.value) &&
        !payload.issues.some((issue) => (issue.path === undefined || issue.path.length === 0) && !isUnknownKeyIssue(issue)),
    },
  )
  .transform(normalize)
  .describe('Phoenix rollout spec.');

function normalize(spec: SpecObjectOutput) {
  const validation = spec.validation;
  const critical = validation.errorRate.critical;
  const p95 = validation.latency.p95ThresholdMs;
  const items = spec.trafficControl.phases;
  const phases = items
    .filter((item) => item.kind === 'hold')
    .map((item, index) => ({
      name: item.name ?? `phase_${index + 1}`,
      weight: item.percentage,
      durationMs: item.duration,
      errorThreshold: item.errorThreshold ?? critical,
      latencyThresholdMs: item.latencyThreshold ?? p95,
    }));
  const full = items.find((item) => item.kind === 'full');
  const fullRollout = {
    name: full?.name ?? SEED_FULL_ROLLOUT.name,
    incrementSize: full?.incrementSize ?? SEED_FULL_ROLLOUT.incrementSize,
    intervalMs: full?.intervalMs ?? SEED_FULL_ROLLOUT.intervalMs,
    maxErrorRate: full?.maxErrorRate ?? critical,
    latencyThresholdMs: full?.latencyThreshold ?? p95,
  };
  const triggers = spec.rollbackTriggers ?? spec.rollback_triggers ?? DEFAULT_TRIGGERS;
  const rollbackTriggers = triggers.map((t) => ({
    metric: t.condition.metric,
    op: t.condition.op,
    threshold: t.condition.threshold,
    windowMs: t.window ?? spec.metrics.defaultWindowMs,
    action: t.action,
    condition: t.condition.condition,
  }));
  // Only written when given, so specs without a guard stay exactly what they were.
  const fastGuard = spec.fastGuard && normalizeFastGuard(spec.fastGuard, { metrics: spec.metrics, validation, rollbackTriggers });
  const judge = spec.judge && normalizeJudge(spec.judge, spec.metrics);
  return {
    service: spec.service,
    stable: spec.stable,
    canary: spec.canary,
    traffic: spec.traffic,
    platform: spec.platform,
    metrics: spec.metrics,
    warmup: { durationMs: spec.warmup.duration },
    phases,
    fullRollout,
    analysisIntervalMs: spec.analysisInterval,
    failureLimit: spec.failureLimit,
    validation,
    rollbackTriggers,
    gradualRollback: spec.gradualRollback,
    baseline: spec.baseline,
    noData: spec.noData,
    alerts: spec.alerts,
    ...(fastGuard ? { fastGuard } : {}),
    ...(judge ? { judge } : {}),
  };
}

const DEFAULT_TRIGGERS = triggerList.parse(SEED_ROLLBACK_TRIGGERS);

/** Sub-schemas, exported for inferred types and for reuse (e.g. validating one block). */
export const specSchemas = {
  traffic: trafficSchema,
  platform: platformSchema,
  metrics: metricsSchema,
  validation: validationSchema,
  triggerList,
  gradualRollback: gradualRollbackSchema,
  baseline: baselineSchema,
  noData: noDataSchema,
  alerts: alertsSchema,
  fastGuard: fastGuardSchema,
  judge: judgeSchema,
} as const;
