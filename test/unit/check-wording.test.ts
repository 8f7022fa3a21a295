/**
 * The words of a check (workflows/check-wording.ts): labels name the rule, statements are true as
 * printed, for every comparator, unit and outcome, and for checks as workflows/analysis.ts builds them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MetricSample } from '../../activities/types';
import { METRIC_UNITS } from '../../rollout-spec/triggers';
import { COMPARATORS, METRIC_NAMES, type Comparator } from '../../rollout-spec/types';
import { buildRules, evaluate, queriesFor } from '../../workflows/analysis';
import { checkLabel, checkRole, checkStatement, DISPLAY_UNITS, formatWindow, type WordableCheck } from '../../workflows/check-wording';
import { HEALTHY } from '../workflows/fake-world';
import { seedSpec } from '../workflows/spec-fixture';

const NUMBER = String.raw`([+-]Inf|-?\d+(?:\.\d+)?)(%| ms| req/s)?`;
const STATEMENT = new RegExp(`^${NUMBER} (>|≥|<|≤|=|≠) ${NUMBER}(?: \\(baseline .+\\))? (✓|✗)$`);

/** Parses `a rel b ✓` and says whether the printed numbers stand in the printed relation. */
function printedTruth(statement: string): { holds: boolean; mark: string } {
  const m = STATEMENT.exec(statement);
  assert.ok(m, `not a comparison: ${statement}`);
  const [, a = '', , rel = '', b = '', , mark = ''] = m;
  const num = (s: string): number => (s === '+Inf' ? Infinity : s === '-Inf' ? -Infinity : Number(s));
  const x = num(a);
  const y = num(b);
  const holds = { '>': x > y, '≥': x >= y, '<': x < y, '≤': x <= y, '=': x === y, '≠': x !== y }[rel];
  assert.notEqual(holds, undefined, statement);
  return { holds: holds === true, mark };
}

function breaches(value: number, op: Comparator, threshold: number): boolean {
  return { '>': value > threshold, '>=': value >= threshold, '<': value < threshold, '<=': value <= threshold, '==': value === threshold, '!=': value !== threshold }[op];
}

function check(over: Partial<WordableCheck>): WordableCheck {
  return { check: 'error_rate.critical', metric: 'error_rate', value: 0.002, threshold: 0.01, comparator: '>', outcome: 'pass', ...over };
}

