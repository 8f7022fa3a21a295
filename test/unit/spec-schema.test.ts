import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { SpecValidationError } from '../../rollout-spec/errors';
import { staleFiles } from '../../rollout-spec/json-schema';
import { loadRolloutSpecFile } from '../../rollout-spec/load';
import { formatIssues, parseRolloutSpec, parseRolloutSpecText, type SpecIssue } from '../../rollout-spec/parse';
import { disabledTriggers, minRequestsFor, REQUEST_DERIVED_METRICS } from '../../rollout-spec/evidence';
import { DEFAULT_QUERIES } from '../../rollout-spec/schema';
import { METRIC_NAMES, type MetricName, type RolloutSpec } from '../../rollout-spec/types';

const repo = join(__dirname, '..', '..');

/** The little of ajv's API used here (its types do not resolve under module node16). */
type AjvConstructor = new (options: { allErrors: boolean }) => {
  compile(schema: object): ((data: unknown) => boolean) & { errors?: unknown };
};

/** The keys the seed leaves open, as YAML. */
const REQUIRED_YAML = `
service: checkout
stable: v1
canary: v2
traffic:
  kind: haproxy
  runtimeApi: 127.0.0.1:9999
  backend: app
  stableServer: stable
  canaryServer: canary
platform:
  kind: command
  deploy: [deploy]
  healthCheck: [check]
  promote: [promote]
  terminate: [terminate]
`;

const REQUIRED = parseYaml(REQUIRED_YAML) as Record<string, unknown>;

// Seed §3.2, pasted verbatim.
const SEED_3_2 = `
trafficControl:
  phases:
    - name: initial_canary
      percentage: 5
      duration: 600  # 10 minutes
      errorThreshold: 0.1%
      latencyThreshold: 100ms
    
    - name: expanded_canary
      percentage: 20
      duration: 900  # 15 minutes
      errorThreshold: 0.5%
      latencyThreshold: 200ms
    
    - name: full_rollout
      incrementSize: 20
      intervalSeconds: 300  # 5 minutes
      maxErrorRate: 1%
`;

// Seed §4.2, pasted verbatim.
const SEED_4_2 = `
validation:
  error_rate:
    warning: 0.5%
    critical: 1%
    
  latency:
    p95_threshold: 200ms
    p99_threshold: 500ms
    
  resource_usage:
    cpu_threshold: 80%
    memory_threshold: 85%
    
  business_metrics:
    min_task_success_rate: 99%
    min_cache_hit_rate: 90%
    min_agent_health: 95%
`;

// Seed §6.1, pasted verbatim.
const SEED_6_1 = `
rollback_triggers:
  - condition: error_rate > 1%
    window: 5m
    action: immediate_rollback
    
  - condition: p95_latency > 500ms
    window: 5m
    action: immediate_rollback
    
  - condition: task_success_rate < 98%
    window: 10m
    action: gradual_rollback
    
  - condition: agent_health_score < 90%
    window: 5m
    action: gradual_rollback
`;

const SEED_PHASES: RolloutSpec['phases'] = [
  { name: 'initial_canary', weight: 5, durationMs: 600_000, errorThreshold: 0.001, latencyThresholdMs: 100 },
  { name: 'expanded_canary', weight: 20, durationMs: 900_000, errorThreshold: 0.005, latencyThresholdMs: 200 },
];
const SEED_FULL_ROLLOUT: RolloutSpec['fullRollout'] = {
  name: 'full_rollout',
  incrementSize: 20,
  intervalMs: 300_000,
  maxErrorRate: 0.01,
  latencyThresholdMs: 200,
};
const SEED_VALIDATION: RolloutSpec['validation'] = {
  errorRate: { warning: 0.005, critical: 0.01 },
  latency: { p95ThresholdMs: 200, p99ThresholdMs: 500 },
  resourceUsage: { cpuThreshold: 0.8, memoryThreshold: 0.85 },
  businessMetrics: { minTaskSuccessRate: 0.99, minCacheHitRate: 0.9, minAgentHealth: 0.95 },
};
const SEED_TRIGGERS: RolloutSpec['rollbackTriggers'] = [
  { metric: 'error_rate', op: '>', threshold: 0.01, windowMs: 300_000, action: 'immediate_rollback', condition: 'error_rate > 1%' },
  { metric: 'p95_latency', op: '>', threshold: 500, windowMs: 300_000, action: 'immediate_rollback', condition: 'p95_latency > 500ms' },
  { metric: 'task_success_rate', op: '<', threshold: 0.98, windowMs: 600_000, action: 'gradual_rollback', condition: 'task_success_rate < 98%' },
  { metric: 'agent_health_score', op: '<', threshold: 0.9, windowMs: 300_000, action: 'gradual_rollback', condition: 'agent_health_score < 90%' },
];

