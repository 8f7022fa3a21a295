/**
 * Prometheus HTTP API instant queries, with every outcome classified. A query never throws: an
 * outage or a bad query is an `error` outcome the workflow's no-data policy decides about.
 */
import { z } from 'zod';
import type { MetricSample } from '../types';

/** The classified result of one instant query. */
export interface QueryOutcome {
  status: MetricSample['status'];
  value?: number;
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

/** Options of one query. */
export interface InstantQueryOptions {
  prometheusUrl: string;
  query: string;
  timeoutMs: number;
  fetch: typeof fetch;
  /** Usually the activity's cancellation signal. */
  signal?: AbortSignal;
}

/** Classifies Prometheus' sample string ("1.5", "NaN", "+Inf"). */
export function classifyValue(raw: string): QueryOutcome {
  const value = Number(raw);
  if (raw.trim() === '' || Number.isNaN(value) || !Number.isFinite(value)) {
    return { status: 'not_a_number', detail: `value is ${raw}` };
  }
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

/** Runs one instant query (`POST /api/v1/query`, evaluated at the server's "now"). */
export async function queryInstant(opts: InstantQueryOptions): Promise<QueryOutcome> {
  const endpoint = `${opts.prometheusUrl.replace(/\/+$/, '')}/api/v1/query`;
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  let res: Response;
  let text: string;
  try {
    res = await opts.fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: opts.query }).toString(),
      signal,
    });
    text = await res.text();
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? err; // activity cancelled: not a data problem
    const detail = timeout.aborted ? `timed out after ${opts.timeoutMs} ms` : `request failed: ${describe(err)}`;
    return { status: 'error', detail };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { status: 'error', detail: `HTTP ${res.status}: response is not JSON: ${text.slice(0, 200)}` };
  }
  return classifyResponse(res.status, body);
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? ` (${(err.cause as NodeJS.ErrnoException).code ?? err.cause.message})` : '';
  return `${err.message}${cause}`;
}
