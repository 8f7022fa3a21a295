import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QueryRenderError, UnitParseError } from '../../rollout-spec/errors';
import { DEFAULT_QUERIES, renderQuery, templateProblems } from '../../rollout-spec/queries';
import { compare, parseMetricThreshold, parseTriggerCondition } from '../../rollout-spec/triggers';
import { METRIC_NAMES } from '../../rollout-spec/types';
import {
  formatDuration,
  parseDuration,
  parseFraction,
  parseLatencyMs,
  parsePercent,
  parseRequestCount,
  parseRequestRate,
  parseWeight,
  renderPromDuration,
} from '../../rollout-spec/units';

function throwsMatching(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UnitParseError || err instanceof QueryRenderError, `unexpected error type: ${String(err)}`);
    assert.match((err as Error).message, pattern);
    return true;
  });
}

describe('parseFraction', () => {
  it('reads percentages as exact fractions', () => {
    assert.equal(parseFraction('0.1%'), 0.001);
    assert.equal(parseFraction('1%'), 0.01);
    assert.equal(parseFraction('0.5%'), 0.005);
    assert.equal(parseFraction('98%'), 0.98);
    assert.equal(parseFraction('85%'), 0.85);
    assert.equal(parseFraction(' 100 % '), 1);
    assert.equal(parseFraction('0%'), 0);
  });
  it('reads a bare number as a fraction already', () => {
    assert.equal(parseFraction(0.98), 0.98);
    assert.equal(parseFraction('0.98'), 0.98);
    assert.equal(parseFraction(1), 1);
  });
  it('rejects values outside 0..1 and hints at the percent sign', () => {
    throwsMatching(() => parseFraction(5), /between 0 and 1.*"5%"/);
    throwsMatching(() => parseFraction('150%'), /between 0 and 1/);
    throwsMatching(() => parseFraction(-0.1), /between 0 and 1/);
  });
  it('allows a larger maximum when asked (CPU cores)', () => {
    assert.equal(parseFraction('250%', { max: 1024 }), 2.5);
  });
  it('names what it got when it cannot parse', () => {
    throwsMatching(() => parseFraction('lots'), /got "lots"/);
    throwsMatching(() => parseFraction('x%'), /got "x%"/);
    throwsMatching(() => parseFraction(Number.NaN), /finite/);
  });
});

describe('parsePercent', () => {
  it('reads bare numbers and N% as percent', () => {
    assert.equal(parsePercent(5), 5);
    assert.equal(parsePercent('20%'), 20);
    assert.equal(parsePercent('12.5'), 12.5);
  });
  it('rejects values outside 0..100', () => {
    throwsMatching(() => parsePercent(101), /between 0 and 100, got 101/);
    throwsMatching(() => parsePercent('-5%'), /between 0 and 100/);
    throwsMatching(() => parsePercent('five'), /got "five"/);
  });
});

describe('parseWeight (traffic weights)', () => {
  it('reads whole percentages, bare or with %', () => {
    assert.equal(parseWeight(5), 5);
    assert.equal(parseWeight('20%'), 20);
    assert.equal(parseWeight('100'), 100);
  });
  it('rejects fractional percent and what parsePercent rejects', () => {
    throwsMatching(() => parseWeight(2.5), /^must be a whole number of percent .*got 2\.5$/);
    throwsMatching(() => parseWeight('12.5%'), /whole number of percent.*"12\.5%"/);
    throwsMatching(() => parseWeight(101), /between 0 and 100/);
  });
});

describe('parseRequestCount', () => {
  it('reads a non-negative number of requests', () => {
    assert.equal(parseRequestCount(100), 100);
    assert.equal(parseRequestCount(' 50 '), 50);
    throwsMatching(() => parseRequestCount(-1), /must not be negative/);
    throwsMatching(() => parseRequestCount('many'), /got "many"/);
  });
});

describe('parseDuration', () => {
  it('reads units', () => {
    assert.equal(parseDuration('100ms'), 100);
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('2m'), 120_000);
    assert.equal(parseDuration('5m'), 300_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('1.1s'), 1100);
    assert.equal(parseDuration('1d'), 86_400_000);
  });
  it('reads a bare number as seconds, like the seed (duration: 600)', () => {
    assert.equal(parseDuration(600), 600_000);
    assert.equal(parseDuration('900'), 900_000);
    assert.equal(parseDuration(0.25), 250);
  });
  it('rejects junk, zero, negatives and sub-millisecond values', () => {
    throwsMatching(() => parseDuration('5 minutes'), /expected a duration.*got "5 minutes"/);
    throwsMatching(() => parseDuration('5x'), /got "5x"/);
    throwsMatching(() => parseDuration(0), /greater than 0/);
    throwsMatching(() => parseDuration('0s'), /greater than 0/);
    throwsMatching(() => parseDuration(-3), /greater than 0/);
    throwsMatching(() => parseDuration('0.5ms'), /whole number of milliseconds/);
  });
});