describe('check wording', () => {
  it('every comparator, on either side of the limit and at it, gives a true statement with the right mark', () => {
    const threshold = 0.01;
    const values = [0, 0.002, 0.0099999, threshold, 0.0100001, 0.014, 1, Infinity, -Infinity];
    for (const op of COMPARATORS) {
      for (const value of values) {
        const failing = breaches(value, op, threshold);
        const outcome = failing ? 'critical' : 'pass';
        const statement = checkStatement(check({ comparator: op, value, threshold, outcome }));
        const { holds, mark } = printedTruth(statement);
        assert.ok(holds, `false as printed: ${statement} (value ${value} ${op} ${threshold} → ${outcome})`);
        assert.equal(mark, failing ? '✗' : '✓', statement);
      }
    }
  });

  it('prints the breach relation for a failing check and its negation for a passing one', () => {
    assert.equal(checkStatement(check({ metric: 'task_success_rate', comparator: '<', value: 0.995, threshold: 0.99 })), '99.5% ≥ 99% ✓');
    assert.equal(checkStatement(check({ value: 0.014, outcome: 'critical' })), '1.4% > 1% ✗');
    assert.equal(checkStatement(check({ value: 0.01, comparator: '>=', outcome: 'breach' })), '1% ≥ 1% ✗');
    assert.equal(checkStatement(check({ value: 0.01, comparator: '>', outcome: 'pass' })), '1% ≤ 1% ✓');
  });

  it('stays true when outcome and comparator disagree (a status not built by the rules)', () => {
    const statement = checkStatement(check({ comparator: '<=', value: 0.002, threshold: 0.05, outcome: 'pass' }));
    assert.equal(statement, '0.2% < 5% ✓');
  });

  it('uses the metric unit: ratios as %, latencies in ms, rates in req/s, CPU as % of one core', () => {
    assert.equal(checkLabel(check({ windowMs: 300_000 })), 'error_rate > 1% over 5m');
    assert.equal(checkLabel(check({ metric: 'p95_latency', threshold: 500, windowMs: 90_000 })), 'p95_latency > 500 ms over 1m30s');
    assert.equal(checkStatement(check({ metric: 'p95_latency', value: 620, threshold: 500, outcome: 'breach' })), '620 ms > 500 ms ✗');
    assert.equal(checkStatement(check({ metric: 'p95_latency', value: 48.75, threshold: 500 })), '48.8 ms ≤ 500 ms ✓');
    assert.equal(checkLabel(check({ metric: 'request_rate', comparator: '<', threshold: 5 })), 'request_rate < 5 req/s');
    assert.equal(checkLabel(check({ metric: 'cpu_usage', threshold: 0.8 })), 'cpu_usage > 80%');
    assert.equal(checkLabel(check({ metric: 'request_count', comparator: '<', threshold: 100 })), 'request_count < 100');
    assert.equal(checkLabel(check({ comparator: '>=', threshold: 0.0125 })), 'error_rate ≥ 1.25%');
  });

  it('shows every metric in the unit its thresholds are written in (rollout-spec/triggers.ts)', () => {
    const expected = { fraction: 'percent', cores: 'percent', ms: 'ms', per_second: 'per_second', count: 'count' } as const;
    for (const metric of METRIC_NAMES) assert.equal(DISPLAY_UNITS[metric], expected[METRIC_UNITS[metric]], metric);
  });

  it('says why there is no data, and cuts a long reason', () => {
    assert.equal(checkStatement(check({ value: null, outcome: 'no_data', detail: 'no_data: empty vector' })), 'no data (Prometheus returned nothing)');
    assert.equal(checkStatement(check({ value: null, outcome: 'no_data', detail: 'timeout' })), 'no data (query timed out)');
    assert.equal(
      checkStatement(check({ value: null, outcome: 'no_data', detail: 'baseline no_data: empty vector' })),
      'no data (baseline: Prometheus returned nothing)',
    );
    const long = checkStatement(check({ value: null, outcome: 'no_data', detail: `error: HTTP 503: ${'x'.repeat(300)}` }));
    assert.match(long, /^no data \(query failed: HTTP 503: x+…\)$/);
    assert.ok(long.length <= 100, long);
  });

  it('says too few requests, with the count and the minimum, and the value so far', () => {
    const few = check({ outcome: 'insufficient_samples', requests: 12, minRequests: 100 });
    assert.equal(checkStatement(few), 'too few requests (12 < 100); 0.2% ≤ 1%');
    const unknown = check({ outcome: 'insufficient_samples', minRequests: 100, detail: 'request count unknown (timeout); at least 100 needed' });
    assert.equal(checkStatement(unknown), 'request count unknown (timeout); at least 100 needed; 0.2% ≤ 1%');
  });

  it('words a stored infinite value (null with its detail) as the infinity it was', () => {
    const p99 = check({ metric: 'p99_latency', value: null, threshold: 500, outcome: 'breach', detail: '+Inf (an infinite value)' });
    assert.equal(checkStatement(p99), '+Inf > 500 ms ✗');
  });

  it('names baseline checks by what they compare', () => {
    const errors = check({
      check: 'baseline.error_rate', value: 0.003, threshold: 0.0025 + 0.001, windowMs: 20_000,
      baseline: { mode: 'difference', margin: 0.001, value: 0.0025 },
    });
    assert.equal(checkLabel(errors), 'error_rate > baseline + 0.1 pp over 20s');
    assert.equal(checkStatement(errors), '0.3% ≤ 0.35% (baseline 0.25% + 0.1 pp) ✓');
    const latency = check({
      check: 'baseline.p95_latency', metric: 'p95_latency', value: 620, threshold: 540, outcome: 'warning',
      baseline: { mode: 'ratio', margin: 0.2, value: 450 },
    });
    assert.equal(checkLabel(latency), 'p95_latency > baseline + 20%');
    assert.equal(checkStatement(latency), '620 ms > 540 ms (baseline 450 ms + 20%) ✗');
    // Older workflows kept only the derived limit: the label does not pretend to know the margin.
    assert.equal(checkLabel(check({ check: 'baseline.error_rate', threshold: 0.0035 })), 'error_rate > baseline + margin');
  });

  it('formats windows as specs write them', () => {
    assert.deepEqual([500, 10_000, 60_000, 90_000, 3_600_000].map(formatWindow), ['500ms', '10s', '1m', '1m30s', '1h']);
  });
});

