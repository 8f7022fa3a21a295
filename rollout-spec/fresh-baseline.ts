/**
 * The fresh baseline of `judge.freshBaseline` (issue 11): its traffic share and how the judge's
 * baseline side selects its series. Pure and free of zod, so workflows, activities and the spec
 * checks (judge.ts) share one rule.
 */

/** The label matcher the fresh baseline's series carry (the operator's Prometheus target label) and stable's do not. */
export const FRESH_BASELINE_MATCHER = 'track="baseline"';

/** The version matcher of a query template, after which {@link freshBaselineTemplate} adds the baseline's. */
export const VERSION_MATCHER = '{{versionLabel}}="{{version}}"';

/** A judged metric's template for the fresh baseline's side: every version matcher also selects {@link FRESH_BASELINE_MATCHER}. */
export function freshBaselineTemplate(template: string): string {
  return template.split(VERSION_MATCHER).join(`${VERSION_MATCHER},${FRESH_BASELINE_MATCHER}`);
}

/**
 * The fresh baseline's traffic share (percent) at canary weight `canary`: the canary's, while
 * stable keeps at least as much as the baseline, i.e. min(canary, floor((100 - canary) / 2)). So
 * 5 → 5, 20 → 20, 33 → 33, 40 → 30, 60 → 20, 80 → 10, 100 → 0 (stable then gets 100 - canary - baseline).
 * Above 33% the baseline gets less than the canary: the judge compares distributions, not totals.
 */
export function freshBaselineWeight(canary: number): number {
  if (!(canary > 0 && canary < 100)) return 0;
  return Math.min(canary, Math.floor((100 - canary) / 2));
}
