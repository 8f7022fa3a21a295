/**
 * The metric preflight: before any traffic moves, run every enabled metric's query once for the
 * stable version and list the ones that can never give a value (no series, bad PromQL). Plain
 * code, no activity context: the worker's `preflightMetrics` activity and `phoenix validate
 * --check-metrics` both call {@link preflightMetricQueries}.
 */
import type { MetricName, RolloutSpec } from '../../rollout-spec/types';
import { MetricsUnavailableError } from '../errors';
import type { MetricSample, PreflightProblem } from '../types';
import { answerInstantQuery } from './prometheus-client';
import { mapLimit, renderMetricQuery, requirePrometheusUrl } from './run-queries';

/** Options of {@link preflightMetricQueries}. */
export interface PreflightOptions {
  fetch?: typeof fetch;
  /** Cancellation: rethrown. */
  signal?: AbortSignal;
  /** Queries against this Prometheus instead of `spec.metrics.prometheusUrl`. */
  prometheusUrl?: string;
  /** How many queries run at once (default 4). */
  concurrency?: number;
}

/**
 * Outcomes that mean the query cannot work for this service: no series match (metric not exported,
 * wrong labels), Prometheus rejects the query, or it is not aggregated to one series. NaN and ±Inf
 * are fine: the series exist, the value is just undefined right now (e.g. no traffic yet).
 */
const PROBLEM_STATUSES: ReadonlySet<MetricSample['status']> = new Set(['no_data', 'error', 'multiple_series']);

/** The metrics `spec.metrics.optional` lists (read defensively: older specs have no such field). */
export function optionalMetrics(spec: RolloutSpec): ReadonlySet<MetricName> {
  const optional = (spec.metrics as { optional?: readonly MetricName[] | null }).optional;
  return new Set(Array.isArray(optional) ? optional : []);
}

/**
 * Runs each enabled metric (`spec.metrics.queries[m]` not null) once for the stable version over
 * `metrics.defaultWindowMs` and returns a problem for each query that found no series or failed;
 * `[]` when all work. Each query has `metrics.queryTimeoutMs`.
 * @throws MetricsUnavailableError (retryable) when Prometheus does not answer (unreachable, timeout,
 *   5xx): that says nothing about the queries. ConfigError when the URL is not http(s).
 */
export async function preflightMetricQueries(spec: RolloutSpec, opts: PreflightOptions = {}): Promise<PreflightProblem[]> {
  const prometheusUrl = requirePrometheusUrl(opts.prometheusUrl ?? spec.metrics.prometheusUrl);
  const fetchImpl = opts.fetch ?? globalThis.fetch;
  const optional = optionalMetrics(spec);
  const metrics = (Object.keys(spec.metrics.queries) as MetricName[]).filter((m) => spec.metrics.queries[m] !== null);
  const results = await mapLimit(metrics, opts.concurrency ?? 4, async (metric): Promise<PreflightProblem | null> => {
    const rendered = renderMetricQuery(spec, metric, 'baseline', spec.metrics.defaultWindowMs);
    const problem = (query: string, status: MetricSample['status'], detail: string): PreflightProblem => ({
      metric,
      query,
      status,
      detail,
      optional: optional.has(metric),
    });
    if ('problem' in rendered) return problem(rendered.template ?? '', 'error', rendered.problem);
    const answer = await answerInstantQuery({
      prometheusUrl,
      query: rendered.query,
      fetch: fetchImpl,
      timeoutMs: spec.metrics.queryTimeoutMs,
      signal: opts.signal,
    });
    if (answer.httpStatus === undefined || answer.httpStatus >= 500) {
      throw new MetricsUnavailableError(
        `Prometheus at ${prometheusUrl} gave no usable answer to the ${metric} query: ${answer.outcome.detail ?? answer.outcome.status}`,
        prometheusUrl,
      );
    }
    const { status, detail } = answer.outcome;
    if (!PROBLEM_STATUSES.has(status)) return null;
    const why =
      status === 'no_data'
        ? `no series for ${spec.service} ${spec.stable.version} (metric not exported, or its labels do not match)`
        : (detail ?? status);
    return problem(rendered.query, status, why);
  });
  return results.filter((p): p is PreflightProblem => p !== null);
}

/** One problem as `phoenix validate --check-metrics` prints it: `metric: status: detail` and the query. */
export function formatPreflightProblem(p: PreflightProblem): string {
  return `${p.metric}: ${p.status}: ${p.detail}${p.optional ? ' (optional: reported only)' : ''}\n  query: ${p.query}`;
}