function ok(input: unknown): RolloutSpec {
  const result = parseRolloutSpec(input);
  if (!result.success) assert.fail(`expected a valid spec, got:\n${formatIssues(result.issues)}`);
  return result.spec;
}

function okText(text: string, format?: 'yaml' | 'json'): RolloutSpec {
  const result = parseRolloutSpecText(text, format);
  if (!result.success) assert.fail(`expected a valid spec, got:\n${formatIssues(result.issues)}`);
  return result.spec;
}

function issuesOf(input: unknown): SpecIssue[] {
  const result = parseRolloutSpec(input);
  assert.equal(result.success, false, 'expected the spec to be rejected');
  return result.success ? [] : result.issues;
}

/** Asserts an issue exists at exactly `path` whose message matches. */
function hasIssue(issues: SpecIssue[], path: string, message: RegExp): void {
  const found = issues.some((issue) => issue.path === path && message.test(issue.message));
  assert.ok(found, `no issue at ${path} matching ${message}; got:\n${formatIssues(issues)}`);
}

function withOverrides(overrides: Record<string, unknown>): Record<string, unknown> {
  return { ...REQUIRED, ...overrides };
}

describe('seed blocks pasted verbatim', () => {
  it('§3.2 trafficControl normalizes to the exact phase numbers', () => {
    const spec = okText(REQUIRED_YAML + SEED_3_2);
    assert.deepEqual(spec.phases, SEED_PHASES);
    assert.deepEqual(spec.fullRollout, SEED_FULL_ROLLOUT);
  });
  it('§4.2 validation normalizes to fractions and milliseconds', () => {
    assert.deepEqual(okText(REQUIRED_YAML + SEED_4_2).validation, SEED_VALIDATION);
  });
  it('§6.1 rollback_triggers normalizes to metric/op/threshold/window/action', () => {
    assert.deepEqual(okText(REQUIRED_YAML + SEED_6_1).rollbackTriggers, SEED_TRIGGERS);
  });
  it('all three at once, and rollbackTriggers (camelCase) is accepted too', () => {
    const spec = okText(REQUIRED_YAML + SEED_3_2 + SEED_4_2 + SEED_6_1);
    assert.deepEqual(spec.phases, SEED_PHASES);
    assert.deepEqual(spec.validation, SEED_VALIDATION);
    const camel = okText(REQUIRED_YAML + SEED_6_1.replace('rollback_triggers:', 'rollbackTriggers:'));
    assert.deepEqual(camel.rollbackTriggers, SEED_TRIGGERS);
  });
});

