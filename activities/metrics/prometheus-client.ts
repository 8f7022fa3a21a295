/**
 * Prometheus HTTP API instant queries, with every outcome classified. A query never throws for a
 * data or transport problem: an outage or a bad query is an `error` outcome the workflow's no-data
 * policy decides about. Only the caller's cancellation is rethrown.
 */
import { z } from 'zod';
import type { MetricSample } from '../types';

/** The classified result of one instant query. */
export interface QueryOutcome {
  status: MetricSample['status'];
  value?: number;
  /** With `status: 'infinite'`: `+Inf` (1) or `-Inf` (-1). */
  sign?: 1 | -1;
  detail?: string;
}

const sampleValue = z.tuple([z.number(), z.string()]);
const successSchema = z.object({
  status: z.literal('success'),
  data: z.discriminatedUnion('resultType', [
    z.object({
      resultType: z.literal('vector'),
      result: z.array(z.object({ metric: z.record(z.string(), z.string()), value: sampleValue })),
    }),
    z.object({ resultType: z.literal('scalar'), result: sampleValue }),
    z.object({ resultType: z.literal('matrix'), result: z.array(z.unknown()) }),
    z.object({ resultType: z.literal('string'), result: sampleValue }),
  ]),
  warnings: z.array(z.string()).optional(),
});
const errorSchema = z.object({ status: z.literal('error'), errorType: z.string(), error: z.string() });

/**
 * A deadline shared by several queries (one analysis): when `signal` fires before a query has
 * answered, the query's outcome is `timeout` with `detail`, not an error and not a throw.
 */
export interface SharedDeadline {
  signal: AbortSignal;
  detail: string;
}

/** Options of one query. */
export interface InstantQueryOptions {
  prometheusUrl: string;
  query: string;
  fetch: typeof fetch;
  /** Limit of this query alone (ms); an unanswered query is an `error` "timed out after N ms". */
  timeoutMs?: number;
  /** The analysis deadline, see {@link SharedDeadline}. */
  deadline?: SharedDeadline;
  /** Usually the activity's cancellation signal: its abort is rethrown (it is not a data problem). */
  signal?: AbortSignal;
}

/** An outcome and how it arrived: `httpStatus` is absent when Prometheus gave no answer at all. */
export interface InstantQueryAnswer {
  outcome: QueryOutcome;
  /** HTTP status of Prometheus' answer; undefined when unreachable, timed out or past the deadline. */
  httpStatus?: number;
}

// Not "histogram_quantile above the highest bucket": for a classic histogram Prometheus answers
// the highest finite bucket bound then (checked against Prometheus 2.42, see the tests).
const INFINITE_DETAIL = {
  1: '+Inf (an infinite value, e.g. a division by zero)',
  [-1]: '-Inf (an infinite value, e.g. a negative number divided by zero)',
} as const;

/** Classifies Prometheus' sample string ("1.5", "NaN", "+Inf", "-Inf"). */
export function classifyValue(raw: string): QueryOutcome {
  const text = raw.trim();
  if (/^[+]?inf$/i.test(text)) return { status: 'infinite', sign: 1, detail: INFINITE_DETAIL[1] };
  if (/^-inf$/i.test(text)) return { status: 'infinite', sign: -1, detail: INFINITE_DETAIL[-1] };
  const value = Number(text);
  if (text === '' || !Number.isFinite(value)) return { status: 'not_a_number', detail: `value is ${raw}` };
  return { status: 'ok', value };
}

/**
 * Classifies a decoded `/api/v1/query` response body (any HTTP status).
 * Exported separately so the rules can be read and tested without a server.
 */