describe('checks as the analysis builds them', () => {
  const spec = seedSpec();
  const gate = { maxErrorRate: 0.001, maxP95LatencyMs: 100 };
  const samples = (override: (s: MetricSample) => MetricSample = (s) => s): MetricSample[] =>
    queriesFor(buildRules(spec, gate, 20)).map((q) => override({ ...q, status: 'ok', value: HEALTHY[q.metric] }));

  it('carry a label naming the rule (triggers by condition, never by index) and its window', () => {
    const r = evaluate(spec, buildRules(spec, gate, 20), samples(), [], 0, 't');
    assert.ok(spec.rollbackTriggers.length > 0);
    for (const c of r.checks) {
      assert.ok(c.label && c.statement, c.check);
      assert.doesNotMatch(c.label, /trigger\[|\.critical|\.min|\.threshold/, c.label);
      assert.equal(c.label, checkLabel(c));
      assert.match(c.label, new RegExp(`^${c.metric} `));
      assert.match(c.label, / over \d/);
    }
    spec.rollbackTriggers.forEach((t, i) => {
      const c = r.checks.find((x) => x.check === `trigger[${i}]`);
      assert.ok(c, `trigger[${i}]`);
      assert.equal(c.label, checkLabel({ ...c, windowMs: t.windowMs }));
      assert.match(c.label ?? '', new RegExp(`^${t.metric} ${t.op === '>' || t.op === '<' ? t.op : '.'} `));
    });
  });

  it('give every check a role, so two checks on the same rule can be told apart', () => {
    const r = evaluate(spec, buildRules(spec, gate, 20), samples(), [], 0, 't');
    for (const c of r.checks) assert.notEqual(checkRole(c), '', c.check);
    const roles = new Map(r.checks.map((c) => [c.check, checkRole(c)]));
    assert.equal(roles.get('trigger[0]'), 'rollback trigger');
    assert.equal(roles.get('error_rate.critical'), 'critical level (rolls back)');
    assert.equal(roles.get('error_rate.phase_gate'), 'phase gate (holds)');
    assert.equal(roles.get('baseline.error_rate'), 'baseline comparison (warns)');
  });

  it('labels with the spec window, not the window bounded to the canary age', () => {
    const r = evaluate(spec, buildRules(spec, gate, 20, 3_000), samples(), [], 0, 't');
    assert.ok(r.checks.every((c) => !c.label?.includes('over 3s')), r.checks.map((c) => c.label).join('\n'));
  });

  it('carry true statements for healthy, failing, infinite and missing values', () => {
    const bad = (s: MetricSample): MetricSample =>
      s.target !== 'canary'
        ? s
        : s.metric === 'error_rate'
          ? { ...s, value: 0.5 }
          : s.metric === 'p99_latency'
            ? { ...s, status: 'infinite', sign: 1, value: undefined, detail: '+Inf' }
            : s.metric === 'cache_hit_rate'
              ? { ...s, status: 'no_data', value: undefined, detail: 'empty vector' }
              : s;
    for (const run of [samples(), samples(bad)]) {
      const r = evaluate(spec, buildRules(spec, gate, 20), run, [], 0, 't');
      for (const c of r.checks) {
        const statement = c.statement ?? '';
        if (c.outcome === 'no_data') {
          assert.match(statement, /^no data \(.+\)$/, statement);
          continue;
        }
        const { holds, mark } = printedTruth(statement);
        assert.ok(holds, `${c.check}: ${statement}`);
        assert.equal(mark, c.outcome === 'pass' ? '✓' : '✗', `${c.check}: ${statement}`);
      }
    }
    const r = evaluate(spec, buildRules(spec, gate, 20), samples(bad), [], 0, 't');
    assert.equal(r.checks.find((c) => c.check === 'p99_latency.threshold')?.statement, `+Inf > ${spec.validation.latency.p99ThresholdMs} ms ✗`);
    assert.equal(r.checks.find((c) => c.check === 'cache_hit_rate.min')?.statement, 'no data (Prometheus returned nothing)');
    const baseline = r.checks.find((c) => c.check === 'baseline.error_rate');
    assert.deepEqual(baseline?.baseline, { mode: 'difference', margin: spec.baseline.maxErrorRateIncrease, value: HEALTHY.error_rate });
  });
});
