/**
 * `judge`: the optional statistical canary judge (issue 11). Beside the threshold checks, it
 * compares samples of chosen metrics for the canary and the baseline over the same window (a
 * Mann-Whitney U test and a ratio of means per metric, Kayenta's NetflixACAJudge) and scores the
 * canary 0-100: pass, marginal (the phase holds, warning alert) or fail (rollback). Sandbox-safe:
 * zod only.
 */
import { z } from 'zod';
import { durationField, fractionField, strict } from './fields';
import { ROLLBACK_ACTIONS } from './policy';
import { FRESH_BASELINE_MATCHER, VERSION_MATCHER } from './fresh-baseline';
import { METRIC_NAMES, type MetricName } from './types';

/** Which change of a metric is bad; a change the other way passes. */
export const JUDGE_DIRECTIONS = ['increase', 'decrease', 'either'] as const;

/** Defaults of the judge's numbers (Kayenta's where it has one). */
export const JUDGE_DEFAULTS = {
  confidence: 0.98,
  pass: 95,
  marginal: 75,
  intervalMs: 60_000,
  tolerance: 0.1,
  outlierFactor: 3,
  /** A range query of a window has at least this many points when `step` is not given. */
  pointsPerWindow: 50,
} as const;

const score = (description: string) =>
  z
    .number({ error: 'must be a score from 0 to 100' })
    .min(0, 'must be a score from 0 to 100')
    .max(100, 'must be a score from 0 to 100')
    .describe(description);

const judgeMetric = strict({
  metric: z
    .enum(METRIC_NAMES, { error: `must be one of: ${METRIC_NAMES.join(', ')}` })
    .describe('The metric compared: a key of metrics.queries whose query is not null.'),
  direction: z
    .enum(JUDGE_DIRECTIONS, { error: `must be one of: ${JUDGE_DIRECTIONS.join(', ')}` })
    .default('increase')
    .describe('Which change is bad: `increase` (latency, errors), `decrease` (success, cache hits) or `either`.'),
  tolerance: fractionField(
    'Allowed change of the ratio of means canary/baseline in the bad direction before a significant difference counts, e.g. "10%": a canary up to 1.10× the baseline passes.',
    { max: 10 },
  ).prefault(`${JUDGE_DEFAULTS.tolerance * 100}%`),
  critical: z.boolean().default(false).describe('A failing critical metric fails the whole judgement (score 0).'),
  weight: z
    .number({ error: 'must be a number' })
    .positive('must be above 0')
    .max(1000, 'must be at most 1000')
    .default(1)
    .describe('Weight of the metric in the score (passing weight / judged weight × 100).'),
  group: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$/, 'must be 1-63 letters, digits, spaces, ".", "_" or "-"')
    .optional()
    .describe('Display group, e.g. "latency"; does not change the score.'),
  removeOutliers: z
    .boolean()
    .default(false)
    .describe('Drop samples more than outlierFactor × IQR beyond the quartiles (both sides) before testing.'),
});

