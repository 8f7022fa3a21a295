/**
 * The score and verdict of one judgement over its classified metrics, as Kayenta's
 * WeightedSumScorer and ThresholdScoreClassifier do it
 * (spinnaker/kayenta kayenta-judge scorers/WeightedSumScorer.scala; the judge is described at
 * https://spinnaker.io/docs/guides/user/canary/judge, "How canary judgment works"):
 * - a critical metric classified High or Low fails the judgement: score 0, verdict fail;
 * - 50% or more of the metrics NoData: score 0 (Kayenta's NODATA_THRESHOLD), verdict nodata, which
 *   the workflow treats by its no-data policy; unlike Kayenta, a critical metric without data is
 *   not a failure by itself, for the same reason;
 * - otherwise score = 100 × (weight of passing metrics) / (weight of judged, i.e. not NoData,
 *   metrics), rounded to two decimals as Kayenta does; verdict pass at ≥ passThreshold, marginal at
 *   ≥ marginalThreshold, else fail.
 * Kayenta weights groups; here each metric carries its weight and groups only label the display.
 */
import type { JudgeConfig, JudgeMetricStatus, JudgeVerdict } from './types';

/** Kayenta's NODATA_THRESHOLD (percent of metrics). */
export const NODATA_THRESHOLD_PERCENT = 50;

/** Score, verdict and why, for a list of classified metrics. */
export interface JudgeScore {
  score: number;
  verdict: JudgeVerdict;
  /** One line: what decided the verdict. */
  reason: string;
}

/** Scores classified metrics against the thresholds. */
export function scoreMetrics(
  metrics: readonly JudgeMetricStatus[],
  thresholds: Pick<JudgeConfig, 'passThreshold' | 'marginalThreshold'>,
): JudgeScore {
  const criticalFailure = metrics.find((m) => m.critical && (m.classification === 'high' || m.classification === 'low'));
  if (criticalFailure) {
    return { score: 0, verdict: 'fail', reason: `critical metric failed: ${criticalFailure.reason}` };
  }
  const noData = metrics.filter((m) => m.classification === 'nodata').length;
  if (metrics.length === 0 || (noData / metrics.length) * 100 >= NODATA_THRESHOLD_PERCENT) {
    return {
      score: 0,
      verdict: 'nodata',
      reason: `${noData} of ${metrics.length} metrics have no data (${NODATA_THRESHOLD_PERCENT}% or more)`,
    };
  }
  let judged = 0;
  let passing = 0;
  for (const m of metrics) {
    if (m.classification === 'nodata') continue;
    judged += m.weight;
    if (m.classification === 'pass') passing += m.weight;
  }
  const score = Math.round((passing / judged) * 100 * 100) / 100;
  const verdict = score >= thresholds.passThreshold ? 'pass' : score >= thresholds.marginalThreshold ? 'marginal' : 'fail';
  const failed = metrics.filter((m) => m.classification === 'high' || m.classification === 'low').map((m) => m.metric);
  const bar =
    verdict === 'pass'
      ? `≥ ${thresholds.passThreshold}`
      : verdict === 'marginal'
        ? `< ${thresholds.passThreshold}, ≥ ${thresholds.marginalThreshold}`
        : `< ${thresholds.marginalThreshold}`;
  return {
    score,
    verdict,
    reason: `score ${score} ${bar}${failed.length > 0 ? `; failing: ${failed.join(', ')}` : ''}`,
  };
}
