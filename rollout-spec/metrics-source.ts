/**
 * The spec's `metrics` block: where canary and baseline metrics are read (Prometheus URL, version
 * label), the PromQL template of each metric, the query defaults, the minimum evidence a check
 * needs (canary requests in its window) and the metrics that may be missing at pre-flight.
 * Sandbox-safe: zod only.
 */
import { z } from 'zod';
import { DEFAULT_MIN_REQUESTS, minRequestsIn, REQUEST_DERIVED_METRICS } from './evidence';
import { durationField, httpUrl, strict } from './fields';
import { DEFAULT_QUERIES, LABEL_NAME, templateProblems } from './queries';
import { METRIC_NAMES, type MetricName } from './types';

const queryTemplate = z
  .string()
  .min(1, 'must not be empty')
  .superRefine((template, ctx) => {
    for (const message of templateProblems(template)) ctx.addIssue({ code: 'custom', message });
  });

const queryOverrides = strict(
  Object.fromEntries(
    METRIC_NAMES.map((name) => [
      name,
      queryTemplate
        .nullable()
        .optional()
        .describe(`PromQL template for ${name}; null disables the metric. Default: \`${DEFAULT_QUERIES[name]}\``),
    ]),
  ) as Record<MetricName, z.ZodOptional<z.ZodNullable<typeof queryTemplate>>>,
).describe(
  'Per-metric PromQL overrides. Placeholders: `{{service}}`, `{{version}}`, `{{versionLabel}}`, `{{window}}`; every template must use `{{window}}` (the check\'s window) and `{{version}}`.',
);

/** A number of requests: a whole number, at least 0. */
const requestMinimum = (description: string) =>
  z
    .number({ error: 'must be a number of requests' })
    .int('must be a whole number of requests')
    .min(0, 'must be at least 0')
    .describe(description);

const minRequestsByMetric = strict(
  Object.fromEntries(
    METRIC_NAMES.map((name) => [
      name,
      requestMinimum(
        `Minimum canary requests in the window before a check of ${name} may pass; 0 turns it off.`,
      ).optional(),
    ]),
  ) as Record<MetricName, z.ZodOptional<ReturnType<typeof requestMinimum>>>,
).describe('Per-metric overrides of minRequests (any metric; 0 turns the minimum off for that metric).');

/** The request_count query is the evidence for every minimum above 0 of an enabled metric. */
function checkRequestCountEnabled(
  m: {
    queries: Partial<Record<MetricName, string | null>>;
    minRequests: number;
    minRequestsByMetric: Partial<Record<MetricName, number | undefined>>;
  },
  ctx: z.RefinementCtx,
): void {
  if (m.queries.request_count !== null) return;
  const evidence = { minRequests: m.minRequests, minRequestsByMetric: definedEntries(m.minRequestsByMetric) };
  const needing = METRIC_NAMES.filter((name) => m.queries[name] !== null)
    .map((name) => [name, minRequestsIn(evidence, name)] as const)
    .filter(([, min]) => min > 0);
  if (needing.length === 0) return;
  ctx.addIssue({
    code: 'custom',
    path: ['queries', 'request_count'],
    message:
      `request_count is disabled (null), but it is the evidence for the minimum requests of ` +
      `${needing.map(([name, min]) => `${name} ≥ ${min}`).join(', ')} (metrics.minRequests, metrics.minRequestsByMetric); ` +
      'give request_count a query, or set those minimums to 0',
  });
}

/** A record without its undefined values (optional keys left out, as in a JSON payload). */
function definedEntries(record: Partial<Record<MetricName, number | undefined>>): Partial<Record<MetricName, number>> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
}

/** `metrics`: the metrics source, normalized to ms and one template (or null) per metric. */
export const metricsSchema = strict({
  prometheusUrl: httpUrl('Prometheus base URL.').default('http://127.0.0.1:9090'),
  versionLabel: z
    .string()
    .regex(LABEL_NAME, 'must be a Prometheus label name')
    .default('version')
    .describe('The label that tells canary from baseline series.'),
  queries: queryOverrides.prefault({}),
  defaultWindow: durationField('Window of validation checks that have no trigger window of their own.').prefault(
    '5m',
  ),
  queryTimeout: durationField('Timeout of one Prometheus query.').prefault('5s'),
  minRequests: requestMinimum(
    `Minimum canary requests (request_count) in a check's window before a check of a request-derived metric (${REQUEST_DERIVED_METRICS.join(', ')}) may pass; fewer never counts as a pass. 0 turns it off. Kayenta asks for at least 50.`,
  ).default(DEFAULT_MIN_REQUESTS),
  minRequestsByMetric: minRequestsByMetric.prefault({}),
  optional: z
    .array(z.enum(METRIC_NAMES))
    .default([])
    .describe('Metrics whose queries may find no series at pre-flight: reported, not fatal.'),
})
  .superRefine(checkRequestCountEnabled)
  .transform((m) => ({
    prometheusUrl: m.prometheusUrl,
    versionLabel: m.versionLabel,
    queries: Object.fromEntries(
      METRIC_NAMES.map((name) => {
        const override = m.queries[name];
        return [name, override === undefined ? DEFAULT_QUERIES[name] : override];
      }),
    ) as Record<MetricName, string | null>,
    defaultWindowMs: m.defaultWindow,
    queryTimeoutMs: m.queryTimeout,
    minRequests: m.minRequests,
    minRequestsByMetric: definedEntries(m.minRequestsByMetric),
    optional: [...new Set(m.optional)],
  }))
  .describe('Where and how canary and baseline metrics are read.');
