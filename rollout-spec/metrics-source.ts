/**
 * The spec's `metrics` block: where canary and baseline metrics are read (Prometheus URL, version
 * label), the PromQL template of each metric and the query defaults. Sandbox-safe: zod only.
 */
import { z } from 'zod';
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
  'Per-metric PromQL overrides. Placeholders: `{{service}}`, `{{version}}`, `{{versionLabel}}`, `{{window}}`.',
);

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
})
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
  }))
  .describe('Where and how canary and baseline metrics are read.');
