/**
 * Classifies one metric from its canary and baseline samples: Pass, High, Low or NoData, with the
 * p-value, the effect size and a one-line reason a user can act on. Pure.
 *
 * 1. Cleaning: NaN and ±Inf samples (Prometheus' answer to 0/0 or x/0, e.g. an error rate with no
 *    requests in a step) are removed, or replaced by 0 with `nanStrategy: 'replace'` (Kayenta's two
 *    NaN strategies). Then, if the metric asks for it, IQR outliers are removed from each side
 *    separately (statistics.ts `removeOutliers`, factor `outlierFactor`).
 * 2. NoData when either side has fewer than {@link MIN_SAMPLES} samples, or so few that even two
 *    completely separated samples could not reach p < 1 - confidence (the smallest two-sided
 *    p-value of n1 vs n2 samples is 2 / C(n1+n2, n1): at 0.98 confidence 4 vs 4 can never be
 *    significant, 4 vs 5 can). Judging such a metric would pass it whatever its values.
 * 3. Two-sided Mann-Whitney U test of canary vs baseline; significant when p < 1 - confidence.
 * 4. Effect size: mean(canary) / mean(baseline). High when significant, the canary ranks higher
 *    and the ratio exceeds 1 + tolerance; Low when significant, the canary ranks lower and the
 *    ratio is below 1 - tolerance. A High on a metric whose bad direction is `decrease` (or a Low
 *    on `increase`) is a harmless change and passes, and the reason says so. A baseline mean of 0
 *    with a higher canary is an infinite ratio (e.g. errors where the baseline had none): High if
 *    significant.
 */
import { formatMetricValue, formatP, formatRatio } from './format';
import { mannWhitneyU, meanRatio, removeOutliers, sampleMean } from './statistics';
import type { JudgeConfig, JudgeMetricConfig, JudgeMetricStatus } from './types';

/** Fewest samples per side the judge tests at all. */
export const MIN_SAMPLES = 3;

/** The parts of the judge's config that classification reads. */
export type ClassifyOptions = Pick<JudgeConfig, 'confidence' | 'nanStrategy' | 'outlierFactor'>;

/** Raw samples of one metric (NaN allowed: they are cleaned here). */
export interface MetricSamples {
  canary: readonly number[];
  baseline: readonly number[];
}

/** Classifies one metric; never throws on data. */
export function classifyMetric(
  config: JudgeMetricConfig,
  samples: MetricSamples,
  options: ClassifyOptions,
): JudgeMetricStatus {
  const canary = clean(samples.canary, config, options);
  const baseline = clean(samples.baseline, config, options);
  const base = {
    metric: config.metric,
    group: config.group,
    critical: config.critical,
    weight: config.weight,
    canarySamples: canary.values.length,
    baselineSamples: baseline.values.length,
  };
  const alpha = 1 - options.confidence;
  const counts = sampleCounts(canary, baseline, options.nanStrategy);

  const tooFew = tooFewReason(canary.values.length, baseline.values.length, alpha);
  if (tooFew !== null) {
    return { ...base, classification: 'nodata', pValue: null, effectSize: null, reason: `${config.metric} no data: ${tooFew}` };
  }

  const test = mannWhitneyU(canary.values, baseline.values);
  const ratio = meanRatio(canary.values, baseline.values);
  const significant = test.pValue < alpha;
  const canaryRanksHigher = test.u1 > (canary.values.length * baseline.values.length) / 2;
  const up = significant && canaryRanksHigher && ratio > 1 + config.tolerance;
  const down = significant && !canaryRanksHigher && ratio < 1 - config.tolerance;
  const increaseBad = config.direction !== 'decrease';
  const decreaseBad = config.direction !== 'increase';
  const classification = up && increaseBad ? 'high' : down && decreaseBad ? 'low' : 'pass';

  const values = `canary ${formatMetricValue(config.metric, sampleMean(canary.values))} vs baseline ${formatMetricValue(
    config.metric,
    sampleMean(baseline.values),
  )}`;
  const p = `p=${formatP(test.pValue)} ${significant ? '<' : '≥'} ${formatP(alpha)}`;
  let effect: string;
  if (up || down) {
    const allowed = formatRatio(up ? 1 + config.tolerance : 1 - config.tolerance);
    const shown = ratio === Infinity ? 'baseline 0' : `${formatRatio(ratio)} ${up ? '>' : '<'} ${allowed} allowed`;
    effect = classification === 'pass' ? `${shown}; ${up ? 'higher' : 'lower'} is harmless` : shown;
  } else if (significant) {
    effect = `${formatRatio(ratio)} within ${formatRatio(1 - config.tolerance)}..${formatRatio(1 + config.tolerance)} allowed`;
  } else {
    effect = `${formatRatio(ratio)}, no significant difference`;
  }
  return {
    ...base,
    classification,
    pValue: test.pValue,
    effectSize: Number.isFinite(ratio) ? ratio : null,
    reason: `${config.metric} ${classification}: ${values} (${effect}), ${p}, ${counts}`,
  };
}

interface Cleaned {
  values: number[];
  nonFinite: number;
  outliers: number;
}

function clean(raw: readonly number[], config: JudgeMetricConfig, options: ClassifyOptions): Cleaned {
  const finite = raw.filter((v) => Number.isFinite(v));
  const nonFinite = raw.length - finite.length;
  const kept = options.nanStrategy === 'replace' ? raw.map((v) => (Number.isFinite(v) ? v : 0)) : finite;
  if (!config.removeOutliers) return { values: kept, nonFinite, outliers: 0 };
  const values = removeOutliers(kept, options.outlierFactor);
  return { values, nonFinite, outliers: kept.length - values.length };
}

function sampleCounts(canary: Cleaned, baseline: Cleaned, nanStrategy: ClassifyOptions['nanStrategy']): string {
  const dropped: string[] = [];
  const nonFinite = canary.nonFinite + baseline.nonFinite;
  const outliers = canary.outliers + baseline.outliers;
  if (nonFinite > 0) dropped.push(`${nonFinite} NaN ${nanStrategy === 'replace' ? 'replaced by 0' : 'dropped'}`);
  if (outliers > 0) dropped.push(`${outliers} outlier${outliers === 1 ? '' : 's'} removed`);
  const counts = `${canary.values.length}/${baseline.values.length} samples`;
  return dropped.length > 0 ? `${counts} (${dropped.join(', ')})` : counts;
}

/** Why n1 vs n2 samples cannot be judged, or null when they can. */
export function tooFewReason(n1: number, n2: number, alpha: number): string | null {
  if (n1 < MIN_SAMPLES || n2 < MIN_SAMPLES) {
    return `canary ${n1} and baseline ${n2} samples, at least ${MIN_SAMPLES} each needed`;
  }
  if (smallestPValue(n1, n2) >= alpha) {
    return `canary ${n1} and baseline ${n2} samples cannot show a difference at p < ${formatP(alpha)}`;
  }
  return null;
}

/** 2 / C(n1+n2, n1): the two-sided p-value of complete separation, the smallest there is. */
function smallestPValue(n1: number, n2: number): number {
  let combinations = 1;
  const k = Math.min(n1, n2);
  for (let i = 1; i <= k && combinations < 1e12; i++) combinations = (combinations * (n1 + n2 - k + i)) / i;
  return Math.min(1, 2 / combinations);
}
