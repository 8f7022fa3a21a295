/**
 * The decision rules of a rollout, as pure functions: which metrics to query, how each sample is
 * judged against its threshold, and what the rollout does about it. The workflow runs them on the
 * samples the `queryMetrics` activity returns; the README's decision table describes them.
 */
import type { MetricQuery, MetricSample } from '../activities/types';
import { minRequestsFor } from '../rollout-spec/evidence';
import { compare } from '../rollout-spec/triggers';
import type { Comparator, MetricName, RollbackAction, RolloutSpec } from '../rollout-spec/types';
import { checkLabel, checkStatement } from './check-wording';
import type { CheckOutcome, CheckStatus } from './contract';
import type { StepGate } from './plan';

/** How a check's failure is treated. */
type CheckKind =
  /** Fires its rollback action (a §6.1 trigger, or the §4.2 critical error rate). */
  | { kind: 'trigger'; action: RollbackAction }
  /** Alerts and lets the rollout continue (§4.2 warning, §5.2 baseline comparison). */
  | { kind: 'warning' }
  /** Holds the phase; `failureLimit` in a row roll back gradually (§4.2 thresholds, phase gates). */
  | { kind: 'gate' };

/** One rule: `metric` of the canary compared with `threshold`; failing when `value op threshold`. */
export interface CheckRule {
  check: string;
  metric: MetricName;
  windowMs: number;
  /** The window as the spec sets it, before bounding it to the canary's age: what the check is labelled with. */
  specWindowMs: number;
  op: Comparator;
  threshold: number;
  /** When set, the threshold is relative to the baseline's value of the same metric. */
  baseline?: { mode: 'difference' | 'ratio' };
  effect: CheckKind;
  description: string;
  /** Canary requests the window must hold for this check to pass (0: no minimum). */
  minRequests: number;
}

/** What the analysis asks the rollout to do, most severe first. */
export type AnalysisDecision =
  | { action: 'immediate_rollback'; reason: string }
  | { action: 'gradual_rollback'; reason: string }
  | { action: 'no_data_limit'; reason: string }
  | { action: 'continue' };

export interface AnalysisResult {
  checks: CheckStatus[];
  decision: AnalysisDecision;
  /** True when a gate check failed or any check had no data or too few requests: the phase may not advance. */
  blocked: boolean;
  /** Checks that entered the warning state in this analysis (an alert goes out for each). */
  newWarnings: CheckStatus[];
  /** Consecutive analyses in which at least one check had no data or too few requests. */
  noDataStreak: number;
}

/**
 * The rules for one step. The phase gate depends on the step; everything else on the spec.
 * Baseline comparisons need the stable version to carry traffic, so there are none at 100%.
 *
 * `windowCapMs` bounds every window to the time this canary has existed: series of an earlier
 * canary of the same version (same labels) from before this one was deployed must not be judged
 * as this canary's (whole seconds, at least 1 s).
 */
