/**
 * The words of an analysis check, one source for the status query, the CLI and the dashboard:
 * a label naming what the check checks (`error_rate > 1% over 5m`) and a statement of value
 * against limit that is true as printed (`0.2% ≤ 1% ✓`, `620 ms > 500 ms ✗`, `no data (…)`).
 *
 * Pure and dependency-free: the workflow bundle and the dashboard's browser bundle import it, so
 * it uses nothing but types from elsewhere.
 */
import type { MetricName } from '../rollout-spec/types';
import type { CheckBaseline } from './contract';

/** What the wording reads of a check; a `CheckStatus` is one (`metric` is loose for the dashboard). */
export interface WordableCheck {
  check: string;
  metric: string;
  /** May be ±Infinity when the workflow words a check before storing it (JSON has no infinities). */
  value: number | null;
  threshold: number;
  comparator: string;
  outcome: string;
  detail?: string;
  requests?: number;
  minRequests?: number;
  windowMs?: number;
  baseline?: CheckBaseline;
}

export type DisplayUnit = 'percent' | 'ms' | 'per_second' | 'count';

/**
 * How each metric is shown. Fractions as percent, the way specs write them (`error_rate > 1%`);
 * CPU is in cores and specs write it as a percentage of one core (`"80%"` = 0.8), so it is shown
 * the same way. Mirrors rollout-spec/triggers.ts METRIC_UNITS (a unit test keeps them in step).
 */
export const DISPLAY_UNITS: Readonly<Record<MetricName, DisplayUnit>> = {
  error_rate: 'percent',
  success_rate: 'percent',
  request_rate: 'per_second',
  request_count: 'count',
  p95_latency: 'ms',
  p99_latency: 'ms',
  cpu_usage: 'percent',
  memory_usage: 'percent',
  task_success_rate: 'percent',
  cache_hit_rate: 'percent',
  agent_health_score: 'percent',
};

const SYMBOL: Readonly<Record<string, string>> = { '>': '>', '>=': '≥', '<': '<', '<=': '≤', '==': '=', '!=': '≠' };
/** The relation that holds when `value op threshold` does not. */
const NEGATION: Readonly<Record<string, string>> = { '>': '≤', '>=': '<', '<': '≥', '<=': '>', '==': '≠', '!=': '=' };

const FAILING = new Set(['warning', 'breach', 'critical']);

/** Longest reason text a statement carries; the full text stays in `detail`. */
const REASON_MAX = 80;

function unitOf(metric: string): DisplayUnit {
  return (DISPLAY_UNITS as Readonly<Record<string, DisplayUnit | undefined>>)[metric] ?? 'count';
}

/** `x` with at least `significant` significant digits, never dropping integer digits, no trailing zeros. */
function digits(x: number, significant: number): string {
  if (x === 0) return '0';
  const integerDigits = Math.floor(Math.log10(Math.abs(x))) + 1;
  const decimals = Math.min(20, Math.max(0, significant - integerDigits));
  const fixed = x.toFixed(decimals);
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}

/** The number as shown in `unit` (percent scaled by 100), without the unit. */
function scaled(x: number, unit: DisplayUnit): number {
  return unit === 'percent' ? x * 100 : x;
}

function withUnit(shown: string, unit: DisplayUnit): string {
  switch (unit) {
    case 'percent':
      return `${shown}%`;
    case 'ms':
      return `${shown} ms`;
    case 'per_second':
      return `${shown} req/s`;
    case 'count':
      return shown;
  }
}

function formatIn(x: number, unit: DisplayUnit, significant: number): string {
  if (x === Infinity) return '+Inf';
  if (x === -Infinity) return '-Inf';
  return withUnit(digits(scaled(x, unit), significant), unit);
}

/** A limit as a rule states it: exact to six significant digits (enough for any spec value). */
function formatLimit(x: number, unit: DisplayUnit): string {
  return formatIn(x, unit, 6);
}

/** A window as specs write durations: `5m`, `1m30s`, `10s`, `500ms`. */
export function formatWindow(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
}

/** The margin over the baseline: percentage points for a difference of fractions, percent for a ratio. */
function formatMargin(baseline: CheckBaseline, unit: DisplayUnit): string {
  if (baseline.mode === 'ratio') return `${digits(baseline.margin * 100, 6)}%`;
  return unit === 'percent' ? `${digits(baseline.margin * 100, 6)} pp` : formatLimit(baseline.margin, unit);
}

/**
 * What the check checks, as the rule that fails it: `error_rate > 1% over 5m`,
 * `task_success_rate < 99% over 5m`, `error_rate > baseline + 0.1 pp over 5m`. Triggers are
 * named by their condition like every other check, never by their index.
 */
export function checkLabel(check: WordableCheck): string {
  const unit = unitOf(check.metric);
  const op = SYMBOL[check.comparator] ?? check.comparator;
  const over = check.windowMs === undefined ? '' : ` over ${formatWindow(check.windowMs)}`;
  if (check.baseline) return `${check.metric} ${op} baseline + ${formatMargin(check.baseline, unit)}${over}`;
  // Older workflows stored only the limit derived from the baseline, not the margin.
  if (check.check.startsWith('baseline.')) return `${check.metric} ${op} baseline + margin${over}`;
  return `${check.metric} ${op} ${formatLimit(check.threshold, unit)}${over}`;
}

