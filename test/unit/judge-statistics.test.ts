/**
 * activities/judge/statistics.ts against SciPy's answers (test/fixtures/judge, made by
 * scripts/judge-fixtures/make-fixtures.py): U and p-value of every Mann-Whitney case, the normal
 * tail, and IQR outlier removal with the p(n+1) percentile.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  averageRanks,
  erfc,
  exactCdf,
  mannWhitneyU,
  meanRatio,
  normalSf,
  percentileSorted,
  removeOutliers,
} from '../../activities/judge/statistics';

interface Fixtures {
  scipy: string;
  mannwhitneyu: Array<{ name: string; x: number[]; y: number[]; statistic: number; pvalue: number; method: 'exact' | 'asymptotic' }>;
  iqr: Array<{ name: string; values: number[]; factor: number; q1: number; q3: number; kept: number[] }>;
  normalSf: Array<{ z: number; sf: number }>;
}

const fixtures = JSON.parse(
  readFileSync(path.join(__dirname, '../fixtures/judge/mannwhitneyu-scipy.json'), 'utf8'),
) as Fixtures;

/** Exact: the counts are exact, so only rounding of the final division differs. */
const EXACT_RTOL = 1e-9;
const ASYMPTOTIC_RTOL = 1e-6;

function assertClose(actual: number, expected: number, rtol: number, what: string): void {
  const ok = actual === expected || Math.abs(actual - expected) <= rtol * Math.abs(expected);
  assert.ok(ok, `${what}: ${actual} vs SciPy ${expected} (relative tolerance ${rtol})`);
}

describe('mannWhitneyU matches scipy.stats.mannwhitneyu(two-sided, auto)', () => {
  it(`has the ~40 fixture cases of SciPy ${fixtures.scipy}`, () => {
    assert.ok(fixtures.mannwhitneyu.length >= 40, `${fixtures.mannwhitneyu.length} cases`);
    assert.ok(fixtures.mannwhitneyu.some((c) => c.method === 'exact'));
    assert.ok(fixtures.mannwhitneyu.some((c) => c.method === 'asymptotic'));
  });
  for (const c of fixtures.mannwhitneyu) {
    it(`${c.name} (${c.method}, n=${c.x.length}/${c.y.length})`, () => {
      const result = mannWhitneyU(c.x, c.y);
      assert.equal(result.method, c.method);
      assert.equal(result.u1, c.statistic, 'U1');
      assertClose(result.pValue, c.pvalue, c.method === 'exact' ? EXACT_RTOL : ASYMPTOTIC_RTOL, 'p-value');
    });
  }

  it('is symmetric: swapping the samples swaps U1 and U2 and keeps p', () => {
    const x = [1.2, 3.4, 2.2, 5.1, 0.3, 7.7, 2.2, 9.9, 4.4, 6.1];
    const y = [2.5, 8.8, 6.6, 3.3, 9.1, 7.2, 5.5, 4.9, 8.1];
    const a = mannWhitneyU(x, y);
    const b = mannWhitneyU(y, x);
    assert.equal(a.u1 + b.u1, x.length * y.length);
    assert.equal(a.pValue, b.pValue);
  });

  it('rejects empty samples and non-finite values', () => {
    assert.throws(() => mannWhitneyU([], [1]), RangeError);
    assert.throws(() => mannWhitneyU([NaN, 1], [1, 2]), RangeError);
    assert.throws(() => mannWhitneyU([1], [Infinity]), RangeError);
  });
});

describe('pieces of the test', () => {
  it('ranks ties by their average and reports tie groups', () => {
    assert.deepEqual(averageRanks([10, 20, 10, 30, 20, 20]), { ranks: [1.5, 4, 1.5, 6, 4, 4], tieSizes: [2, 3, 1] });
  });

  it('exact CDF: every arrangement of 2 vs 2 (U = 0,1,2,2,3,4)', () => {
    assert.deepEqual([0, 1, 2, 3, 4].map((k) => exactCdf(2, 2, k) * 6), [1, 2, 4, 5, 6]);
    assert.equal(exactCdf(2, 2, -1), 0);
  });

  it('normal tail matches scipy.special.ndtr(-z)', () => {
    for (const { z, sf } of fixtures.normalSf) assertClose(normalSf(z), sf, 1e-12, `sf(${z})`);
    assert.equal(normalSf(-Infinity), 1);
    assert.equal(normalSf(Infinity), 0);
    assert.equal(erfc(0), 1);
  });
});

describe('outliers and effect size', () => {
  for (const c of fixtures.iqr) {
    it(`IQR: ${c.name}`, () => {
      const sorted = [...c.values].sort((a, b) => a - b);
      assertClose(percentileSorted(sorted, 25), c.q1, 1e-12, 'Q1');
      assertClose(percentileSorted(sorted, 75), c.q3, 1e-12, 'Q3');
      assert.deepEqual(removeOutliers(c.values, c.factor), c.kept);
    });
  }

  it('mean ratio: canary over baseline, 1 when both are 0, infinite when only the baseline is 0', () => {
    assert.equal(meanRatio([110, 130], [100, 100]), 1.2);
    assert.equal(meanRatio([0, 0], [0, 0]), 1);
    assert.equal(meanRatio([0, 0.01], [0, 0]), Infinity);
  });
});