export function buildRules(spec: RolloutSpec, gate: StepGate | null, weight = 0, windowCapMs?: number): CheckRule[] {
  const enabled = (metric: MetricName): boolean => spec.metrics.queries[metric] != null;
  const w = spec.metrics.defaultWindowMs;
  const v = spec.validation;
  const rules: CheckRule[] = [];
  const cap = windowCapMs === undefined ? Infinity : Math.max(1000, Math.floor(windowCapMs / 1000) * 1000);
  const add = (rule: Omit<CheckRule, 'minRequests' | 'specWindowMs'>): void => {
    if (!enabled(rule.metric)) return;
    rules.push({
      ...rule,
      windowMs: Math.min(rule.windowMs, cap),
      specWindowMs: rule.windowMs,
      minRequests: minRequestsFor(spec, rule.metric),
    });
  };

  spec.rollbackTriggers.forEach((t, i) =>
    add({
      check: `trigger[${i}]`,
      metric: t.metric,
      windowMs: t.windowMs,
      op: t.op,
      threshold: t.threshold,
      effect: { kind: 'trigger', action: t.action },
      description: `rollback trigger "${t.condition}" (${t.action})`,
    }),
  );
  add({
    check: 'error_rate.critical',
    metric: 'error_rate',
    windowMs: w,
    op: '>',
    threshold: v.errorRate.critical,
    effect: { kind: 'trigger', action: 'immediate_rollback' },
    description: 'error rate above the critical level',
  });
  add({
    check: 'error_rate.warning',
    metric: 'error_rate',
    windowMs: w,
    op: '>',
    threshold: v.errorRate.warning,
    effect: { kind: 'warning' },
    description: 'error rate above the warning level',
  });
  const gateRule = (check: string, metric: MetricName, op: Comparator, threshold: number, what: string): void =>
    add({ check, metric, windowMs: w, op, threshold, effect: { kind: 'gate' }, description: what });
  gateRule('p95_latency.threshold', 'p95_latency', '>', v.latency.p95ThresholdMs, 'p95 latency above its threshold');
  gateRule('p99_latency.threshold', 'p99_latency', '>', v.latency.p99ThresholdMs, 'p99 latency above its threshold');
  gateRule('cpu_usage.threshold', 'cpu_usage', '>', v.resourceUsage.cpuThreshold, 'CPU usage above its threshold');
  gateRule(
    'memory_usage.threshold',
    'memory_usage',
    '>',
    v.resourceUsage.memoryThreshold,
    'memory usage above its threshold',
  );
  const b = v.businessMetrics;
  gateRule('task_success_rate.min', 'task_success_rate', '<', b.minTaskSuccessRate, 'task success rate below minimum');
  gateRule('cache_hit_rate.min', 'cache_hit_rate', '<', b.minCacheHitRate, 'cache hit rate below minimum');
  gateRule('agent_health_score.min', 'agent_health_score', '<', b.minAgentHealth, 'agent health below minimum');
  if (gate) {
    gateRule('error_rate.phase_gate', 'error_rate', '>', gate.maxErrorRate, 'error rate above the phase gate');
    gateRule('p95_latency.phase_gate', 'p95_latency', '>', gate.maxP95LatencyMs, 'p95 latency above the phase gate');
  }
  if (spec.baseline.enabled && weight < 100) {
    const compare = (check: string, metric: MetricName, mode: 'difference' | 'ratio', threshold: number): void =>
      add({
        check,
        metric,
        windowMs: w,
        op: '>',
        threshold,
        baseline: { mode },
        effect: { kind: 'warning' },
        description:
          mode === 'difference' ? `${metric} exceeds the baseline's by too much` : `${metric} too far above baseline`,
      });
    compare('baseline.error_rate', 'error_rate', 'difference', spec.baseline.maxErrorRateIncrease);
    compare('baseline.p95_latency', 'p95_latency', 'ratio', spec.baseline.maxLatencyIncrease);
    compare('baseline.p99_latency', 'p99_latency', 'ratio', spec.baseline.maxLatencyIncrease);
  }
  return rules;
}

/** The distinct queries the rules need, so one activity call fetches everything. */
export function queriesFor(rules: CheckRule[]): MetricQuery[] {
  const seen = new Map<string, MetricQuery>();
  const want = (q: MetricQuery): void => {
    seen.set(`${q.target}/${q.metric}/${q.windowMs}`, q);
  };
  for (const rule of rules) {
    want({ metric: rule.metric, target: 'canary', windowMs: rule.windowMs });
    if (rule.baseline) want({ metric: rule.metric, target: 'baseline', windowMs: rule.windowMs });
    // The evidence behind the check: how many requests the canary served in its window.
    if (rule.minRequests > 0) want({ metric: 'request_count', target: 'canary', windowMs: rule.windowMs });
  }
  return [...seen.values()];
}

/**
 * A sample's value for judging. `+Inf`/`-Inf` are values (a quantile above the highest bucket is
 * as high as it gets, a breach of any upper bound), carried as infinities only inside the judge.
 */
function sampleValue(samples: MetricSample[], q: MetricQuery): { value: number | null; detail: string } {
  const s = samples.find((x) => x.target === q.target && x.metric === q.metric && x.windowMs === q.windowMs);
  if (!s) return { value: null, detail: 'not queried' };
  if (s.status === 'ok' && typeof s.value === 'number' && Number.isFinite(s.value)) return { value: s.value, detail: '' };
  if (s.status === 'infinite') {
    const negative = s.sign === -1;
    return { value: negative ? -Infinity : Infinity, detail: s.detail ?? (negative ? '-Inf' : '+Inf') };
  }
  return { value: null, detail: s.detail ? `${s.status}: ${s.detail}` : s.status };
}

/** The canary's request count over a window, or why it is unknown. */
function requestCount(samples: MetricSample[], windowMs: number): { count: number | null; detail: string } {
  const { value, detail } = sampleValue(samples, { metric: 'request_count', target: 'canary', windowMs });
  return value === null || !Number.isFinite(value) ? { count: null, detail } : { count: Math.round(value), detail: '' };
}

/**
 * Judges the samples of one analysis. `previous` carries each check's streak of consecutive
 * non-passing results; missing data is never a pass.
 */
