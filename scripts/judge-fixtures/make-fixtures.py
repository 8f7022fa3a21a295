#!/usr/bin/env python3
"""
Reference values for the judge's statistics (activities/judge/statistics.ts), computed once with
SciPy and committed as test/fixtures/judge/mannwhitneyu-scipy.json; test/unit/judge-statistics.test.ts
compares against them.

Made with SciPy 1.17.1 and NumPy 2.4.6 on Python 3.11:

  python3 -m venv .cache/judge-venv && .cache/judge-venv/bin/pip install scipy==1.17.1 numpy==2.4.6
  .cache/judge-venv/bin/python scripts/judge-fixtures/make-fixtures.py > test/fixtures/judge/mannwhitneyu-scipy.json

Each Mann-Whitney case records scipy.stats.mannwhitneyu(x, y, alternative='two-sided', method='auto')
and which method 'auto' chose (SciPy's rule: exact when min(n1, n2) <= 8 and there are no ties).
The IQR cases use numpy.percentile(method='weibull'), the p(n+1) estimator that Apache Commons
Math's StatUtils.percentile (Kayenta's IQRDetector) also uses; normal cases scipy.special.ndtr(-z).
"""
import json
import sys

import numpy as np
import scipy
from scipy import special, stats


def mwu_case(name, x, y):
    x = [float(v) for v in x]
    y = [float(v) for v in y]
    res = stats.mannwhitneyu(x, y, alternative="two-sided", method="auto")
    ties = len(set(x + y)) < len(x) + len(y)
    method = "asymptotic" if (len(x) > 8 and len(y) > 8) or ties else "exact"
    # The recorded method must be the one 'auto' used.
    check = stats.mannwhitneyu(x, y, alternative="two-sided", method=method)
    assert check.pvalue == res.pvalue and check.statistic == res.statistic, name
    return {"name": name, "x": x, "y": y, "statistic": float(res.statistic), "pvalue": float(res.pvalue), "method": method}


def iqr_case(name, values, factor):
    values = [float(v) for v in values]
    q1, q3 = np.percentile(values, [25, 75], method="weibull")
    iqr = q3 - q1
    kept = [v for v in values if q1 - factor * iqr <= v <= q3 + factor * iqr]
    return {"name": name, "values": values, "factor": factor, "q1": float(q1), "q3": float(q3), "kept": kept}


