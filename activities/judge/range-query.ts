/**
 * Prometheus range queries (`POST /api/v1/query_range`) for the judge, in the manner of
 * activities/metrics/prometheus-client.ts' instant queries: every outcome classified, never a
 * throw for a data or transport problem; only the caller's cancellation is rethrown.
 */
import { z } from 'zod';
import { postPrometheusApi, type SharedDeadline } from '../metrics/prometheus-client';

/** One range query. */
export interface RangeQueryOptions {
  prometheusUrl: string;
  query: string;
  /** Evaluation times start, start+step, … ≤ end (epoch ms). */
  startMs: number;
  endMs: number;
  stepMs: number;
  fetch: typeof fetch;
  /** Limit of this query alone (ms). */
  timeoutMs?: number;
  /** The judgement's deadline: a query unanswered when it fires is a `timeout`. */
  deadline?: SharedDeadline;
  /** The activity's cancellation: rethrown. */
  signal?: AbortSignal;
}

/** What a range query gave: the series' values in time order (NaN kept), or why there are none. */
export type RangeOutcome =
  | { status: 'ok'; values: number[]; timestampsMs: number[] }
  | { status: 'error' | 'timeout' | 'multiple_series'; detail: string };

const matrixSchema = z.object({
  status: z.literal('success'),
  data: z.object({
    resultType: z.string(),
    result: z.array(
      z.object({ metric: z.record(z.string(), z.string()), values: z.array(z.tuple([z.number(), z.string()])).optional() }),
    ),
  }),
});
const errorSchema = z.object({ status: z.literal('error'), errorType: z.string(), error: z.string() });

/**
 * Classifies a decoded `/api/v1/query_range` body. An empty matrix is `ok` with no values (the
 * expression had no value at any step): the judge calls that no data.
 */
export function classifyRangeResponse(httpStatus: number, body: unknown): RangeOutcome {
  const failed = errorSchema.safeParse(body);
  if (failed.success) return { status: 'error', detail: `HTTP ${httpStatus} ${failed.data.errorType}: ${failed.data.error}` };
  const ok = matrixSchema.safeParse(body);
  if (!ok.success || httpStatus !== 200) {
    return { status: 'error', detail: `HTTP ${httpStatus}: unexpected response body ${JSON.stringify(body).slice(0, 200)}` };
  }
  const { resultType, result } = ok.data.data;
  if (resultType !== 'matrix') return { status: 'error', detail: `expected a matrix, got ${resultType}` };
  if (result.length === 0) return { status: 'ok', values: [], timestampsMs: [] };
  if (result.length > 1) {
    const shown = result.slice(0, 3).map((s) => JSON.stringify(s.metric));
    return { status: 'multiple_series', detail: `${result.length} series: ${shown.join(', ')}; the template must aggregate to one` };
  }
  const points = (result[0] as { values?: Array<[number, string]> }).values ?? [];
  // Number('NaN') is NaN and Number('+Inf') is Infinity: the judge's NaN strategy decides about both.
  return { status: 'ok', values: points.map(([, v]) => Number(v)), timestampsMs: points.map(([t]) => Math.round(t * 1000)) };
}

/** Runs one range query. */
export async function queryRange(opts: RangeQueryOptions): Promise<RangeOutcome> {
  const answer = await postPrometheusApi(opts, '/api/v1/query_range', {
    query: opts.query,
    start: String(opts.startMs / 1000),
    end: String(opts.endMs / 1000),
    step: String(opts.stepMs / 1000),
  });
  if (answer.kind === 'failed') return { status: answer.status, detail: answer.detail };
  return classifyRangeResponse(answer.httpStatus, answer.body);
}