describe('defaults', () => {
  it('equal the seed exactly when only the required keys are given', () => {
    const spec = ok(REQUIRED);
    const expected: RolloutSpec = {
      service: 'checkout',
      stable: { version: 'v1' },
      canary: { version: 'v2' },
      traffic: { kind: 'haproxy', runtimeApi: '127.0.0.1:9999', backend: 'app', stableServer: 'stable', canaryServer: 'canary' },
      platform: {
        kind: 'command',
        deploy: ['deploy'],
        healthCheck: ['check'],
        promote: ['promote'],
        terminate: ['terminate'],
        timeoutMs: 300_000,
      },
      metrics: {
        prometheusUrl: 'http://127.0.0.1:9090',
        versionLabel: 'version',
        queries: { ...DEFAULT_QUERIES },
        defaultWindowMs: 300_000,
        queryTimeoutMs: 5000,
        minRequests: 50,
        minRequestsByMetric: {},
        optional: [],
      },
      warmup: { durationMs: 120_000 },
      phases: SEED_PHASES,
      fullRollout: SEED_FULL_ROLLOUT,
      analysisIntervalMs: 30_000,
      failureLimit: 3,
      validation: SEED_VALIDATION,
      rollbackTriggers: SEED_TRIGGERS,
      gradualRollback: { stepSize: 20, intervalMs: 60_000 },
      baseline: { enabled: true, maxErrorRateIncrease: 0.001, maxLatencyIncrease: 0.2 },
      noData: { action: 'rollback', consecutiveLimit: 3 },
      alerts: { labels: {} },
    };
    assert.deepEqual(spec, expected);
  });
  it('fill a partially given block field by field', () => {
    const spec = ok(withOverrides({ validation: { latency: { p95_threshold: '300ms' } }, baseline: { enabled: false } }));
    assert.deepEqual(spec.validation, { ...SEED_VALIDATION, latency: { p95ThresholdMs: 300, p99ThresholdMs: 500 } });
    assert.deepEqual(spec.baseline, { enabled: false, maxErrorRateIncrease: 0.001, maxLatencyIncrease: 0.2 });
    // The full rollout's latency gate follows the p95 threshold when not given.
    assert.equal(spec.fullRollout.latencyThresholdMs, 300);
  });
  it('phase gates fall back to validation thresholds, trigger windows to metrics.defaultWindow', () => {
    const spec = ok(
      withOverrides({
        trafficControl: { phases: [{ percentage: 10, duration: '1m' }, { incrementSize: 45, interval: '30s' }] },
        validation: { error_rate: { critical: '2%' } },
        metrics: { defaultWindow: '2m' },
        rollbackTriggers: [{ condition: 'error_rate > 3%', action: 'immediate_rollback' }],
      }),
    );
    assert.deepEqual(spec.phases, [
      { name: 'phase_1', weight: 10, durationMs: 60_000, errorThreshold: 0.02, latencyThresholdMs: 200 },
    ]);
    assert.deepEqual(spec.fullRollout, {
      name: 'full_rollout',
      incrementSize: 45,
      intervalMs: 30_000,
      maxErrorRate: 0.02,
      latencyThresholdMs: 200,
    });
    assert.equal(spec.rollbackTriggers[0]?.windowMs, 120_000);
  });
  it('an explicit empty trigger list means no triggers; query overrides are partial and null disables', () => {
    const spec = ok(withOverrides({ rollback_triggers: [], metrics: { queries: { cpu_usage: null, error_rate: 'e{v="{{version}}"}[{{window}}]' } } }));
    assert.deepEqual(spec.rollbackTriggers, []);
    assert.equal(spec.metrics.queries.cpu_usage, null);
    assert.equal(spec.metrics.queries.error_rate, 'e{v="{{version}}"}[{{window}}]');
    assert.equal(spec.metrics.queries.p95_latency, DEFAULT_QUERIES.p95_latency);
  });
  it('process platform and webhook targets get their defaults', () => {
    const spec = ok(
      withOverrides({
        traffic: { kind: 'webhook', url: 'http://127.0.0.1:8080/weight', secretEnv: 'TRAFFIC_SECRET' },
        platform: { kind: 'process', command: ['node', 'app.js', '--port', '{{port}}'], stablePort: 8081, canaryPort: 8082 },
      }),
    );
    assert.deepEqual(spec.platform, {
      kind: 'process',
      command: ['node', 'app.js', '--port', '{{port}}'],
      stablePort: 8081,
      canaryPort: 8082,
      replicas: { stable: 1, canary: 1 },
      canaryScale: 'full',
      healthPath: '/healthz',
      stateDir: '.stack/platform',
    });
    assert.deepEqual(spec.traffic, { kind: 'webhook', url: 'http://127.0.0.1:8080/weight', secretEnv: 'TRAFFIC_SECRET' });
  });
});