export function classifyResponse(httpStatus: number, body: unknown): QueryOutcome {
  const failed = errorSchema.safeParse(body);
  if (failed.success) {
    return { status: 'error', detail: `HTTP ${httpStatus} ${failed.data.errorType}: ${failed.data.error}` };
  }
  const ok = successSchema.safeParse(body);
  if (!ok.success || httpStatus !== 200) {
    return { status: 'error', detail: `HTTP ${httpStatus}: unexpected response body ${JSON.stringify(body).slice(0, 200)}` };
  }
  const data = ok.data.data;
  switch (data.resultType) {
    case 'scalar':
      return classifyValue(data.result[1]);
    case 'vector': {
      if (data.result.length === 0) return { status: 'no_data', detail: 'empty vector' };
      if (data.result.length > 1) {
        const shown = data.result.slice(0, 3).map((s) => JSON.stringify(s.metric));
        return { status: 'multiple_series', detail: `${data.result.length} series: ${shown.join(', ')}` };
      }
      return classifyValue((data.result[0] as { value: [number, string] }).value[1]);
    }
    case 'matrix':
      return { status: 'error', detail: 'query returned a range vector; the template needs an aggregation over it' };
    case 'string':
      return { status: 'error', detail: 'query returned a string, not a number' };
  }
}

/** Options of one call of the Prometheus HTTP API (instant or range). */
export type PrometheusRequestOptions = Omit<InstantQueryOptions, 'query'>;

/**
 * What one POST to the Prometheus HTTP API gave: a decoded JSON body, or why there is none (no
 * answer in time, unreachable, not JSON). The caller's cancellation is rethrown.
 */
export type PrometheusAnswer =
  | { kind: 'body'; httpStatus: number; body: unknown }
  | { kind: 'failed'; status: 'timeout' | 'error'; detail: string; httpStatus?: number };

/** POSTs `params` to `apiPath` (e.g. `/api/v1/query`) of `opts.prometheusUrl` under the options' limits. */
export async function postPrometheusApi(
  opts: PrometheusRequestOptions,
  apiPath: string,
  params: Record<string, string>,
): Promise<PrometheusAnswer> {
  const endpoint = `${opts.prometheusUrl.replace(/\/+$/, '')}${apiPath}`;
  const timeout = opts.timeoutMs === undefined ? undefined : AbortSignal.timeout(opts.timeoutMs);
  const signals = [opts.signal, opts.deadline?.signal, timeout].filter((s): s is AbortSignal => s !== undefined);
  const signal = signals.length > 0 ? AbortSignal.any(signals) : undefined;
  let res: Response;
  let text: string;
  try {
    signal?.throwIfAborted();
    res = await opts.fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params).toString(),
      signal,
    });
    text = await res.text();
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? err; // activity cancelled: not a data problem
    if (opts.deadline?.signal.aborted) return { kind: 'failed', status: 'timeout', detail: opts.deadline.detail };
    const detail = timeout?.aborted ? `timed out after ${opts.timeoutMs} ms` : `request failed: ${describe(err)}`;
    return { kind: 'failed', status: 'error', detail };
  }
  try {
    return { kind: 'body', httpStatus: res.status, body: JSON.parse(text) as unknown };
  } catch {
    return { kind: 'failed', status: 'error', detail: `HTTP ${res.status}: response is not JSON: ${text.slice(0, 200)}`, httpStatus: res.status };
  }
}

/**
 * Runs one instant query (`POST /api/v1/query`, evaluated at the server's "now") and says whether
 * Prometheus answered at all, so callers can tell a bad query from an unreachable server.
 */
export async function answerInstantQuery(opts: InstantQueryOptions): Promise<InstantQueryAnswer> {
  const answer = await postPrometheusApi(opts, '/api/v1/query', { query: opts.query });
  if (answer.kind === 'failed') {
    return { outcome: { status: answer.status, detail: answer.detail }, ...(answer.httpStatus !== undefined ? { httpStatus: answer.httpStatus } : {}) };
  }
  return { outcome: classifyResponse(answer.httpStatus, answer.body), httpStatus: answer.httpStatus };
}

/** Runs one instant query and returns its classified outcome (see {@link answerInstantQuery}). */
export async function queryInstant(opts: InstantQueryOptions): Promise<QueryOutcome> {
  return (await answerInstantQuery(opts)).outcome;
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? ` (${(err.cause as NodeJS.ErrnoException).code ?? err.cause.message})` : '';
  return `${err.message}${cause}`;
}