/** `judge` as written. */
export const judgeSchema = strict({
  metrics: z.array(judgeMetric).min(1, 'must list at least one metric').describe('The metrics the judge compares.'),
  window: durationField(
    'The compared window, ending at the judgement; bounded by the time since the canary was deployed. Default: metrics.defaultWindow.',
  ).optional(),
  step: durationField(
    `Step of the range queries (bare number = seconds). Default: window / ${JUDGE_DEFAULTS.pointsPerWindow}, so that a window has at least ${JUDGE_DEFAULTS.pointsPerWindow} points.`,
  ).optional(),
  pointWindow: durationField(
    "Range of each point's query (the template's `{{window}}`; bare number = seconds). Default: the step, so that consecutive points share no raw samples; it must span at least two scrape intervals for rate() to have a value.",
  ).optional(),
  confidence: z
    .number({ error: 'must be a number between 0.5 and 0.9999' })
    .min(0.5, 'must be between 0.5 and 0.9999')
    .max(0.9999, 'must be between 0.5 and 0.9999')
    .default(JUDGE_DEFAULTS.confidence)
    .describe('Confidence of the Mann-Whitney U test: a difference is significant when p < 1 - confidence.'),
  thresholds: strict({
    pass: score('Score at or above which the canary passes.').default(JUDGE_DEFAULTS.pass),
    marginal: score('Score at or above which (and below pass) the canary is marginal: the phase holds and a warning goes out; below it, the canary fails.').default(
      JUDGE_DEFAULTS.marginal,
    ),
  })
    .superRefine((t, ctx) => {
      if (t.marginal > t.pass) {
        ctx.addIssue({ code: 'custom', path: ['marginal'], message: `marginal (${t.marginal}) must not exceed pass (${t.pass})` });
      }
    })
    .prefault({})
    .describe('Score thresholds (Kayenta: pass 95, marginal 75).'),
  onFail: z
    .enum(ROLLBACK_ACTIONS, { error: `must be one of: ${ROLLBACK_ACTIONS.join(', ')}` })
    .default('immediate_rollback')
    .describe('What a failing judgement does.'),
  interval: durationField(
    'How often the judge runs while the canary shares traffic with the baseline (at most once per analysis round); it also always judges in the last round before a phase may advance.',
  ).prefault(`${JUDGE_DEFAULTS.intervalMs / 60_000}m`),
  nanStrategy: z
    .enum(['remove', 'replace'], { error: 'must be one of: remove, replace' })
    .default('remove')
    .describe('NaN samples are removed, or replaced by 0 (Kayenta nanStrategy).'),
  outlierFactor: z
    .number({ error: 'must be a number' })
    .positive('must be above 0')
    .default(JUDGE_DEFAULTS.outlierFactor)
    .describe('IQR factor of outlier removal (metrics with removeOutliers).'),
  freshBaseline: z
    .boolean()
    .default(false)
    .describe(
      'Judge the canary against a fresh baseline instance of the stable version, started beside the canary after it is healthy, ' +
        'given the canary\'s share of traffic (at most half of what is left to stable) and terminated with it, instead of the ' +
        'long-running stable whose warm caches and uptime bias the comparison (Kayenta). Needs a `process` platform with ' +
        '`baselinePort` and a single-server `haproxy` router with `baselineServer`, both set by the operator.',
    ),
})
  .superRefine((j, ctx) => {
    const seen = new Map<MetricName, number>();
    j.metrics.forEach((m, index) => {
      const first = seen.get(m.metric);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['metrics', index, 'metric'], message: `${m.metric} is judged twice (also metrics[${first}])` });
      else seen.set(m.metric, index);
    });
    if (j.window !== undefined && j.step !== undefined && j.step * 2 > j.window) {
      ctx.addIssue({ code: 'custom', path: ['step'], message: `must be at most half the window (${j.window}ms), got ${j.step}ms` });
    }
  })
  .describe(
    'Optional statistical judge (Kayenta-style): canary vs baseline samples per metric, Mann-Whitney U test and ratio of means, a 0-100 score with pass/marginal/fail. Beside the threshold checks, never instead of them.',
  );

export type JudgeInput = z.output<typeof judgeSchema>;

/** The judge's settings as a workflow and the activity receive them (ms, fractions). */
export interface JudgeSettings {
  metrics: {
    metric: MetricName;
    direction: (typeof JUDGE_DIRECTIONS)[number];
    tolerance: number;
    critical: boolean;
    weight: number;
    group: string | null;
    removeOutliers: boolean;
  }[];
  windowMs: number;
  /** null: windowMs / pointsPerWindow. */
  stepMs: number | null;
  /** Range of each point's query; null: the step. */
  pointWindowMs: number | null;
  confidence: number;
  passThreshold: number;
  marginalThreshold: number;
  onFail: (typeof ROLLBACK_ACTIONS)[number];
  intervalMs: number;
  nanStrategy: 'remove' | 'replace';
  outlierFactor: number;
  freshBaseline: boolean;
}

export function normalizeJudge(j: JudgeInput, defaults: { defaultWindowMs: number }): JudgeSettings {
  return {
    metrics: j.metrics.map((m) => ({ ...m, group: m.group ?? null })),
    windowMs: j.window ?? defaults.defaultWindowMs,
    stepMs: j.step ?? null,
    pointWindowMs: j.pointWindow ?? null,
    confidence: j.confidence,
    passThreshold: j.thresholds.pass,
    marginalThreshold: j.thresholds.marginal,
    onFail: j.onFail,
    intervalMs: j.interval,
    nanStrategy: j.nanStrategy,
    outlierFactor: j.outlierFactor,
    freshBaseline: j.freshBaseline,
  };
}

/**
 * Checks of the judge against the rest of the spec: every judged metric needs a query (a metric
 * disabled with `metrics.queries.X: null` has no samples to compare).
 */
