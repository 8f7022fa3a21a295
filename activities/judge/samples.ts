/**
 * Fetches the judge's samples: for every judged metric, the canary's and the baseline's values over
 * the same window and step, by one range query each (the spec's template rendered by
 * activities/metrics/run-queries.ts `renderMetricQuery`, with `{{window}}` = the point window).
 */
import { freshBaselineTemplate } from '../../rollout-spec/fresh-baseline';
import type { RolloutSpec } from '../../rollout-spec/types';
import type { SharedDeadline } from '../metrics/prometheus-client';
import { mapLimit, renderMetricQuery, requirePrometheusUrl } from '../metrics/run-queries';
import type { MetricTarget } from '../types';
import { queryRange, type RangeOutcome } from './range-query';
import type { JudgeConfig, JudgeMetricConfig } from './types';

/** Points per window the default step aims for (issue 11: at least 50). */
export const DEFAULT_POINTS = 50;

/** The evaluation grid of one judgement. */
export interface SampleWindow {
  /** First and last evaluation time (epoch ms), both on the step grid. */
  startMs: number;
  endMs: number;
  stepMs: number;
  /** `{{window}}` of each point's query. */
  pointWindowMs: number;
  /** How many points a series with a value at every step has. */
  points: number;
}

/**
 * The grid for a judgement at `nowMs`: the step (given, or windowMs/50 rounded down to whole ms),
 * the end aligned down to the step so repeated judgements share a grid, and the start so that the
 * points' own windows tile exactly `windowMs` ending at `endMs`.
 */
export function planWindow(config: Pick<JudgeConfig, 'windowMs' | 'stepMs' | 'pointWindowMs'>, nowMs: number): SampleWindow {
  const stepMs = config.stepMs ?? Math.max(1, Math.floor(config.windowMs / DEFAULT_POINTS));
  const points = Math.max(1, Math.floor(config.windowMs / stepMs));
  const endMs = Math.floor(nowMs / stepMs) * stepMs;
  return { startMs: endMs - (points - 1) * stepMs, endMs, stepMs, pointWindowMs: config.pointWindowMs ?? stepMs, points };
}

/** One metric's samples, or why a side has none. */
export interface FetchedMetric {
  config: JudgeMetricConfig;
  canary: RangeOutcome;
  baseline: RangeOutcome;
}

/** What {@link fetchSamples} needs. */
export interface FetchSamplesOptions {
  spec: RolloutSpec;
  config: JudgeConfig;
  window: SampleWindow;
  fetch: typeof fetch;
  /** Queries at once (each metric is two). */
  concurrency?: number;
  deadline?: SharedDeadline;
  signal?: AbortSignal;
}

/** Fetches both sides of every metric; a failed query is an outcome, not a throw (except cancellation). */
export async function fetchSamples(opts: FetchSamplesOptions): Promise<FetchedMetric[]> {
  const prometheusUrl = requirePrometheusUrl(opts.spec.metrics.prometheusUrl);
  const jobs = opts.config.metrics.flatMap((m) => (['canary', 'baseline'] as const).map((target) => ({ m, target })));
  const outcomes = await mapLimit(jobs, opts.concurrency ?? 8, ({ m, target }) => fetchSide(opts, prometheusUrl, m, target));
  return opts.config.metrics.map((config, i) => ({
    config,
    canary: outcomes[2 * i] as RangeOutcome,
    baseline: outcomes[2 * i + 1] as RangeOutcome,
  }));
}

async function fetchSide(
  opts: FetchSamplesOptions,
  prometheusUrl: string,
  metric: JudgeMetricConfig,
  target: 'canary' | 'baseline',
): Promise<RangeOutcome> {
  // The baseline is the stable version (run-queries' 'baseline' target); a fresh baseline is the
  // stable version's series that also carry the baseline's track label, never the long-running stable's.
  const rendered = renderMetricQuery(baselineSpec(opts.spec, target), metric.metric, target satisfies MetricTarget, opts.window.pointWindowMs);
  if ('problem' in rendered) return { status: 'error', detail: rendered.problem };
  return queryRange({
    prometheusUrl,
    query: rendered.query,
    startMs: opts.window.startMs,
    endMs: opts.window.endMs,
    stepMs: opts.window.stepMs,
    fetch: opts.fetch,
    ...(opts.deadline ? { deadline: opts.deadline } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}

/** The spec whose templates render `target`'s side: with `judge.freshBaseline`, the baseline side selects the fresh instance. */
function baselineSpec(spec: RolloutSpec, target: 'canary' | 'baseline'): RolloutSpec {
  if (target !== 'baseline' || !spec.judge?.freshBaseline) return spec;
  const queries = Object.fromEntries(
    Object.entries(spec.metrics.queries).map(([name, template]) => [name, typeof template === 'string' ? freshBaselineTemplate(template) : template]),
  ) as RolloutSpec['metrics']['queries'];
  return { ...spec, metrics: { ...spec.metrics, queries } };
}
