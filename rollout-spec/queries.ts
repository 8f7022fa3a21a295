/**
 * Default PromQL templates per metric and their safe rendering. Pure and sandbox-safe, so
 * activities and workflows may both render queries.
 */
import { QueryRenderError } from './errors';
import type { MetricName } from './types';
import { renderPromDuration } from './units';

/**
 * What a service name or version must look like. It is spliced into PromQL label matchers, so it
 * must not be able to contain quotes, braces or spaces that would change the query.
 */
export const SAFE_LABEL_VALUE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** A Prometheus label name (the `{{versionLabel}}`, alert label keys). */
export const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Human description of {@link SAFE_LABEL_VALUE} for error messages. */
export const SAFE_LABEL_VALUE_RULE =
  'must start with a letter or digit and contain only letters, digits, ".", "_" or "-" (at most 63 characters)';

/** Placeholders a query template may use. */
export const QUERY_PLACEHOLDERS = ['service', 'version', 'versionLabel', 'window'] as const;

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

const S = 'service="{{service}}",{{versionLabel}}="{{version}}"';
const W = '{{window}}';

function gaugeAverage(name: string): string {
  return `avg(avg_over_time(${name}{${S}}[${W}]))`;
}

function latencyQuantile(q: string): string {
  return `1000 * histogram_quantile(${q}, sum by (le) (rate(request_duration_seconds_bucket{${S}}[${W}])))`;
}

/**
 * The PromQL template for each metric, in the metric's unit (fractions, ms, cores, req/s, requests).
 * Each is evaluated over the check's window (`{{window}}`); `request_count` (requests the version
 * served in the window) is the evidence for the minimum-requests checks.
 * `or vector(0)` keeps the error rate at 0 rather than empty when there are no 5xx series yet;
 * the denominator stays bare so that no traffic at all is still "no data", never a pass.
 */
export const DEFAULT_QUERIES: Readonly<Record<MetricName, string>> = Object.freeze({
  error_rate: `(sum(rate(http_requests_total{${S},status=~"5.."}[${W}])) or vector(0)) / sum(rate(http_requests_total{${S}}[${W}]))`,
  success_rate: `(sum(rate(http_requests_total{${S},status!~"5.."}[${W}])) or vector(0)) / sum(rate(http_requests_total{${S}}[${W}]))`,
  request_rate: `sum(rate(http_requests_total{${S}}[${W}]))`,
  request_count: `sum(increase(http_requests_total{${S}}[${W}]))`,
  p95_latency: latencyQuantile('0.95'),
  p99_latency: latencyQuantile('0.99'),
  cpu_usage: `sum(rate(process_cpu_seconds_total{${S}}[${W}]))`,
  memory_usage: `max(max_over_time(memory_usage_ratio{${S}}[${W}]))`,
  task_success_rate: gaugeAverage('task_success_rate'),
  cache_hit_rate: gaugeAverage('cache_hit_rate'),
  agent_health_score: gaugeAverage('agent_health_score'),
});

/**
 * Lists the problems of a query template: unknown placeholders, a missing `{{version}}` (without
 * it canary and baseline would read the same series) and a missing `{{window}}` (every metric is
 * evaluated over the check's window). Empty when fine.
 */
export function templateProblems(template: string): string[] {
  const problems: string[] = [];
  const names = [...template.matchAll(PLACEHOLDER)].map((m) => m[1] ?? '');
  for (const name of new Set(names)) {
    if (!(QUERY_PLACEHOLDERS as readonly string[]).includes(name)) {
      problems.push(
        `unknown placeholder "{{${name}}}"; valid placeholders: ${QUERY_PLACEHOLDERS.map((p) => `{{${p}}}`).join(', ')}`,
      );
    }
  }
  if (!names.includes('version')) {
    problems.push('must contain {{version}} so canary and baseline series can be told apart');
  }
  if (!names.includes('window')) {
    problems.push(
      'must use {{window}} as its range, e.g. rate(x[{{window}}]): every metric is evaluated over the window of its check',
    );
  }
  return problems;
}

/** Values substituted into a template. */
export interface QueryContext {
  service: string;
  version: string;
  versionLabel: string;
  /** The range window in ms, rendered as a PromQL duration (`5m`). */
  windowMs: number;
}

/**
 * Fills a query template. Throws {@link QueryRenderError} when service or version is not a safe
 * label value, the label name is invalid, the window is not a positive whole number of ms, or the
 * template uses an unknown placeholder — so a crafted name can never change the query's meaning.
 */
export function renderQuery(template: string, context: QueryContext): string {
  for (const key of ['service', 'version'] as const) {
    const value = context[key];
    if (typeof value !== 'string' || !SAFE_LABEL_VALUE.test(value)) {
      throw new QueryRenderError(`refusing to render query: ${key} ${JSON.stringify(value)} ${SAFE_LABEL_VALUE_RULE}`);
    }
  }
  if (typeof context.versionLabel !== 'string' || !LABEL_NAME.test(context.versionLabel)) {
    throw new QueryRenderError(
      `refusing to render query: versionLabel ${JSON.stringify(context.versionLabel)} is not a Prometheus label name`,
    );
  }
  let window: string;
  try {
    window = renderPromDuration(context.windowMs);
  } catch (err) {
    throw new QueryRenderError(`refusing to render query: ${(err as Error).message}`);
  }
  const values: Record<string, string> = {
    service: context.service,
    version: context.version,
    versionLabel: context.versionLabel,
    window,
  };
  return template.replace(PLACEHOLDER, (_match, name: string) => {
    const value = Object.hasOwn(values, name) ? values[name] : undefined;
    if (value === undefined) {
      throw new QueryRenderError(`unknown placeholder "{{${name}}}" in query template`);
    }
    return value;
  });
}