def main():
    rng = np.random.default_rng(20261201)
    mwu = [
        mwu_case("n=1 vs n=1", [1], [2]),
        mwu_case("n=1 vs n=1 tied", [3], [3]),
        mwu_case("n=1 vs n=5", [10], [1, 2, 3, 4, 5]),
        mwu_case("n=2 vs n=2 separated", [1, 2], [3, 4]),
        mwu_case("n=2 vs n=3 interleaved", [1, 4], [2, 3, 5]),
        mwu_case("n=3 vs n=3 separated", [1, 2, 3], [4, 5, 6]),
        mwu_case("n=3 vs n=3 reversed", [4, 5, 6], [1, 2, 3]),
        mwu_case("n=3 vs n=4 interleaved", [1.5, 3.5, 5.5], [1, 2, 4, 6]),
        mwu_case("n=4 vs n=4 middle", [1, 4, 5, 8], [2, 3, 6, 7]),
        mwu_case("n=5 vs n=5 separated", [1, 2, 3, 4, 5], [6, 7, 8, 9, 10]),
        mwu_case("n=5 vs n=5 one swap", [1, 2, 3, 4, 6], [5, 7, 8, 9, 10]),
        mwu_case("n=5 vs n=3 tied", [1, 2, 2, 3, 4], [2, 5, 6]),
        mwu_case("n=3 vs n=3 tied across", [1, 2, 3], [3, 4, 5]),
        mwu_case("all equal n=3 vs n=4", [7, 7, 7], [7, 7, 7, 7]),
        mwu_case("all equal n=50 vs n=50", [0.5] * 50, [0.5] * 50),
        mwu_case("n=8 vs n=100 exact", rng.normal(1.0, 1, 8).tolist(), rng.normal(0, 1, 100).tolist()),
        mwu_case("n=8 vs n=9 exact", rng.normal(0, 1, 8).tolist(), rng.normal(0.5, 1, 9).tolist()),
        mwu_case("n=9 vs n=8 exact", rng.normal(0, 1, 9).tolist(), rng.normal(-0.5, 1, 8).tolist()),
        mwu_case("n=9 vs n=9 asymptotic", rng.normal(0, 1, 9).tolist(), rng.normal(1, 1, 9).tolist()),
        mwu_case("n=7 vs n=30 exact", rng.normal(0, 1, 7).tolist(), rng.normal(0, 1, 30).tolist()),
        mwu_case("n=2 vs n=40 exact extreme", [100, 101], rng.normal(0, 1, 40).tolist()),
        mwu_case("n=3 vs n=200 exact", rng.normal(0.3, 1, 3).tolist(), rng.normal(0, 1, 200).tolist()),
        mwu_case("unequal n=10 vs n=60", rng.normal(0, 1, 10).tolist(), rng.normal(0.8, 1, 60).tolist()),
        mwu_case("identical n=50 seeded", rng.normal(100, 10, 50).tolist(), rng.normal(100, 10, 50).tolist()),
        mwu_case("shift +15% n=50", rng.normal(115, 10, 50).tolist(), rng.normal(100, 10, 50).tolist()),
        mwu_case("shift -5% n=50", rng.normal(95, 10, 50).tolist(), rng.normal(100, 10, 50).tolist()),
        mwu_case("large n=500 vs 500 small shift", rng.normal(0.1, 1, 500).tolist(), rng.normal(0, 1, 500).tolist()),
        mwu_case("large n=700 vs 600 none", rng.normal(0, 1, 700).tolist(), rng.normal(0, 1, 600).tolist()),
        mwu_case("separated n=60 vs 60 (tiny p)", (np.arange(60) + 100).tolist(), np.arange(60).tolist()),
        mwu_case("exponential n=40 vs 45", rng.exponential(1.0, 40).tolist(), rng.exponential(1.3, 45).tolist()),
        mwu_case("integers with many ties n=50", rng.integers(0, 5, 50).tolist(), rng.integers(0, 6, 50).tolist()),
        mwu_case("rare errors: 6 of 50 nonzero vs none", [0.0] * 44 + [0.02, 0.01, 0.03, 0.02, 0.01, 0.04], [0.0] * 50),
        mwu_case("rare errors both sides", [0.0] * 40 + rng.uniform(0, 0.05, 10).tolist(), [0.0] * 45 + rng.uniform(0, 0.05, 5).tolist()),
        mwu_case("rounded latency ties n=60", np.round(rng.normal(120, 5, 60)).tolist(), np.round(rng.normal(118, 5, 60)).tolist()),
        mwu_case("one distinct value each", [1.0] * 20, [2.0] * 20),
        mwu_case("ties only within x, n=4 vs 4", [1, 1, 2, 2], [3, 4, 5, 6]),
        mwu_case("negative and zero values", [-3, -1, 0, 0.5, 2, -2.5, 1], [-0.5, 0, 3, 4, 2.5, 1.5, 5, 6, 0.25]),
        mwu_case("heavy tails with outlier n=30", rng.standard_t(2, 30).tolist() + [1e6], rng.standard_t(2, 31).tolist()),
        mwu_case("lognormal n=25 vs 100", rng.lognormal(0, 1, 25).tolist(), rng.lognormal(0.4, 1, 100).tolist()),
        mwu_case("n=8 vs n=8 exact separated", list(range(8, 16)), list(range(8))),
        mwu_case("n=5 vs n=12 exact", rng.normal(0, 1, 5).tolist(), rng.normal(0, 1, 12).tolist()),
        mwu_case("n=12 vs n=6 exact shift", rng.normal(2, 1, 12).tolist(), rng.normal(0, 1, 6).tolist()),
    ]
    iqr = [
        iqr_case("no outliers", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 3.0),
        iqr_case("one spike", [10, 11, 12, 11, 10, 12, 11, 10, 500, 11, 12, 10], 3.0),
        iqr_case("low and high outliers factor 1.5", [-50, 1, 2, 2, 3, 3, 3, 4, 4, 5, 60], 1.5),
        iqr_case("tiny n=3", [1, 2, 100], 3.0),
        iqr_case("all equal", [5, 5, 5, 5], 3.0),
        iqr_case("seeded latency with spikes", rng.normal(100, 5, 47).tolist() + [400, 450, 20], 3.0),
    ]
    normal = [{"z": z, "sf": float(special.ndtr(-z))} for z in [-8.0, -3.0, -1.0, -0.5, 0.0, 0.3, 1.0, 1.4142, 2.0, 2.8284, 3.0, 4.0, 6.0, 10.0, 20.0, 37.0]]
    out = {
        "generatedBy": "scripts/judge-fixtures/make-fixtures.py",
        "scipy": scipy.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "mannwhitneyu": mwu,
        "iqr": iqr,
        "normalSf": normal,
    }
    # One case per line: reviewable diffs without a line per number.
    lines = [f'  "{key}": [\n' + ",\n".join("   " + json.dumps(c) for c in out[key]) + "\n  ]" for key in ("mannwhitneyu", "iqr", "normalSf")]
    head = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in out.items() if not isinstance(v, list)]
    sys.stdout.write("{\n" + ",\n".join(head + lines) + "\n}\n")


if __name__ == "__main__":
    main()
