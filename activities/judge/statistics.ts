/**
 * The judge's statistics: pure, deterministic, no I/O.
 *
 * ## Mann-Whitney U (two-sided), as SciPy's `mannwhitneyu(x, y, alternative='two-sided', method='auto')`
 * SciPy 1.17 (scipy/stats/_mannwhitneyu.py) is the reference; test/fixtures/judge holds its answers.
 * 1. Rank the pooled sample (ties get their average rank). U1 = R1 - n1(n1+1)/2, where R1 is the
 *    rank sum of `x`; U2 = n1·n2 - U1; the test uses U = max(U1, U2). The statistic returned is U1.
 * 2. Method: exact when min(n1, n2) ≤ 8 and there are no ties, otherwise the normal approximation
 *    (SciPy's `_mwu_choose_method`: "asymptotic" if both n > 8, else "asymptotic" if any tie).
 * 3. Exact: under H0 every arrangement of the pooled ranks is equally likely; the number with
 *    U1 = u is the coefficient of q^u in the Gaussian binomial [n1+n2 choose n1]_q. It is built
 *    as ∏_{i=1..m} (1 - q^{n+i}) / (1 - q^i) (m = min size, n = max), truncated at the degree
 *    needed, in BigInt so the counts are exact integers. By symmetry P(U' ≥ U) = P(U' ≤ n1n2 - U),
 *    and p = 2·P(U' ≤ n1n2 - U) / C(n1+n2, n1), clipped to 1.
 * 4. Asymptotic: z = (U - n1n2/2 - 0.5) / σ with the tie-corrected
 *    σ = sqrt(n1n2/12 · ((n+1) - Σ(t³-t) / (n(n-1)))), t the size of each tie group, n = n1+n2;
 *    the -0.5 is the continuity correction (SciPy subtracts it since U ≥ the mean). p = 2·(1 - Φ(z)),
 *    clipped to 1. All values equal gives σ = 0, z = -∞ and p = 1, as in SciPy.
 *    1 - Φ(z) = erfc(z/√2)/2, with erfc from its power series below 2 and its continued fraction
 *    (modified Lentz) above, good to ~1e-14 relative. simple-statistics does not fit here: its
 *    normal CDF is a 4-digit table, and its `errorFunction` (a 1.2e-7 approximation) returns erf,
 *    so 1 - erf loses a small tail's digits to cancellation and rounds tails below ~1e-16 to 0.
 *    It is used for the mean (compensated summation); its quantiles are R's type 7, not the
 *    p(n+1) estimator Kayenta's outlier fences use.
 *
 * ## Outliers (Kayenta's IQRDetector)
 * Tukey fences Q1 - k·IQR and Q3 + k·IQR, quartiles by Apache Commons Math's `StatUtils.percentile`
 * (the "legacy" estimator Kayenta calls: position p·(n+1), linear interpolation, clamped to the
 * extremes). Kayenta additionally widens the fences to the 1st/99th percentiles
 * (`reduceSensitivity`); with that, nothing above the 99th percentile of fewer than 100 points is
 * ever removed, so it is left out here.
 */
import { createRequire } from 'node:module';
import type * as SimpleStatistics from 'simple-statistics' with { 'resolution-mode': 'import' };

// simple-statistics is an ES module whose types TypeScript will not let this CommonJS project
// `import`; its CommonJS build loads fine with require, typed by a type-only import.
const { mean } = createRequire(__filename)('simple-statistics') as typeof SimpleStatistics;

/** Which distribution gave the p-value. */
export type MannWhitneyMethod = 'exact' | 'asymptotic';

/** Result of {@link mannWhitneyU}. */
export interface MannWhitneyResult {
  /** U statistic of the first sample (SciPy's `statistic`). */
  u1: number;
  /** Two-sided p-value. */
  pValue: number;
  method: MannWhitneyMethod;
}

/** SciPy's `_mwu_choose_method`: exact only for a small sample without ties. */
const EXACT_MAX_SMALLER_SIZE = 8;

/**
 * Two-sided Mann-Whitney U test of `x` against `y` (see the file header for the algorithm).
 * @throws RangeError if a sample is empty or holds a non-finite value.
 */
export function mannWhitneyU(x: readonly number[], y: readonly number[]): MannWhitneyResult {
  const n1 = x.length;
  const n2 = y.length;
  if (n1 === 0 || n2 === 0) throw new RangeError('mannWhitneyU needs two non-empty samples');
  for (const v of [...x, ...y]) {
    if (!Number.isFinite(v)) throw new RangeError(`mannWhitneyU needs finite values, got ${v}`);
  }
  const { ranks, tieSizes } = averageRanks([...x, ...y]);
  let r1 = 0;
  for (let i = 0; i < n1; i++) r1 += ranks[i] as number;
  const u1 = r1 - (n1 * (n1 + 1)) / 2;
  const u = Math.max(u1, n1 * n2 - u1);
  const ties = tieSizes.some((t) => t > 1);
  if (!ties && (n1 <= EXACT_MAX_SMALLER_SIZE || n2 <= EXACT_MAX_SMALLER_SIZE)) {
    return { u1, pValue: Math.min(1, 2 * exactCdf(n1, n2, n1 * n2 - u)), method: 'exact' };
  }
  const n = n1 + n2;
  let tieTerm = 0;
  for (const t of tieSizes) tieTerm += t ** 3 - t;
  const sigma = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1))));
  const z = (u - (n1 * n2) / 2 - 0.5) / sigma;
  return { u1, pValue: Math.min(1, 2 * normalSf(z)), method: 'asymptotic' };
}