describe('parseLatencyMs', () => {
  it('reads ms, s and bare ms', () => {
    assert.equal(parseLatencyMs('100ms'), 100);
    assert.equal(parseLatencyMs('0.5s'), 500);
    assert.equal(parseLatencyMs(250), 250);
    assert.equal(parseLatencyMs('250'), 250);
  });
  it('says a bare number is milliseconds when it fails', () => {
    throwsMatching(() => parseLatencyMs('fast'), /bare number is milliseconds/);
  });
});

describe('parseRequestRate', () => {
  it('reads bare numbers and per-second suffixes', () => {
    assert.equal(parseRequestRate(50), 50);
    assert.equal(parseRequestRate('50/s'), 50);
    assert.equal(parseRequestRate('2.5rps'), 2.5);
    assert.equal(parseRequestRate('7 req/s'), 7);
    throwsMatching(() => parseRequestRate('many'), /request rate/);
    throwsMatching(() => parseRequestRate(-1), /negative/);
  });
});

describe('renderPromDuration / formatDuration', () => {
  it('uses the largest unit that divides the window', () => {
    assert.equal(renderPromDuration(300_000), '5m');
    assert.equal(renderPromDuration(30_000), '30s');
    assert.equal(renderPromDuration(1500), '1500ms');
    assert.equal(renderPromDuration(3_600_000), '1h');
    assert.equal(renderPromDuration(5_400_000), '90m');
    assert.equal(renderPromDuration(90_000), '90s');
  });
  it('rejects windows that are not positive whole milliseconds', () => {
    throwsMatching(() => renderPromDuration(0), /positive whole number/);
    throwsMatching(() => renderPromDuration(1.5), /positive whole number/);
  });
  it('round-trips through parseDuration', () => {
    for (const ms of [1, 999, 1000, 61_000, 300_000, 5_400_000, 7_200_000]) {
      assert.equal(parseDuration(renderPromDuration(ms)), ms);
      assert.equal(parseDuration(formatDuration(ms)), ms);
    }
    assert.equal(formatDuration(90_000), '1m30s');
  });
});

describe('parseTriggerCondition', () => {
  it('parses the seed conditions with the metric’s units', () => {
    assert.deepEqual(parseTriggerCondition('error_rate > 1%'), { metric: 'error_rate', op: '>', threshold: 0.01 });
    assert.deepEqual(parseTriggerCondition('p95_latency > 500ms'), { metric: 'p95_latency', op: '>', threshold: 500 });
    assert.deepEqual(parseTriggerCondition('task_success_rate < 98%'), {
      metric: 'task_success_rate',
      op: '<',
      threshold: 0.98,
    });
    assert.deepEqual(parseTriggerCondition('agent_health_score < 90%'), {
      metric: 'agent_health_score',
      op: '<',
      threshold: 0.9,
    });
  });
  it('reads every operator, with or without spaces', () => {
    assert.equal(parseTriggerCondition('error_rate>=0.5%').op, '>=');
    assert.equal(parseTriggerCondition('error_rate <= 0.02').op, '<=');
    assert.equal(parseTriggerCondition('request_rate == 0').op, '==');
    assert.equal(parseTriggerCondition('request_rate != 0').op, '!=');
    assert.equal(parseTriggerCondition('p99_latency > 1.5s').threshold, 1500);
    assert.equal(parseTriggerCondition('request_rate < 5/s').threshold, 5);
    assert.equal(parseTriggerCondition('request_count < 50').threshold, 50);
    assert.equal(parseTriggerCondition('cpu_usage > 150%').threshold, 1.5);
  });
  it('names an unknown metric and lists the valid ones', () => {
    throwsMatching(() => parseTriggerCondition('latency > 5ms'), /unknown metric "latency"; valid metrics: error_rate, .*agent_health_score/);
  });
  it('names an unknown operator and lists the valid ones', () => {
    throwsMatching(() => parseTriggerCondition('error_rate => 1%'), /unknown operator "=>"; valid operators: > >= < <= == !=/);
    throwsMatching(() => parseTriggerCondition('error_rate gt 1%'), /unknown operator "gt"/);
    throwsMatching(() => parseTriggerCondition('error_rate = 1%'), /unknown operator "="/);
  });
  it('rejects a threshold in the wrong unit for the metric', () => {
    throwsMatching(() => parseTriggerCondition('p95_latency > 5%'), /threshold of p95_latency \(ms\)/);
    throwsMatching(() => parseTriggerCondition('error_rate > 5'), /threshold of error_rate \(fraction\).*"5%"/);
    throwsMatching(() => parseTriggerCondition('error_rate >'), /missing threshold/);
    throwsMatching(() => parseTriggerCondition('nonsense'), /expected "<metric> <operator> <threshold>"/);
  });
  it('parseMetricThreshold covers every metric', () => {
    for (const metric of METRIC_NAMES) assert.equal(typeof parseMetricThreshold(metric, '1'), 'number');
  });
  it('compare applies each operator', () => {
    assert.equal(compare(2, '>', 1), true);
    assert.equal(compare(1, '>', 1), false);
    assert.equal(compare(1, '>=', 1), true);
    assert.equal(compare(0, '<', 1), true);
    assert.equal(compare(1, '<=', 1), true);
    assert.equal(compare(1, '==', 1), true);
    assert.equal(compare(1, '!=', 1), false);
  });
});

