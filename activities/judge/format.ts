/**
 * How the judge writes numbers in its one-line reasons: each metric in its unit (latencies in ms,
 * rates and ratios in %, cores, req/s), ratios as ×1.15, p-values with two significant digits.
 */
import type { MetricName } from '../../rollout-spec/types';

const PERCENT: ReadonlySet<MetricName> = new Set([
  'error_rate',
  'success_rate',
  'memory_usage',
  'task_success_rate',
  'cache_hit_rate',
  'agent_health_score',
]);

/** `value` of `metric` in its unit, e.g. "115 ms", "0.30%", "0.42 cores". */
export function formatMetricValue(metric: MetricName, value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (PERCENT.has(metric)) return `${significant(value * 100)}%`;
  switch (metric) {
    case 'p95_latency':
    case 'p99_latency':
      return `${significant(value)} ms`;
    case 'request_rate':
      return `${significant(value)} req/s`;
    case 'request_count':
      return `${significant(value)} requests`;
    case 'cpu_usage':
      return `${significant(value)} cores`;
    default:
      return significant(value);
  }
}

/** A ratio of means as "×1.15" (two decimals; more when it is close to 1). */
export function formatRatio(ratio: number): string {
  if (ratio === Infinity) return '×∞';
  return `×${Math.abs(ratio - 1) < 0.01 && ratio !== 1 ? ratio.toFixed(3) : ratio.toFixed(2)}`;
}

/** A probability: "0.43", "0.0031", "3.2e-13". */
export function formatP(p: number): string {
  if (p === 0) return '0';
  if (p >= 1e-4) return String(Number(p.toPrecision(2)));
  return p.toExponential(1);
}

/** At most three significant digits, no trailing zeros, no exponent for everyday magnitudes. */
function significant(value: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1000) return String(Math.round(value));
  if (abs < 1e-4) return value.toExponential(1);
  return String(Number(value.toPrecision(3)));
}