export function checkJudgeAgainstSpec(
  judge: JudgeInput,
  spec: { metrics: { queries: Record<MetricName, string | null>; defaultWindowMs: number } },
  ctx: z.RefinementCtx,
): void {
  judge.metrics.forEach((m, index) => {
    if (spec.metrics.queries[m.metric] === null) {
      ctx.addIssue({
        code: 'custom',
        path: ['judge', 'metrics', index, 'metric'],
        message: `${m.metric} is disabled (metrics.queries.${m.metric}: null), so the judge has no samples of it; give it a query or judge another metric`,
      });
    }
  });
  const windowMs = judge.window ?? spec.metrics.defaultWindowMs;
  if (judge.step !== undefined && judge.window === undefined && judge.step * 2 > windowMs) {
    ctx.addIssue({ code: 'custom', path: ['judge', 'step'], message: `must be at most half the window (metrics.defaultWindow, ${windowMs}ms), got ${judge.step}ms` });
  }
}

/** `judge.freshBaseline: true` against the targets: refused, naming the field, where Phoenix cannot run the baseline. */
export function checkFreshBaseline(spec: FreshBaselineTargets & { judge: { freshBaseline: boolean } }, ctx: z.RefinementCtx): void {
  if (!spec.judge.freshBaseline) return;
  const why = freshBaselineUnsupported(spec);
  if (why) ctx.addIssue({ code: 'custom', path: ['judge', 'freshBaseline'], message: why });
}

/** What {@link freshBaselineUnsupported} reads of a spec (parsed or normalized: the fields are the same). */
export interface FreshBaselineTargets {
  platform: { kind: string; baselinePort?: number; replicas?: unknown; canaryScale?: string };
  traffic: { kind: string; stableServer?: string; canaryServer?: string; baselineServer?: string };
  metrics: { queries: Record<MetricName, string | null> };
  judge: { metrics: { metric: MetricName }[] };
}

/**
 * Why this spec cannot have a fresh baseline, or '' when it can. Phoenix deploys and routes a
 * third instance only where it runs one for real: the `process` platform (one instance per version,
 * a `baselinePort` the operator gave) behind the single-server HAProxy router (a `baselineServer`
 * in the backend). Every judged metric's query must select the version with the standard
 * `{{versionLabel}}="{{version}}"` matcher, next to which the baseline side adds
 * {@link FRESH_BASELINE_MATCHER}; the stable instances carry the same version label.
 */
export function freshBaselineUnsupported(spec: FreshBaselineTargets): string {
  const { platform, traffic } = spec;
  if (platform.kind !== 'process') {
    return `a fresh baseline needs platform.kind "process" (Phoenix deploys the baseline instance itself), got "${platform.kind}"; set false to judge against the running stable`;
  }
  if (platform.baselinePort === undefined) {
    return 'a fresh baseline needs platform.baselinePort (the port the operator reserved for the baseline instance); set false to judge against the running stable';
  }
  const replicas = platform.replicas as { stable?: number; canary?: number } | undefined;
  if ((replicas?.stable ?? 1) !== 1 || (replicas?.canary ?? 1) !== 1 || platform.canaryScale === 'weight') {
    return 'a fresh baseline is supported with one instance per version only (platform.replicas 1, canaryScale full); set false to judge against the running stable';
  }
  if (traffic.kind !== 'haproxy' || traffic.stableServer === undefined || traffic.canaryServer === undefined) {
    return `a fresh baseline needs the single-server haproxy router (traffic.kind "haproxy" with stableServer and canaryServer), got "${traffic.kind}"${traffic.kind === 'haproxy' ? ' with server pools' : ''}; set false to judge against the running stable`;
  }
  if (traffic.baselineServer === undefined) {
    return 'a fresh baseline needs traffic.baselineServer (the backend\'s server for the baseline instance, configured by the operator); set false to judge against the running stable';
  }
  const unmatched = spec.judge.metrics
    .map((m) => m.metric)
    .filter((metric) => {
      const template = spec.metrics.queries[metric];
      return typeof template === 'string' && !template.includes(VERSION_MATCHER);
    });
  if (unmatched.length > 0) {
    return `a fresh baseline needs every judged metric's query to select the version with ${VERSION_MATCHER}, so the baseline side can add ${FRESH_BASELINE_MATCHER}; ${unmatched.join(', ')} do not`;
  }
  return '';
}
