/**
 * Renders and runs a batch of metric queries for one rollout: shared by the `analyseCanary`
 * activity (one deadline for the whole batch), the older `queryMetrics` activity (a timeout per
 * query) and the metric preflight.
 */
import type { Logger } from 'pino';
import { renderQuery } from '../../rollout-spec/queries';
import type { MetricName, RolloutSpec } from '../../rollout-spec/types';
import { ConfigError } from '../errors';
import type { MetricQuery, MetricSample, MetricTarget } from '../types';
import { queryInstant, type SharedDeadline } from './prometheus-client';

/**
 * Renders `metric`'s template for `target` (canary or baseline = stable version) over `windowMs`.
 * Returns the PromQL, or why there is none (disabled metric, unsafe name, bad template).
 */
export function renderMetricQuery(
  spec: RolloutSpec,
  metric: MetricName,
  target: MetricTarget,
  windowMs: number,
): { query: string } | { problem: string; template: string | null } {
  const template = spec.metrics.queries[metric];
  if (typeof template !== 'string') {
    return { problem: `metric ${metric} is disabled (metrics.queries.${metric} is null)`, template: null };
  }
  try {
    return {
      query: renderQuery(template, {
        service: spec.service,
        version: target === 'canary' ? spec.canary.version : spec.stable.version,
        versionLabel: spec.metrics.versionLabel,
        windowMs,
      }),
    };
  } catch (err) {
    return { problem: `invalid query: ${(err as Error).message}`, template };
  }
}

/**
 * Checks `metrics.prometheusUrl` (or an override) is an http(s) URL.
 * @throws ConfigError otherwise.
 */
export function requirePrometheusUrl(url: string | undefined): string {
  if (!/^https?:\/\/[^/]/.test(url ?? '')) {
    throw new ConfigError(`metrics.prometheusUrl must be an http(s) URL, got ${JSON.stringify(url)}`, 'metrics.prometheusUrl');
  }
  return url as string;
}

/** How long the queries of one batch may take. */
export type QueryLimit =
  /** Every query under one deadline; a query still running when it fires is `timeout`. */
  | { kind: 'deadline'; deadline: SharedDeadline }
  /** Each query under its own timeout; a query exceeding it is `error` (the `queryMetrics` behaviour). */
  | { kind: 'per-query'; timeoutMs: number };

/** One batch of queries. */
export interface MetricQueryBatch {
  spec: RolloutSpec;
  queries: readonly MetricQuery[];
  fetch: typeof fetch;
  /** How many queries run at once. */
  concurrency: number;
  limit: QueryLimit;
  /** Cancellation (the activity's): rethrown, never turned into samples. */
  signal?: AbortSignal;
  logger?: Logger;
}

/** Runs every query of the batch, in order; never throws except on cancellation or a bad URL. */
export async function runMetricQueries(batch: MetricQueryBatch): Promise<MetricSample[]> {
  const prometheusUrl = requirePrometheusUrl(batch.spec.metrics.prometheusUrl);
  const { limit } = batch;
  return mapLimit(batch.queries, batch.concurrency, async (q): Promise<MetricSample> => {
    const rendered = renderMetricQuery(batch.spec, q.metric, q.target, q.windowMs);
    if ('problem' in rendered) return { ...q, status: 'error', detail: rendered.problem };
    const outcome = await queryInstant({
      prometheusUrl,
      query: rendered.query,
      fetch: batch.fetch,
      signal: batch.signal,
      ...(limit.kind === 'deadline' ? { deadline: limit.deadline } : { timeoutMs: limit.timeoutMs }),
    });
    batch.logger?.debug({ metric: q.metric, target: q.target, query: rendered.query, ...outcome }, 'metric queried');
    return { ...q, ...outcome };
  });
}

/** `Promise.all` over `items` with at most `limit` running at once, preserving order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(Math.max(1, limit), items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  });
  await Promise.all(workers);
  return results;
}
