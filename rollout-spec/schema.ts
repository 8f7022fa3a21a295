/**
 * The rollout spec schema: the single source of truth for what a user may write (YAML or JSON)
 * and for the normalized {@link RolloutSpec} a workflow receives. Parsing resolves every unit
 * (durations → ms, rates → fractions, latencies → ms, weights → percent) and fills the seed
 * design's defaults. Sandbox-safe: zod only.
 *
 * The seed's blocks are accepted verbatim: §3.2 `trafficControl`, §4.2 `validation`,
 * §6.1 `rollback_triggers`. Everything else is camelCase.
 */
import { z } from 'zod';
import { templateProblems, DEFAULT_QUERIES, LABEL_NAME, SAFE_LABEL_VALUE, SAFE_LABEL_VALUE_RULE } from './queries';
import { parseTriggerCondition, type TriggerCondition } from './triggers';
import { METRIC_NAMES, type MetricName } from './types';
import {
  parseDuration,
  parseFraction,
  parseLatencyMs,
  parsePercent,
  type DurationOptions,
  type FractionOptions,
  type UnitInput,
} from './units';

export { DEFAULT_QUERIES, renderQuery, SAFE_LABEL_VALUE } from './queries';

// ---------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------

/** A strict object whose unknown-key message lists the keys allowed at that place. */
function strict<S extends z.ZodRawShape>(shape: S) {
  const allowed = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown key; allowed here: ${allowed}` : undefined),
  });
}

/** A number-or-string field run through one of the unit parsers in ./units. */
function unitField<T>(parse: (raw: UnitInput) => T, description: string) {
  return z
    .union([z.number(), z.string()])
    .transform((raw, ctx): T => {
      try {
        return parse(raw);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
        return z.NEVER;
      }
    })
    .describe(description);
}

const durationField = (description: string, options?: DurationOptions) =>
  unitField((raw) => parseDuration(raw, options), description);
const fractionField = (description: string, options?: FractionOptions) =>
  unitField((raw) => parseFraction(raw, options), description);
const latencyField = (description: string) => unitField(parseLatencyMs, description);
const percentField = (description: string) => unitField(parsePercent, description);

/** A service name or version: spliced into PromQL label matchers, so strictly limited. */
function labelValue(what: string) {
  return z
    .string({
      error: (issue) =>
        typeof issue.input === 'number'
          ? `${what} must be a string; quote it in YAML ("${String(issue.input)}") so it is not read as a number`
          : undefined,
    })
    .superRefine(safeLabelValueCheck(what))
    .meta({ pattern: SAFE_LABEL_VALUE.source, minLength: 1 });
}

/** One message per bad value: "must not be empty" or the label-value rule, never both. */
function safeLabelValueCheck(what: string) {
  return (value: string, ctx: z.RefinementCtx<string>) => {
    if (value === '') ctx.addIssue({ code: 'custom', message: `${what} must not be empty` });
    else if (!SAFE_LABEL_VALUE.test(value)) ctx.addIssue({ code: 'custom', message: `${what} ${SAFE_LABEL_VALUE_RULE}` });
  };
}

const httpUrl = (description: string) =>
  z
    .string()
    .refine((value) => {
      try {
        const url = new URL(value);
        return url.protocol === 'http:' || url.protocol === 'https:';
      } catch {
        return false;
      }
    }, 'must be an absolute http:// or https:// URL')
    .describe(description);

const port = (description: string) =>
  z
    .number({ error: 'must be a port number' })
    .int('must be a whole number')
    .min(1, 'must be a port between 1 and 65535')
    .max(65535, 'must be a port between 1 and 65535')
    .describe(description);

const envName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name (letters, digits, "_")')
  .describe('Name of the worker environment variable holding the HMAC secret (never the secret itself).');

const argv = (description: string) =>
  z
    .array(z.string().min(1, 'arguments must not be empty'))
    .min(1, 'must list the command and its arguments')
    .describe(description);

// ---------------------------------------------------------------------------------------------
// Versions
// ---------------------------------------------------------------------------------------------

const versionRef = (which: string) =>
  z
    .union([labelValue('version'), strict({ version: labelValue('version').describe(`The ${which} version.`) })])
    .transform((value) => (typeof value === 'string' ? { version: value } : { version: value.version }))
    .describe(`The ${which} version: a string, or {version}. Becomes the \`{{version}}\` label value.`);