/** Average ranks (1-based) of `values` in their order, and the size of every group of equal values. */
export function averageRanks(values: readonly number[]): { ranks: number[]; tieSizes: number[] } {
  const order = values.map((v, i) => ({ v, i })).sort((a, b) => a.v - b.v || a.i - b.i);
  const ranks = new Array<number>(values.length);
  const tieSizes: number[] = [];
  for (let start = 0; start < order.length; ) {
    let end = start + 1;
    while (end < order.length && (order[end] as { v: number }).v === (order[start] as { v: number }).v) end++;
    const rank = (start + 1 + end) / 2; // mean of ranks start+1 .. end
    for (let k = start; k < end; k++) ranks[(order[k] as { i: number }).i] = rank;
    tieSizes.push(end - start);
    start = end;
  }
  return { ranks, tieSizes };
}

/**
 * P(U1 ≤ k) under H0 for sample sizes n1, n2 without ties: the first k+1 coefficients of the
 * Gaussian binomial [n1+n2 choose n1]_q over C(n1+n2, n1), counted exactly in BigInt.
 */
export function exactCdf(n1: number, n2: number, k: number): number {
  if (k < 0) return 0;
  if (k >= n1 * n2) return 1;
  const m = Math.min(n1, n2);
  const n = Math.max(n1, n2);
  const c = new Array<bigint>(k + 1).fill(0n);
  c[0] = 1n;
  for (let i = 1; i <= m; i++) {
    const up = n + i;
    for (let j = k; j >= up; j--) c[j] = (c[j] as bigint) - (c[j - up] as bigint); // × (1 - q^(n+i))
    for (let j = i; j <= k; j++) c[j] = (c[j] as bigint) + (c[j - i] as bigint); // ÷ (1 - q^i)
  }
  let below = 0n;
  for (const count of c) below += count;
  return Number(below) / Number(binomial(n1 + n2, m));
}

function binomial(n: number, k: number): bigint {
  let result = 1n;
  for (let i = 1; i <= k; i++) result = (result * BigInt(n - k + i)) / BigInt(i);
  return result;
}

/** Upper tail of the standard normal distribution, 1 - Φ(z) (SciPy's `ndtr(-z)`). */
export function normalSf(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
const SERIES_LIMIT = 2;

/** Complementary error function, ~1e-14 relative accuracy over the doubles. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x === Infinity) return 0;
  if (x < SERIES_LIMIT) {
    // erf(x) = 2/√π · e^{-x²} · Σ 2ⁿ x^{2n+1} / (1·3·…·(2n+1)): every term positive, no cancellation.
    let term = x;
    let total = x;
    for (let k = 1; k < 200 && term > total * 1e-17; k++) {
      term *= (2 * x * x) / (2 * k + 1);
      total += term;
    }
    return 1 - TWO_OVER_SQRT_PI * Math.exp(-x * x) * total;
  }
  // erfc(x) = e^{-x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), by the modified Lentz method.
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let j = 1; j < 5000; j++) {
    const a = j / 2;
    d = x + a * d;
    d = Math.abs(d) < tiny ? 1 / tiny : 1 / d;
    c = x + a / c;
    if (Math.abs(c) < tiny) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

/**
 * Percentile `p` (0 < p ≤ 100) of sorted values as Apache Commons Math's `StatUtils.percentile`
 * (legacy estimator): position p(n+1)/100, linear interpolation, the extremes outside.
 */
export function percentileSorted(sorted: readonly number[], p: number): number {
  const n = sorted.length;
  if (n === 0) throw new RangeError('percentile of an empty sample');
  const pos = (p * (n + 1)) / 100;
  if (pos < 1) return sorted[0] as number;
  if (pos >= n) return sorted[n - 1] as number;
  const lower = sorted[Math.floor(pos) - 1] as number;
  const upper = sorted[Math.floor(pos)] as number;
  return lower + (pos - Math.floor(pos)) * (upper - lower);
}

/** The values within the Tukey fences Q1 - factor·IQR .. Q3 + factor·IQR, in their order. */
export function removeOutliers(values: readonly number[], factor: number): number[] {
  if (values.length === 0) return [];
  const sorted = [...values].sort((a, b) => a - b);
  const q1 = percentileSorted(sorted, 25);
  const q3 = percentileSorted(sorted, 75);
  const iqr = q3 - q1;
  const low = q1 - factor * iqr;
  const high = q3 + factor * iqr;
  return values.filter((v) => v >= low && v <= high);
}

/** Arithmetic mean (compensated summation, from simple-statistics); NaN for an empty sample. */
export function sampleMean(values: readonly number[]): number {
  return values.length === 0 ? NaN : mean(values);
}

/**
 * Effect size: mean(canary) / mean(baseline). Both means 0: 1 (no change). A baseline mean of 0
 * with a non-zero canary mean: ±Infinity (any error where the baseline had none is an increase).
 */
export function meanRatio(canary: readonly number[], baseline: readonly number[]): number {
  const c = sampleMean(canary);
  const b = sampleMean(baseline);
  if (b === 0) return c === 0 ? 1 : c > 0 ? Infinity : -Infinity;
  return c / b;
}
