/**
 * Types of the statistical canary judge (issue 11): what the judge is configured with and what it
 * answers. Pure types, no run-time imports, so workflows/contract.ts can re-export them and the
 * workflow bundle stays free of the judge's code.
 *
 * The judge compares samples of each metric for the canary and the baseline (the stable version)
 * over the same window, in the manner of Kayenta's NetflixACAJudge: a two-sided Mann-Whitney U
 * test per metric, an effect size (ratio of means canary/baseline) against a tolerance, a class
 * per metric and a score over all metrics.
 */
import type { MetricName } from '../../rollout-spec/types';

/** Which change of a metric is bad; a change in the other direction passes. */
export type JudgeDirection = 'increase' | 'decrease' | 'either';

/** What to do with NaN samples (Kayenta's `nanStrategy`). */
export type NanStrategy = 'remove' | 'replace';

/** One metric the judge compares. */
export interface JudgeMetricConfig {
  /**
   * A key of `spec.metrics.queries`; its template is rendered with
   * activities/metrics/run-queries.ts `renderMetricQuery` for the canary and for the baseline.
   */
  metric: MetricName;
  /** Which change is bad. */
  direction: JudgeDirection;
  /**
   * Allowed relative change of the effect size (ratio of means canary/baseline) in the bad
   * direction, e.g. 0.1: a ratio up to 1.10 (or down to 0.90) passes even when significant.
   */
  tolerance: number;
  /** A critical metric that is High or Low fails the whole judgement (score 0). */
  critical: boolean;
  /** Weight in the score (> 0). */
  weight: number;
  /** Display group (e.g. "latency"); does not change the score. */
  group: string | null;
  /** Remove outliers (outside `outlierFactor` × IQR beyond the quartiles) from both samples first. */
  removeOutliers: boolean;
}

/** How the judge runs. */
export interface JudgeConfig {
  /** Length of the compared window, ending at the judgement (ms). */
  windowMs: number;
  /** Step of the range query (ms); null: windowMs / 50 or smaller, so that a window has ≥ 50 points. */
  stepMs: number | null;
  /**
   * Range each point's query is rendered with (the template's `{{window}}`, ms); absent or null:
   * stepMs, so that consecutive points share no raw samples (the test assumes independent
   * samples). Must span at least two scrape intervals for rate() to have a value.
   */
  pointWindowMs?: number | null;
  /** Confidence of the Mann-Whitney test (0..1, default 0.98): a metric is significant when p < 1 - confidence. */
  confidence: number;
  /** NaN samples are removed (default) or replaced by 0. */
  nanStrategy: NanStrategy;
  /** IQR factor of outlier removal (Kayenta's default 3.0). */
  outlierFactor: number;
  /** Score at or above which the verdict is pass (e.g. 95). */
  passThreshold: number;
  /** Score at or above which the verdict is marginal (e.g. 75); below it, fail. */
  marginalThreshold: number;
  /** The compared metrics (at least one). */
  metrics: JudgeMetricConfig[];
}

/** Class of one metric: no significant bad change, significantly higher, significantly lower, too few samples. */
export type JudgeClass = 'pass' | 'high' | 'low' | 'nodata';

/** Verdict of one judgement. */
export type JudgeVerdict = 'pass' | 'marginal' | 'fail' | 'nodata';

/** The judgement of one metric (shared contract with workflows/contract.ts). */
export interface JudgeMetricStatus {
  metric: string;
  group: string | null;
  critical: boolean;
  weight: number;
  classification: JudgeClass;
  /** Two-sided Mann-Whitney U p-value; null when not tested (no data). */
  pValue: number | null;
  /**
   * Ratio of means canary/baseline (both means 0: 1). Null when not tested, or when the baseline
   * mean is 0 and the canary's is not (an infinite ratio; the reason says so).
   */
  effectSize: number | null;
  canarySamples: number;
  baselineSamples: number;
  /** One line: why this class. */
  reason: string;
}

/** One judgement over all metrics, and the latest ones (shared contract with workflows/contract.ts). */
export interface JudgeStatus {
  /** ISO time of the judgement. */
  at: string;
  /** 0..100 */
  score: number;
  verdict: JudgeVerdict;
  passThreshold: number;
  marginalThreshold: number;
  metrics: JudgeMetricStatus[];
  /** Latest ≤ 50 judgements, oldest first. */
  history: Array<{ at: string; score: number; verdict: JudgeVerdict }>;
}

/** What `judgeCanary` returns: a status without history (the workflow keeps it), and how long it took. */
export interface JudgeResult {
  status: Omit<JudgeStatus, 'history'>;
  /** Wall time of fetching and judging (ms). */
  durationMs: number;
  /** One line: what decided the verdict (e.g. "critical metric failed: …", "score 75 < 95, ≥ 75; failing: p95_latency"). */
  reason: string;
  /** The compared window: first and last evaluation time (epoch ms), step, points per full series. */
  window: { startMs: number; endMs: number; stepMs: number; pointWindowMs: number; points: number };
}