// ---------------------------------------------------------------------------------------------
// Traffic and platform targets
// ---------------------------------------------------------------------------------------------

const haproxyName = (description: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9._:-]+$/, 'must be an HAProxy name (letters, digits, ".", "_", ":", "-")')
    .describe(description);

const runtimeApiAddress = z
  .string()
  .refine(
    (value) => {
      if (value.startsWith('/')) return value.length > 1;
      const m = /^(?:\[([0-9A-Fa-f:]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(value);
      const portNumber = Number(m?.[3]);
      return m !== null && portNumber >= 1 && portNumber <= 65535;
    },
    { message: 'must be "host:port" or an absolute unix socket path' },
  )
  .describe('HAProxy runtime API address: `host:port` or an absolute unix socket path.');

const haproxyTraffic = strict({
  kind: z.literal('haproxy').describe('Selects this variant.'),
  runtimeApi: runtimeApiAddress,
  backend: haproxyName('Backend holding the stable and canary servers.'),
  stableServer: haproxyName('Server (in the backend) running the stable version.'),
  canaryServer: haproxyName('Server (in the backend) running the canary version.'),
})
  .superRefine((value, ctx) => {
    if (value.stableServer === value.canaryServer) {
      ctx.addIssue({ code: 'custom', path: ['canaryServer'], message: 'must differ from stableServer' });
    }
  })
  .describe('Split traffic by setting HAProxy server weights through its runtime API.');

const webhookTraffic = strict({
  kind: z.literal('webhook').describe('Selects this variant.'),
  url: httpUrl('Endpoint receiving signed `{service, weight}` POSTs.'),
  secretEnv: envName,
}).describe('Split traffic by POSTing the desired canary weight to a signed webhook.');

const trafficSchema = z
  .discriminatedUnion('kind', [haproxyTraffic, webhookTraffic])
  .describe('How canary traffic weight is set. Required.');

const processPlatform = strict({
  kind: z.literal('process').describe('Selects this variant.'),
  command: argv('Command line starting one instance; `{{version}}` and `{{port}}` are substituted.').superRefine(
    (args, ctx) => {
      for (const [i, arg] of args.entries()) {
        for (const m of arg.matchAll(/\{\{\s*([^{}]*?)\s*\}\}/g)) {
          if (m[1] !== 'version' && m[1] !== 'port') {
            ctx.addIssue({
              code: 'custom',
              path: [i],
              message: `unknown placeholder "{{${m[1]}}}"; valid placeholders: {{version}}, {{port}}`,
            });
          }
        }
      }
    },
  ),
  cwd: z.string().min(1).optional().describe('Working directory of the instances.'),
  env: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'), z.string())
    .optional()
    .describe('Extra environment variables of the instances.'),
  stablePort: port('Port of the stable instance.'),
  canaryPort: port('Port of the canary instance.'),
  healthPath: z
    .string()
    .regex(/^\//, 'must start with "/"')
    .default('/healthz')
    .describe('Path polled for health on the canary.'),
  stateDir: z
    .string()
    .min(1)
    .default('.stack/platform')
    .describe('Directory where process ids are kept so a restarted worker finds them.'),
})
  .superRefine((value, ctx) => {
    if (value.stablePort === value.canaryPort) {
      ctx.addIssue({ code: 'custom', path: ['canaryPort'], message: 'must differ from stablePort' });
    }
  })
  .describe('Run stable and canary as local processes (development and demos).');

const commandPlatform = strict({
  kind: z.literal('command').describe('Selects this variant.'),
  deploy: argv('Command that starts (or confirms running) the canary.'),
  healthCheck: argv('Command that exits 0 when the canary is healthy.'),
  promote: argv('Command that makes the canary the new stable.'),
  terminate: argv('Command that stops the canary.'),
  timeout: durationField('Timeout of each command.').prefault('5m'),
})
  .transform(({ timeout, ...rest }) => ({ ...rest, timeoutMs: timeout }))
  .describe('Run external commands for each platform operation.');

const webhookPlatform = strict({
  kind: z.literal('webhook').describe('Selects this variant.'),
  url: httpUrl('Endpoint receiving signed `{action, service, version}` POSTs.'),
  secretEnv: envName,
}).describe('Call a signed webhook for each platform operation.');

const platformSchema = z
  .discriminatedUnion('kind', [processPlatform, commandPlatform, webhookPlatform])
  .describe('How the canary is deployed, health-checked, promoted and terminated. Required.');

// ---------------------------------------------------------------------------------------------
// Metrics source
// ---------------------------------------------------------------------------------------------

const queryTemplate = z
  .string()
  .min(1, 'must not be empty')
  .superRefine((template, ctx) => {
    for (const message of templateProblems(template)) ctx.addIssue({ code: 'custom', message });
  });

const queryOverrides = strict(
  Object.fromEntries(
    METRIC_NAMES.map((name) => [
      name,
      queryTemplate
        .nullable()
        .optional()
        .describe(`PromQL template for ${name}; null disables the metric. Default: \`${DEFAULT_QUERIES[name]}\``),
    ]),
  ) as Record<MetricName, z.ZodOptional<z.ZodNullable<typeof queryTemplate>>>,
).describe(
  'Per-metric PromQL overrides. Placeholders: `{{service}}`, `{{version}}`, `{{versionLabel}}`, `{{window}}`.',
);

const metricsSchema = strict({
  prometheusUrl: httpUrl('Prometheus base URL.').default('http://127.0.0.1:9090'),
  versionLabel: z
    .string()
    .regex(LABEL_NAME, 'must be a Prometheus label name')
    .default('version')
    .describe('The label that tells canary from baseline series.'),
  queries: queryOverrides.prefault({}),
  defaultWindow: durationField('Window of validation checks that have no trigger window of their own.').prefault(
    '5m',
  ),
  queryTimeout: durationField('Timeout of one Prometheus query.').prefault('5s'),
})
  .transform((m) => ({
    prometheusUrl: m.prometheusUrl,
    versionLabel: m.versionLabel,
    queries: Object.fromEntries(
      METRIC_NAMES.map((name) => {
        const override = m.queries[name];
        return [name, override === undefined ? DEFAULT_QUERIES[name] : override];
      }),
    ) as Record<MetricName, string | null>,
    defaultWindowMs: m.defaultWindow,
    queryTimeoutMs: m.queryTimeout,
  }))
  .describe('Where and how canary and baseline metrics are read.');

// ---------------------------------------------------------------------------------------------
// Seed §3.2 traffic control
// ---------------------------------------------------------------------------------------------

const phaseName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, `phase name ${SAFE_LABEL_VALUE_RULE}`)
  .describe('Phase name, shown in status and the PhoenixPhase search attribute.');

const holdPhaseInput = strict({
  name: phaseName.optional(),
  percentage: percentField('Canary traffic weight held during this phase (percent, e.g. 5 or "5%").'),
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
  incrementSize: z
    .number({ error: 'must be a number of percent' })
    .int('must be a whole number of percent')
    .min(1, 'must be between 1 and 100')
    .max(100, 'must be between 1 and 100')
    .describe('Weight added at each step (percent).'),
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

/** The seed's §3.2 block, used when `trafficControl` is absent. */
const SEED_TRAFFIC_CONTROL = {
  phases: [
    { name: 'initial_canary', percentage: 5, duration: 600, errorThreshold: '0.1%', latencyThreshold: '100ms' },
    { name: 'expanded_canary', percentage: 20, duration: 900, errorThreshold: '0.5%', latencyThreshold: '200ms' },
    { name: 'full_rollout', incrementSize: 20, intervalSeconds: 300, maxErrorRate: '1%' },
  ],
};

const trafficControlSchema = strict({ phases: phaseList })
  .prefault(SEED_TRAFFIC_CONTROL)
  .describe('Seed §3.2 traffic phases, verbatim. Default: the seed (5% for 10m, 20% for 15m, then +20% every 5m).');

// ---------------------------------------------------------------------------------------------
// Seed §4.2 validation thresholds
// ---------------------------------------------------------------------------------------------

const validationSchema = strict({
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

const triggerList = z.array(triggerInput).describe('Seed §6.1 rollback triggers, verbatim. Default: the seed.');

/** The seed's §6.1 block, used when neither `rollback_triggers` nor `rollbackTriggers` is given. */
const SEED_ROLLBACK_TRIGGERS = [
  { condition: 'error_rate > 1%', window: '5m', action: 'immediate_rollback' },
  { condition: 'p95_latency > 500ms', window: '5m', action: 'immediate_rollback' },
  { condition: 'task_success_rate < 98%', window: '10m', action: 'gradual_rollback' },
  { condition: 'agent_health_score < 90%', window: '5m', action: 'gradual_rollback' },
] as const;

// ---------------------------------------------------------------------------------------------
// The rest
// ---------------------------------------------------------------------------------------------

const gradualRollbackSchema = strict({
  stepSize: z
    .number()
    .int('must be a whole number of percent')
    .min(1, 'must be between 1 and 100')
    .max(100, 'must be between 1 and 100')
    .default(20)
    .describe('Weight removed at each step (percent).'),
  interval: durationField('Time between steps.').prefault('1m'),
})
  .prefault({})
  .transform((g) => ({ stepSize: g.stepSize, intervalMs: g.interval }))
  .describe('Seed §6.2 gradual rollback: 20% decrease every minute by default.');

const baselineSchema = strict({
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

const noDataSchema = strict({
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

const alertsSchema = strict({
  alertmanagerUrl: httpUrl('Alertmanager base URL; alerts are only logged when absent.').optional(),
  labels: z
    .record(z.string().regex(LABEL_NAME, 'must be a Prometheus label name'), z.string())
    .default({})
    .describe('Extra labels on every alert.'),
})
  .prefault({})
  .describe('Where alerts go.');

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
      if (parsedOk(issues, 'metrics', 'rollback_triggers', 'rollbackTriggers')) {
        const key = spec.rollbackTriggers !== undefined ? 'rollbackTriggers' : 'rollback_triggers';
        (spec[key] ?? []).forEach((trigger, index) => {
          if (spec.metrics.queries[trigger.condition.metric] === null) {
            ctx.addIssue({
              code: 'custom',
              path: [key, index, 'condition'],
              message: `metric ${trigger.condition.metric} is disabled (metrics.queries.${trigger.condition.metric} is null)`,
            });
          }
        });
      }
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
    name: full?.name ?? 'full_rollout',
    incrementSize: full?.incrementSize ?? 20,
    intervalMs: full?.intervalMs ?? 300_000,
    maxErrorRate: full?.maxErrorRate ?? critical,
    latencyThresholdMs: full?.latencyThreshold ?? p95,
  };
  const triggers = spec.rollbackTriggers ?? spec.rollback_triggers ?? DEFAULT_TRIGGERS;
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
    rollbackTriggers: triggers.map((t) => ({
      metric: t.condition.metric,
      op: t.condition.op,
      threshold: t.condition.threshold,
      windowMs: t.window ?? spec.metrics.defaultWindowMs,
      action: t.action,
      condition: t.condition.condition,
    })),
    gradualRollback: spec.gradualRollback,
    baseline: spec.baseline,
    noData: spec.noData,
    alerts: spec.alerts,
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
} as const;
