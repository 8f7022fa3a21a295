/**
 * Parsing of §6.1 rollback-trigger conditions such as `error_rate > 1%` or `p95_latency > 500ms`.
 * Pure and sandbox-safe.
 */
import { UnitParseError } from './errors';
import { COMPARATORS, METRIC_NAMES, type Comparator, type MetricName } from './types';
import { parseFraction, parseLatencyMs, parseRequestCount, parseRequestRate, type UnitInput } from './units';

/**
 * The unit each metric's values (and thresholds) are in:
 * - `fraction`: 0..1 (`"1%"` → 0.01);
 * - `cores`: CPU seconds per second, so `"80%"` → 0.8 of one core; may exceed 1 on several cores;
 * - `ms`: milliseconds (`"500ms"`, `"0.5s"`, bare number = ms);
 * - `per_second`: requests per second;
 * - `count`: a number of requests (in the window).
 */
export const METRIC_UNITS: Record<MetricName, 'fraction' | 'cores' | 'ms' | 'per_second' | 'count'> = {
  error_rate: 'fraction',
  success_rate: 'fraction',
  request_rate: 'per_second',
  request_count: 'count',
  p95_latency: 'ms',
  p99_latency: 'ms',
  cpu_usage: 'cores',
  memory_usage: 'fraction',
  task_success_rate: 'fraction',
  cache_hit_rate: 'fraction',
  agent_health_score: 'fraction',
};

/** A parsed trigger condition: `metric op threshold`, threshold in the metric's unit. */
export interface TriggerCondition {
  metric: MetricName;
  op: Comparator;
  threshold: number;
}

/** Type guard for metric names. */
export function isMetricName(name: string): name is MetricName {
  return (METRIC_NAMES as readonly string[]).includes(name);
}

/** Largest CPU threshold accepted, in cores; guards against `800` meaning 800%. */
const MAX_CPU_CORES = 1024;

/** Parses a threshold for `metric` in that metric's unit (see {@link METRIC_UNITS}). */
export function parseMetricThreshold(metric: MetricName, raw: UnitInput): number {
  switch (METRIC_UNITS[metric]) {
    case 'fraction':
      return parseFraction(raw);
    case 'cores':
      return parseFraction(raw, { max: MAX_CPU_CORES });
    case 'ms':
      return parseLatencyMs(raw);
    case 'per_second':
      return parseRequestRate(raw);
    case 'count':
      return parseRequestCount(raw);
  }
}

// Longest operators first so `>=` is not read as `>` followed by `=1%`.
const OPERATORS_BY_LENGTH = [...COMPARATORS].sort((a, b) => b.length - a.length);

/**
 * Parses `metric op threshold`. Throws {@link UnitParseError} naming an unknown metric or
 * operator (and listing the valid ones) or a threshold that does not fit the metric's unit.
 */
export function parseTriggerCondition(condition: string): TriggerCondition {
  const text = condition.trim();
  // Symbolic operators may touch their operands (`error_rate>1%`); anything else is a word between spaces.
  const m =
    /^([A-Za-z_][A-Za-z0-9_]*)\s*([^A-Za-z0-9_\s."'%+-]+)\s*(.*)$/.exec(text) ??
    /^([A-Za-z_][A-Za-z0-9_]*)\s+(\S+)\s+(.*)$/.exec(text);
  if (!m) {
    throw new UnitParseError(
      `expected "<metric> <operator> <threshold>" such as "error_rate > 1%", got ${JSON.stringify(condition)}`,
      condition,
    );
  }
  const [, metric = '', opText = '', thresholdText = ''] = m;
  if (!isMetricName(metric)) {
    throw new UnitParseError(`unknown metric "${metric}"; valid metrics: ${METRIC_NAMES.join(', ')}`, condition);
  }
  const op = OPERATORS_BY_LENGTH.find((candidate) => candidate === opText);
  if (!op) {
    throw new UnitParseError(`unknown operator "${opText}"; valid operators: ${COMPARATORS.join(' ')}`, condition);
  }
  if (thresholdText === '') {
    throw new UnitParseError(`missing threshold after "${metric} ${op}"`, condition);
  }
  try {
    return { metric, op, threshold: parseMetricThreshold(metric, thresholdText) };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new UnitParseError(`threshold of ${metric} (${METRIC_UNITS[metric]}): ${message}`, condition);
  }
}

/** Evaluates `value op threshold`. */
export function compare(value: number, op: Comparator, threshold: number): boolean {
  switch (op) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
    case '==':
      return value === threshold;
    case '!=':
      return value !== threshold;
  }
}