describe('validation errors', () => {
  it('reports every problem at once with its path', () => {
    const issues = issuesOf(
      withOverrides({
        service: '',
        stable: 'v1',
        canary: 'v1',
        extra: true,
        trafficControl: {
          phases: [
            { name: 'a', percentage: 20, duration: 600 },
            { name: 'b', percentage: 10, duration: '5x' },
            { name: 'c', percentage: 150, duration: 0 },
            { name: 'd', incrementSize: 0, intervalSeconds: 300 },
          ],
        },
        validation: { error_rate: { warning: '2%', critical: '1%' }, latency: { p95_threshold: 'fast' } },
        platform: { kind: 'process', command: ['x'], stablePort: 70000, canaryPort: 0 },
        metrics: { prometheusUrl: 'not a url', queries: { bogus: 'x' } },
        alerts: { alertmanagerUrl: 'ftp://example.org' },
        gradualRollback: { stepSize: 120, interval: '-1m' },
      }),
    );
    hasIssue(issues, 'service', /must not be empty/);
    hasIssue(issues, 'extra', /unknown key; allowed here: .*service/);
    hasIssue(issues, 'trafficControl.phases[1].duration', /expected a duration.*"5x"/);
    hasIssue(issues, 'trafficControl.phases[2].percentage', /between 0 and 100, got 150/);
    hasIssue(issues, 'trafficControl.phases[2].duration', /greater than 0/);
    hasIssue(issues, 'trafficControl.phases[3].incrementSize', /between 1 and 100/);
    hasIssue(issues, 'validation.error_rate.warning', /must not exceed critical/);
    hasIssue(issues, 'validation.latency.p95_threshold', /"fast"/);
    hasIssue(issues, 'platform.stablePort', /between 1 and 65535/);
    hasIssue(issues, 'platform.canaryPort', /between 1 and 65535/);
    hasIssue(issues, 'metrics.prometheusUrl', /http/);
    hasIssue(issues, 'metrics.queries.bogus', /unknown key; allowed here: error_rate/);
    hasIssue(issues, 'alerts.alertmanagerUrl', /http/);
    hasIssue(issues, 'gradualRollback.stepSize', /between 1 and 100/);
    hasIssue(issues, 'gradualRollback.interval', /greater than 0/);
    // Cross-field: still reported although other fields failed.
    hasIssue(issues, 'canary', /must differ from stable version/);
    assert.ok(issues.length >= 16, formatIssues(issues));
  });
  it('phase weights must strictly increase and stay below 100', () => {
    const issues = issuesOf(
      withOverrides({
        trafficControl: {
          phases: [
            { percentage: 20, duration: 60 },
            { percentage: 20, duration: 60 },
            { percentage: 10, duration: 60 },
            { percentage: 100, duration: 60 },
          ],
        },
      }),
    );
    hasIssue(issues, 'trafficControl.phases[1].percentage', /strictly increase: 20 is not above phases\[0\]'s 20/);
    hasIssue(issues, 'trafficControl.phases[2].percentage', /strictly increase: 10 is not above phases\[1\]'s 20/);
    hasIssue(issues, 'trafficControl.phases[3].percentage', /below 100/);
  });
  it('the full rollout must be last; names unique; a typo is reported against the branch meant', () => {
    hasIssue(
      issuesOf(withOverrides({ trafficControl: { phases: [{ incrementSize: 20, intervalSeconds: 60 }, { percentage: 5, duration: 60 }] } })),
      'trafficControl.phases[0]',
      /must be the last phase/,
    );
    hasIssue(
      issuesOf(withOverrides({ trafficControl: { phases: [{ name: 'x', percentage: 5, duration: 60 }, { name: 'x', percentage: 6, duration: 60 }] } })),
      'trafficControl.phases[1].name',
      /duplicate phase name/,
    );
    const typo = issuesOf(withOverrides({ trafficControl: { phases: [{ percentage: 5, duratoin: 60 }, { incrementSise: 20 }] } }));
    hasIssue(typo, 'trafficControl.phases[0].duratoin', /unknown key; allowed here: name, percentage, duration/);
    hasIssue(typo, 'trafficControl.phases[0].duration', /is required/);
    hasIssue(typo, 'trafficControl.phases[1].incrementSise', /unknown key; allowed here: name, incrementSize/);
    hasIssue(typo, 'trafficControl.phases[1].incrementSize', /is required/);
  });
  it('fractions outside 0..1 are rejected with a percent hint', () => {
    const issues = issuesOf(withOverrides({ validation: { business_metrics: { min_cache_hit_rate: 90 } }, baseline: { maxLatencyIncrease: '120%' } }));
    hasIssue(issues, 'validation.business_metrics.min_cache_hit_rate', /between 0 and 1.*"90%"/);
    hasIssue(issues, 'baseline.maxLatencyIncrease', /between 0 and 1/);
  });
  it('unknown metric and operator in triggers name the culprit and the valid choices', () => {
    const issues = issuesOf(
      withOverrides({
        rollback_triggers: [
          { condition: 'latency_p95 > 5ms', window: '5m', action: 'immediate_rollback' },
          { condition: 'error_rate => 1%', window: '5m', action: 'rollback_now' },
        ],
      }),
    );
    hasIssue(issues, 'rollback_triggers[0].condition', /unknown metric "latency_p95"; valid metrics: error_rate, success_rate/);
    hasIssue(issues, 'rollback_triggers[1].condition', /unknown operator "=>"; valid operators: > >= < <= == !=/);
    hasIssue(issues, 'rollback_triggers[1].action', /must be one of: immediate_rollback, gradual_rollback/);
  });
  it('both trigger spellings at once are an error', () => {
    const issues = issuesOf(
      withOverrides({
        rollback_triggers: [{ condition: 'p95_latency > 1s', action: 'gradual_rollback' }],
        rollbackTriggers: [],
      }),
    );
    hasIssue(issues, 'rollbackTriggers', /either rollback_triggers or rollbackTriggers/);
  });
  it('rejects label injection through service and version', () => {
    const issues = issuesOf(withOverrides({ service: 'a"} or vector(1) #', canary: '2"}[5m]) or vector(1)' }));
    hasIssue(issues, 'service', /must start with a letter or digit and contain only/);
    hasIssue(issues, 'canary', /version must start with a letter or digit/);
    hasIssue(issuesOf(withOverrides({ stable: { version: 'v1 ' } })), 'stable.version', /only letters, digits/);
  });
  it('explains unquoted YAML numbers as versions', () => {
    const result = parseRolloutSpecText(REQUIRED_YAML.replace('canary: v2', 'canary: 2.0'));
    assert.equal(result.success, false);
    if (!result.success) hasIssue(result.issues, 'canary', /quote it in YAML/);
  });
  it('target variants: unknown kind, missing fields, same servers, bad addresses, placeholders', () => {
    hasIssue(issuesOf(withOverrides({ traffic: { kind: 'nginx' } })), 'traffic.kind', /unknown kind "nginx"; valid: "haproxy", "webhook"/);
    hasIssue(issuesOf(withOverrides({ platform: {} })), 'platform.kind', /is required; valid: "process", "command", "webhook"/);
    const haproxy = issuesOf(
      withOverrides({ traffic: { kind: 'haproxy', runtimeApi: 'localhost', backend: 'b e', stableServer: 's', canaryServer: 's' } }),
    );
    hasIssue(haproxy, 'traffic.runtimeApi', /host:port/);
    hasIssue(haproxy, 'traffic.backend', /HAProxy name/);
    hasIssue(haproxy, 'traffic.canaryServer', /must differ from stableServer/);
    hasIssue(issuesOf(withOverrides({ traffic: { kind: 'haproxy', backend: 'b', stableServer: 's', canaryServer: 'c' } })), 'traffic.runtimeApi', /is required/);
    const proc = issuesOf(
      withOverrides({ platform: { kind: 'process', command: ['run', '{{verison}}'], stablePort: 8080, canaryPort: 8080, healthPath: 'healthz' } }),
    );
    hasIssue(proc, 'platform.command[1]', /unknown placeholder "\{\{verison\}\}"/);
    hasIssue(proc, 'platform.canaryPort', /must differ from stablePort/);
    hasIssue(proc, 'platform.healthPath', /must start with "\/"/);
    hasIssue(
      issuesOf(withOverrides({ platform: { kind: 'process', command: ['x'], stablePort: 1, canaryPort: 2, passEnv: ['PATH', 'NOT-A-NAME'] } })),
      'platform.passEnv[1]',
      /environment variable name/,
    );
    hasIssue(
      issuesOf(withOverrides({ platform: { kind: 'command', deploy: ['x'], healthCheck: ['x'], promote: ['x'], terminate: ['x'], env: { 'A=B': 'c' } } })),
      'platform.env.A=B',
      /environment variable name/,
    );
    hasIssue(
      issuesOf(withOverrides({ traffic: { kind: 'webhook', url: 'http://127.0.0.1/x', secretEnv: 'not-an-env' } })),
      'traffic.secretEnv',
      /environment variable name/,
    );
  });
  it('query templates are checked; alert labels must be label names', () => {
    const issues = issuesOf(withOverrides({ metrics: { queries: { error_rate: 'up{{{foo}}}' }, versionLabel: 'ver-sion' }, alerts: { labels: { 'bad-key': 'x' } } }));
    hasIssue(issues, 'metrics.queries.error_rate', /unknown placeholder "\{\{foo\}\}"/);
    hasIssue(issues, 'metrics.queries.error_rate', /must contain \{\{version\}\}/);
    hasIssue(issues, 'metrics.versionLabel', /label name/);
    hasIssue(issues, 'alerts.labels.bad-key', /invalid key: must be a Prometheus label name/);
  });
  it('missing required keys and non-objects', () => {
    const issues = issuesOf({});
    for (const key of ['service', 'stable', 'canary', 'traffic', 'platform']) hasIssue(issues, key, /is required/);
    hasIssue(issuesOf(null), '(root)', /expected object, got null/);
    hasIssue(issuesOf([]), '(root)', /expected object, got a list/);
  });
});

describe('weights are whole percent', () => {
  it('a fractional phase percentage is rejected with the field named, written either way', () => {
    const issues = issuesOf(
      withOverrides({ trafficControl: { phases: [{ percentage: 2.5, duration: 60 }, { percentage: '7.5%', duration: 60 }] } }),
    );
    hasIssue(issues, 'trafficControl.phases[0].percentage', /^must be a whole number of percent/);
    hasIssue(issues, 'trafficControl.phases[1].percentage', /^must be a whole number of percent.*"7\.5%"/);
  });
  it('so are a fractional full-rollout increment and gradual-rollback step', () => {
    const issues = issuesOf(
      withOverrides({
        trafficControl: { phases: [{ percentage: 5, duration: 60 }, { incrementSize: 2.5, interval: '1m' }] },
        gradualRollback: { stepSize: 7.5 },
      }),
    );
    hasIssue(issues, 'trafficControl.phases[1].incrementSize', /^must be a whole number of percent/);
    hasIssue(issues, 'gradualRollback.stepSize', /^must be a whole number of percent/);
  });
  it('whole percentages, bare or with %, still parse', () => {
    const spec = ok(withOverrides({ trafficControl: { phases: [{ percentage: '5%', duration: 60 }, { percentage: 10.0, duration: 60 }] } }));
    assert.deepEqual(
      spec.phases.map((p) => p.weight),
      [5, 10],
    );
  });
});

describe('query windows', () => {
  it('a custom query without {{window}} is rejected at its metric', () => {
    const issues = issuesOf(
      withOverrides({ metrics: { queries: { p95_latency: 'histogram_quantile(0.95, latency_bucket{v="{{version}}"})' } } }),
    );
    hasIssue(issues, 'metrics.queries.p95_latency', /^must use \{\{window\}\}/);
  });
  it('every default query uses {{window}}', () => {
    for (const metric of METRIC_NAMES) assert.match(DEFAULT_QUERIES[metric], /\[\{\{window\}\}\]/, metric);
  });
});

describe('request_count and minimum evidence', () => {
  it('request_count is a metric with the number of requests the version served in the window', () => {
    assert.ok(METRIC_NAMES.includes('request_count'));
    assert.equal(
      DEFAULT_QUERIES.request_count,
      'sum(increase(http_requests_total{service="{{service}}",{{versionLabel}}="{{version}}"}[{{window}}]))',
    );
    const spec = ok(withOverrides({ rollbackTriggers: [{ condition: 'request_count < 100', action: 'gradual_rollback' }] }));
    assert.equal(spec.metrics.queries.request_count, DEFAULT_QUERIES.request_count);
    assert.deepEqual(
      spec.rollbackTriggers.map((t) => [t.metric, t.op, t.threshold]),
      [['request_count', '<', 100]],
    );
  });
  it('minRequests defaults to 50 for the request-derived metrics and 0 for the others', () => {
    const spec = ok(REQUIRED);
    assert.equal(spec.metrics.minRequests, 50);
    assert.deepEqual(spec.metrics.minRequestsByMetric, {});
    assert.deepEqual([...REQUEST_DERIVED_METRICS].sort(), ['error_rate', 'p95_latency', 'p99_latency', 'success_rate']);
    const expected = Object.fromEntries(
      METRIC_NAMES.map((m) => [m, (REQUEST_DERIVED_METRICS as readonly MetricName[]).includes(m) ? 50 : 0]),
    );
    assert.deepEqual(Object.fromEntries(METRIC_NAMES.map((m) => [m, minRequestsFor(spec, m)])), expected);
    for (const m of ['request_rate', 'request_count', 'cpu_usage', 'memory_usage', 'task_success_rate'] as const) {
      assert.equal(minRequestsFor(spec, m), 0, m);
    }
  });
  it('minRequests and per-metric overrides (0 turns the minimum off for that metric)', () => {
    const spec = ok(
      withOverrides({ metrics: { minRequests: 20, minRequestsByMetric: { p99_latency: 200, error_rate: 0, cpu_usage: 5 } } }),
    );
    assert.equal(spec.metrics.minRequests, 20);
    assert.deepEqual(spec.metrics.minRequestsByMetric, { p99_latency: 200, error_rate: 0, cpu_usage: 5 });
    assert.equal(minRequestsFor(spec, 'p99_latency'), 200);
    assert.equal(minRequestsFor(spec, 'error_rate'), 0);
    assert.equal(minRequestsFor(spec, 'p95_latency'), 20);
    assert.equal(minRequestsFor(spec, 'cpu_usage'), 5);
    assert.equal(minRequestsFor(spec, 'memory_usage'), 0);
  });
  it('minimums must be whole numbers of requests, per known metric', () => {
    const issues = issuesOf(
      withOverrides({ metrics: { minRequests: 2.5, minRequestsByMetric: { bogus: 1, error_rate: -1, p95_latency: 'many' } } }),
    );
    hasIssue(issues, 'metrics.minRequests', /whole number of requests/);
    hasIssue(issues, 'metrics.minRequestsByMetric.bogus', /unknown key; allowed here: error_rate/);
    hasIssue(issues, 'metrics.minRequestsByMetric.error_rate', /at least 0/);
    hasIssue(issues, 'metrics.minRequestsByMetric.p95_latency', /number of requests/);
    hasIssue(issuesOf(withOverrides({ metrics: { minRequests: -1 } })), 'metrics.minRequests', /at least 0/);
  });
  it('request_count disabled while a minimum applies is an error at metrics.queries.request_count', () => {
    const issues = issuesOf(withOverrides({ metrics: { queries: { request_count: null } } }));
    hasIssue(issues, 'metrics.queries.request_count', /request_count is disabled.*error_rate ≥ 50.*metrics\.minRequests/);
    const byMetric = issuesOf(
      withOverrides({ metrics: { queries: { request_count: null }, minRequests: 0, minRequestsByMetric: { p95_latency: 10 } } }),
    );
    hasIssue(byMetric, 'metrics.queries.request_count', /p95_latency ≥ 10/);
    // No minimum left, or only on metrics that are disabled too: nothing needs the count.
    ok(withOverrides({ metrics: { queries: { request_count: null }, minRequests: 0 } }));
    ok(
      withOverrides({
        metrics: {
          queries: { request_count: null, error_rate: null, success_rate: null, p95_latency: null, p99_latency: null },
        },
        rollbackTriggers: [],
      }),
    );
  });
});

describe('optional metrics and disabled metrics', () => {
  it('metrics.optional defaults to none and lists metric names', () => {
    assert.deepEqual(ok(REQUIRED).metrics.optional, []);
    const spec = ok(withOverrides({ metrics: { optional: ['cache_hit_rate', 'agent_health_score', 'cache_hit_rate'] } }));
    assert.deepEqual(spec.metrics.optional, ['cache_hit_rate', 'agent_health_score']);
    hasIssue(issuesOf(withOverrides({ metrics: { optional: ['cache_hits'] } })), 'metrics.optional[0]', /cache_hit_rate/);
  });
  it('a trigger on a disabled metric is accepted, never evaluated, and listed by disabledTriggers', () => {
    // Turning a metric off is the one field: the seed's triggers on it may stay.
    const seed = okText(`${REQUIRED_YAML}metrics:\n  queries:\n    p95_latency: null\n    task_success_rate: null\n${SEED_6_1}`);
    assert.equal(seed.metrics.queries.p95_latency, null);
    assert.deepEqual(seed.rollbackTriggers, SEED_TRIGGERS);
    assert.deepEqual(
      disabledTriggers(seed).map((t) => t.condition),
      ['p95_latency > 500ms', 'task_success_rate < 98%'],
    );
    const camel = ok(
      withOverrides({
        metrics: { queries: { cpu_usage: null } },
        rollbackTriggers: [{ condition: 'cpu_usage > 90%', action: 'gradual_rollback' }],
      }),
    );
    assert.deepEqual(disabledTriggers(camel), camel.rollbackTriggers);
    assert.deepEqual(disabledTriggers(ok(REQUIRED)), []);
  });
});

describe('text and files', () => {
  it('JSON is accepted and syntax errors carry line numbers', () => {
    const spec = okText(JSON.stringify({ ...REQUIRED, warmup: { duration: '90s' } }, null, 2), 'json');
    assert.equal(spec.warmup.durationMs, 90_000);
    const broken = parseRolloutSpecText('{\n  "service": "x",\n  "stable": "v1"\n  "canary": "v2"\n}', 'json');
    assert.equal(broken.success, false);
    if (!broken.success) assert.match(broken.issues[0]?.message ?? '', /^JSON syntax error at line \d+, column \d+/);
    const yamlBroken = parseRolloutSpecText('service: x\n  stable: : y\n');
    assert.equal(yamlBroken.success, false);
    if (!yamlBroken.success) assert.match(yamlBroken.issues[0]?.message ?? '', /^YAML syntax error at line \d+, column \d+: \S/);
  });
  it('duplicate keys and empty documents are errors', () => {
    const dup = parseRolloutSpecText(`${REQUIRED_YAML}service: other\n`);
    assert.equal(dup.success, false);
    if (!dup.success) assert.match(dup.issues[0]?.message ?? '', /^YAML syntax error at line 17, column 1: Map keys must be unique$/);
    const empty = parseRolloutSpecText('# nothing\n');
    assert.deepEqual(empty, { success: false, issues: [{ path: '(root)', message: 'the spec is empty' }] });
  });
  it('examples/minimal.yaml and examples/seed-verbatim.yaml load, and the normalized spec is a fixed point', async () => {
    const minimal = await loadRolloutSpecFile(join(repo, 'examples', 'minimal.yaml'));
    assert.equal(minimal.service, 'checkout');
    assert.deepEqual(minimal.phases, SEED_PHASES);
    assert.deepEqual(minimal.rollbackTriggers, SEED_TRIGGERS);
    const seed = await loadRolloutSpecFile(join(repo, 'examples', 'seed-verbatim.yaml'));
    assert.deepEqual(seed.phases, SEED_PHASES);
    assert.deepEqual(seed.fullRollout, SEED_FULL_ROLLOUT);
    assert.deepEqual(seed.validation, SEED_VALIDATION);
    assert.deepEqual(seed.rollbackTriggers, SEED_TRIGGERS);
    assert.equal(seed.platform.kind === 'command' && seed.platform.timeoutMs, 600_000);
    // The spec survives a JSON round trip (it is a workflow payload) unchanged.
    assert.deepEqual(JSON.parse(JSON.stringify(seed)), seed);
  });
  it('every examples/*.yaml loads', async () => {
    const names = (await readdir(join(repo, 'examples'))).filter((name) => name.endsWith('.yaml'));
    assert.ok(names.length >= 5, names.join(', '));
    for (const name of names) await loadRolloutSpecFile(join(repo, 'examples', name));
  });
  it('loadRolloutSpecFile throws SpecValidationError listing every problem, and names unreadable files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'phoenix-spec-'));
    try {
      const file = join(dir, 'bad.json');
      await writeFile(file, JSON.stringify({ ...REQUIRED, service: '', failureLimit: 0 }));
      await assert.rejects(loadRolloutSpecFile(file), (err: unknown) => {
        assert.ok(err instanceof SpecValidationError);
        assert.equal(err.name, 'SpecValidationError');
        assert.deepEqual(
          err.issues.map((i) => i.path),
          ['service', 'failureLimit'],
        );
        assert.match(err.message, /bad\.json \(2 problems\):\nservice: .*\nfailureLimit: must be at least 1/);
        return true;
      });
      await assert.rejects(loadRolloutSpecFile(join(dir, 'missing.yaml')), /cannot read .*missing\.yaml: ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  it('formatIssues prints one path: message per line', () => {
    assert.equal(
      formatIssues([
        { path: 'a.b[0]', message: 'x' },
        { path: '(root)', message: 'y' },
      ]),
      'a.b[0]: x\n(root): y',
    );
  });
});

describe('generated artifacts', () => {
  it('the JSON Schema accepts the examples and the seed blocks, and rejects what the parser rejects', async () => {
    // ajv arrives with fastify; it is used here only to check the generated schema independently.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- ajv is not our dependency, so its types stay out
    const { default: Ajv2020 } = require('ajv/dist/2020') as { default: AjvConstructor };
    const schema = JSON.parse(await readFile(join(repo, 'rollout-spec', 'rollout-spec.schema.json'), 'utf8')) as object;
    const validate = new Ajv2020({ allErrors: true }).compile(schema);
    for (const name of ['minimal.yaml', 'seed-verbatim.yaml']) {
      const data: unknown = parseYaml(await readFile(join(repo, 'examples', name), 'utf8'));
      assert.equal(validate(data), true, `${name}: ${JSON.stringify(validate.errors)}`);
    }
    assert.equal(validate(parseYaml(REQUIRED_YAML + SEED_3_2 + SEED_4_2 + SEED_6_1)), true, JSON.stringify(validate.errors));
    assert.equal(validate({ ...REQUIRED, extra: 1 }), false);
    assert.equal(validate({ ...REQUIRED, service: 'a"} or vector(1) #' }), false);
    assert.equal(validate({ ...REQUIRED, traffic: { kind: 'nginx' } }), false);
  });

  it('rollout-spec/rollout-spec.schema.json and docs/spec-reference.md are up to date (npm run spec:schema)', () => {
    assert.deepEqual(staleFiles(), []);
  });
  it('the inferred types equal the original contract (tsc on test/unit/spec-types.check.ts)', { timeout: 120_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'phoenix-tsc-'));
    try {
      const config = join(dir, 'tsconfig.json');
      await writeFile(
        config,
        JSON.stringify({
          extends: join(repo, 'tsconfig.json'),
          compilerOptions: { noEmit: true, rootDir: repo, typeRoots: [join(repo, 'node_modules', '@types')] },
          include: [],
          files: [join(repo, 'test', 'unit', 'spec-types.check.ts')],
        }),
      );
      await promisify(execFile)(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', config], {
        cwd: repo,
      });
    } catch (err) {
      const out = err as { stdout?: string; stderr?: string };
      assert.fail(`tsc failed:\n${out.stdout ?? ''}${out.stderr ?? String(err)}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