function holds(relation: string, a: number, b: number): boolean {
  switch (relation) {
    case '>':
      return a > b;
    case '≥':
      return a >= b;
    case '<':
      return a < b;
    case '≤':
      return a <= b;
    case '=':
      return a === b;
    default:
      return a !== b;
  }
}

/** The relation the numbers really have, for data whose outcome contradicts its comparator. */
function actualRelation(value: number, threshold: number): string {
  return value > threshold ? '>' : value < threshold ? '<' : '=';
}

/**
 * `value relation limit`, printed with as many digits as it takes for the printed numbers to
 * stand in that relation too (`0.9999% < 1%`, not `1% < 1%`).
 */
function comparison(value: number, relation: string, threshold: number, unit: DisplayUnit): string {
  let rel = relation;
  if (!holds(rel, value, threshold)) rel = actualRelation(value, threshold);
  if (!Number.isFinite(value) || !Number.isFinite(threshold)) {
    return `${formatIn(value, unit, 3)} ${rel} ${formatIn(threshold, unit, 6)}`;
  }
  for (let significant = 3; significant <= 17; significant++) {
    const v = digits(scaled(value, unit), significant);
    const t = digits(scaled(threshold, unit), Math.max(6, significant));
    if (holds(rel, Number(v), Number(t)) || significant === 17) return `${withUnit(v, unit)} ${rel} ${withUnit(t, unit)}`;
  }
  return '';
}

function clip(text: string, max = REASON_MAX): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

/** Why a check has no value, in words: `Prometheus returned nothing`, `query failed: HTTP 503 …`. */
function missingReason(detail: string | undefined): string {
  if (!detail) return 'no value';
  const baseline = /^baseline (.*)$/.exec(detail);
  if (baseline) return `baseline: ${missingReason(baseline[1])}`;
  const [status = '', ...rest] = detail.split(': ');
  const more = rest.join(': ');
  switch (status) {
    case 'no_data':
      return 'Prometheus returned nothing';
    case 'not_a_number':
      return more ? `not a number (${more})` : 'not a number';
    case 'multiple_series':
      return more ? `several series: ${more}` : 'several series, expected one';
    case 'timeout':
      return more ? `query timed out: ${more}` : 'query timed out';
    case 'error':
      return more ? `query failed: ${more}` : 'query failed';
    default:
      return detail;
  }
}

/** The infinite value behind a stored null (JSON has no infinities; `detail` names the sign). */
function storedValue(check: WordableCheck): number | null {
  if (check.value !== null) return check.value;
  if (check.outcome === 'no_data') return null;
  if (check.detail?.startsWith('-Inf')) return -Infinity;
  if (check.detail?.startsWith('+Inf')) return Infinity;
  return null;
}

/**
 * A true statement of the check's latest value against its limit: `99.5% ≥ 99% ✓`,
 * `1.4% > 1% ✗`, `0.3% ≤ 0.35% (baseline 0.25% + 0.1 pp) ✓`, `no data (Prometheus returned
 * nothing)`, `too few requests (12 < 100); 0.2% ≤ 1%`.
 */
export function checkStatement(check: WordableCheck): string {
  const unit = unitOf(check.metric);
  const value = storedValue(check);
  if (check.outcome === 'no_data' || value === null) return `no data (${clip(missingReason(check.detail))})`;

  const failing = FAILING.has(check.outcome);
  const relation = (failing ? SYMBOL[check.comparator] : NEGATION[check.comparator]) ?? check.comparator;
  const compared = comparison(value, relation, check.threshold, unit);
  const b = check.baseline;
  const base =
    b && b.value !== null ? ` (baseline ${formatIn(b.value, unit, 3)} + ${formatMargin(b, unit)})` : '';

  if (check.outcome === 'insufficient_samples') {
    const needed = check.minRequests;
    const few =
      check.requests !== undefined && needed !== undefined
        ? `too few requests (${check.requests} < ${needed})`
        : clip(check.detail ?? 'request count unknown');
    return `${few}; ${compared}${base}`;
  }
  return `${compared}${base} ${failing ? '✗' : '✓'}`;
}

/**
 * What a failure of the check does, from its id (workflows/analysis.ts names them): two checks
 * may share a rule (the critical error level and a phase gate both at 1%), not a role.
 */
export function checkRole(check: Pick<WordableCheck, 'check'>): string {
  const id = check.check;
  if (id.startsWith('trigger[')) return 'rollback trigger';
  if (id.startsWith('baseline.')) return 'baseline comparison (warns)';
  if (id.endsWith('.critical')) return 'critical level (rolls back)';
  if (id.endsWith('.warning')) return 'warning level (warns)';
  if (id.endsWith('.phase_gate')) return 'phase gate (holds)';
  if (id.endsWith('.threshold') || id.endsWith('.min')) return 'threshold (holds)';
  return '';
}