describe('DEFAULT_QUERIES / renderQuery', () => {
  const context = { service: 'checkout', version: 'v1.5.0', versionLabel: 'version', windowMs: 300_000 };

  it('renders the error-rate template exactly', () => {
    assert.equal(
      renderQuery(DEFAULT_QUERIES.error_rate, context),
      '(sum(rate(http_requests_total{service="checkout",version="v1.5.0",status=~"5.."}[5m])) or vector(0)) / sum(rate(http_requests_total{service="checkout",version="v1.5.0"}[5m]))',
    );
    assert.equal(
      renderQuery(DEFAULT_QUERIES.p99_latency, { ...context, versionLabel: 'track', windowMs: 30_000 }),
      '1000 * histogram_quantile(0.99, sum by (le) (rate(request_duration_seconds_bucket{service="checkout",track="v1.5.0"}[30s])))',
    );
    assert.equal(
      renderQuery(DEFAULT_QUERIES.agent_health_score, context),
      'avg(avg_over_time(agent_health_score{service="checkout",version="v1.5.0"}[5m]))',
    );
  });
  it('leaves no placeholder behind in any default template', () => {
    for (const metric of METRIC_NAMES) {
      assert.deepEqual(templateProblems(DEFAULT_QUERIES[metric]), [], metric);
      assert.doesNotMatch(renderQuery(DEFAULT_QUERIES[metric], context), /\{\{|\}\}/, metric);
    }
  });
  it('refuses label values that could change the query', () => {
    for (const service of ['a"} or vector(1) #', 'a"', 'x}', 'a b', '', '-lead', 'a'.repeat(64), 'a\nb']) {
      throwsMatching(() => renderQuery(DEFAULT_QUERIES.error_rate, { ...context, service }), /refusing to render query: service/);
    }
    throwsMatching(
      () => renderQuery(DEFAULT_QUERIES.error_rate, { ...context, version: '1"}[5m])) or vector(1) #' }),
      /refusing to render query: version/,
    );
    throwsMatching(() => renderQuery(DEFAULT_QUERIES.error_rate, { ...context, versionLabel: 'ver"sion' }), /versionLabel/);
    throwsMatching(() => renderQuery(DEFAULT_QUERIES.error_rate, { ...context, windowMs: 0 }), /window/);
  });
  it('refuses unknown placeholders, including inherited property names', () => {
    throwsMatching(() => renderQuery('up{x="{{nope}}",v="{{version}}"}', context), /unknown placeholder "\{\{nope\}\}"/);
    throwsMatching(() => renderQuery('up{v="{{version}}"} {{constructor}}', context), /unknown placeholder/);
  });
  it('templateProblems reports unknown placeholders, a missing {{version}} and a missing {{window}}', () => {
    assert.deepEqual(templateProblems('rate(up{service="{{service}}"}[{{window}}])'), [
      'must contain {{version}} so canary and baseline series can be told apart',
    ]);
    assert.deepEqual(templateProblems('up{v="{{version}}"}'), [
      'must use {{window}} as its range, e.g. rate(x[{{window}}]): every metric is evaluated over the window of its check',
    ]);
    assert.match(templateProblems('x{v="{{version}}",y="{{foo}}"}[{{window}}]')[0] ?? '', /unknown placeholder "\{\{foo\}\}"/);
  });
});