export function evaluate(
  spec: RolloutSpec,
  rules: CheckRule[],
  samples: MetricSample[],
  previous: CheckStatus[],
  previousNoDataStreak: number,
  at: string,
): AnalysisResult {
  const checks: CheckStatus[] = [];
  const newWarnings: CheckStatus[] = [];
  let immediate: string | null = null;
  let gradual: string | null = null;
  let gateLimit: string | null = null;
  let blocked = false;
  let anyNoData = false;

  for (const rule of rules) {
    const canary = sampleValue(samples, { metric: rule.metric, target: 'canary', windowMs: rule.windowMs });
    let value = canary.value;
    let threshold = rule.threshold;
    let missing = canary.detail;
    let baselineValue: number | null = null;
    if (rule.baseline && value !== null) {
      const base = sampleValue(samples, { metric: rule.metric, target: 'baseline', windowMs: rule.windowMs });
      if (base.value === null) {
        missing = `baseline ${base.detail}`;
        value = null;
      } else {
        baselineValue = base.value;
        threshold = rule.baseline.mode === 'difference' ? base.value + rule.threshold : base.value * (1 + rule.threshold);
      }
    }
    let outcome: CheckOutcome;
    let evidence: { requests?: number; minRequests?: number } = {};
    if (value === null) {
      outcome = 'no_data';
    } else if (!compare(value, rule.op, threshold)) {
      outcome = 'pass';
      // A pass needs evidence; a failure never waits for it (rolling back is the safe direction).
      if (rule.minRequests > 0) {
        const { count, detail } = requestCount(samples, rule.windowMs);
        evidence = { ...(count === null ? {} : { requests: count }), minRequests: rule.minRequests };
        if (count === null || count < rule.minRequests) {
          outcome = 'insufficient_samples';
          missing =
            count === null
              ? `request count unknown (${detail}); at least ${rule.minRequests} needed`
              : `${count} canary requests in the window, at least ${rule.minRequests} needed`;
        }
      }
    } else {
      outcome = rule.effect.kind === 'trigger' ? 'critical' : rule.effect.kind === 'warning' ? 'warning' : 'breach';
    }
    const prior = previous.find((c) => c.check === rule.check);
    const streak = outcome === 'pass' ? 0 : (prior && prior.outcome === outcome ? prior.streak : 0) + 1;
    const status: CheckStatus = {
      check: rule.check,
      metric: rule.metric,
      // JSON has no infinities: an infinite value is shown as null with `detail` saying which.
      value: value !== null && Number.isFinite(value) ? value : null,
      threshold,
      comparator: rule.op,
      outcome,
      streak,
      at,
      ...(missing ? { detail: missing } : {}),
      ...evidence,
      windowMs: rule.specWindowMs,
      ...(rule.baseline
        ? {
            baseline: {
              mode: rule.baseline.mode,
              margin: rule.threshold,
              value: baselineValue !== null && Number.isFinite(baselineValue) ? baselineValue : null,
            },
          }
        : {}),
    };
    status.label = checkLabel(status);
    // Worded from the judged value: an infinite one is stored as null, but is still a value.
    status.statement = checkStatement({ ...status, value });
    checks.push(status);

    const shown = value === null ? 'n/a' : Number.isFinite(value) ? String(round(value)) : value > 0 ? '+Inf' : '-Inf';
    if (outcome === 'no_data' || outcome === 'insufficient_samples') {
      // A warning-only check (baseline comparison, warning level) without data cannot pass, but
      // it never held a rollout either: other checks on the same metric still gate it.
      if (rule.effect.kind !== 'warning') {
        anyNoData = true;
        blocked = true;
      }
    } else if (outcome === 'critical' && rule.effect.kind === 'trigger') {
      const reason = `${rule.description}: ${rule.metric}=${shown} ${rule.op} ${round(threshold)}`;
      if (rule.effect.action === 'immediate_rollback') immediate ??= reason;
      else gradual ??= reason;
    } else if (outcome === 'warning') {
      if (!prior || prior.outcome !== 'warning') newWarnings.push(status);
    } else if (outcome === 'breach') {
      blocked = true;
      if (streak >= spec.failureLimit) {
        gateLimit ??= `${rule.description}: ${rule.metric}=${shown} ${rule.op} ${round(threshold)} in ${streak} consecutive analyses`;
      }
    }
  }

  const noDataStreak = anyNoData ? previousNoDataStreak + 1 : 0;
  let decision: AnalysisDecision = { action: 'continue' };
  if (immediate) decision = { action: 'immediate_rollback', reason: immediate };
  else if (gradual) decision = { action: 'gradual_rollback', reason: gradual };
  else if (gateLimit) decision = { action: 'gradual_rollback', reason: gateLimit };
  else if (noDataStreak >= spec.noData.consecutiveLimit) {
    const missing = checks
      .filter((c) => c.outcome === 'no_data' || c.outcome === 'insufficient_samples')
      .map((c) => (c.outcome === 'no_data' ? c.check : `${c.check}: ${c.detail ?? 'too few requests'}`))
      .join(', ');
    const what = checks.some((c) => c.outcome === 'insufficient_samples') ? 'no data or too few requests' : 'no data';
    decision = { action: 'no_data_limit', reason: `${what} for ${noDataStreak} consecutive analyses (${missing})` };
  }
  return { checks, decision, blocked, newWarnings, noDataStreak };
}

function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

