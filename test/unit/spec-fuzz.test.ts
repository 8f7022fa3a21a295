/**
 * Property tests of the spec parser (fast-check): 1,000 generated valid specs are accepted and
 * are valid under the published JSON Schema (rollout-spec/rollout-spec.schema.json, checked with
 * Ajv); 1,000 generated invalid ones (one field broken in an otherwise valid spec: a wrong type,
 * a number out of range, a bad unit, an unknown key, or an injection attempt in a string that
 * reaches PromQL, HAProxy or a command line) are all refused, each with an issue at the path of
 * the field that was broken (or inside it). Seeded, so a failure replays; the counts are printed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Ajv2020 from 'ajv/dist/2020';
import fc from 'fast-check';
import { parseRolloutSpec } from '../../rollout-spec';

const SEED = 20261201;
const RUNS = 1_000;

const schema = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'rollout-spec', 'rollout-spec.schema.json'), 'utf8')) as object;
const validateSchema = new Ajv2020({ strict: false, allErrors: true }).compile(schema);

type Spec = Record<string, unknown>;

// ---- valid specs ------------------------------------------------------------------------------

const label = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,15}$/);
const haproxyName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,10}$/);
const duration = fc.tuple(fc.integer({ min: 1, max: 59 }), fc.constantFrom('s', 'm')).map(([n, unit]) => `${n}${unit}`);
const percentText = (min: number, max: number) => fc.integer({ min, max }).map((n) => `${n}%`);

const haproxyTraffic = fc.oneof(
  fc.record({
    kind: fc.constant('haproxy'),
    runtimeApi: fc.constantFrom('127.0.0.1:9999', '/run/haproxy/admin.sock', 'lb.internal:8404'),
    backend: haproxyName,
    stableServer: fc.constant('stable'),
    canaryServer: fc.constant('canary'),
  }),
  fc.record({
    kind: fc.constant('haproxy'),
    runtimeApi: fc.constant('/run/haproxy/admin.sock'),
    backend: haproxyName,
    stableServers: fc.oneof(fc.constant({ prefix: 'stable-' }), fc.constant(['s1', 's2', 's3'])),
    canaryServers: fc.oneof(fc.constant({ prefix: 'canary-' }), fc.constant(['c1', 'c2'])),
  }),
);
const webhookTraffic = fc.record({ kind: fc.constant('webhook'), url: fc.constant('https://lb.example/weights'), secretEnv: fc.constant('LB_SECRET') });

const platform = fc.oneof(
  fc.record({
    kind: fc.constant('command'),
    deploy: fc.constant(['./deploy.sh', '{{version}}']),
    healthCheck: fc.constant(['./health.sh']),
    promote: fc.constant(['./promote.sh', '{{version}}']),
    terminate: fc.constant(['./terminate.sh']),
    timeout: duration,
  }),
  fc.record({
    kind: fc.constant('process'),
    command: fc.constant(['node', 'app.js', '--port', '{{port}}', '--version', '{{version}}']),
    stablePort: fc.integer({ min: 1024, max: 20_000 }),
    canaryPort: fc.integer({ min: 30_000, max: 60_000 }),
    replicas: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.record({ stable: fc.integer({ min: 1, max: 4 }), canary: fc.integer({ min: 1, max: 4 }) })),
    canaryScale: fc.constantFrom('full', 'weight'),
  }),
);

/** 1-3 held phases of strictly increasing weight, optionally ending with the full rollout. */
const phases = fc
  .uniqueArray(fc.integer({ min: 1, max: 99 }), { minLength: 1, maxLength: 3 })
  .chain((weights) =>
    fc.tuple(
      fc.constant([...weights].sort((a, b) => a - b)),
      fc.array(duration, { minLength: weights.length, maxLength: weights.length }),
      fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }),
    ),
  )
  .map(([weights, durations, increment]) => [
    ...weights.map((w, i) => ({ name: `phase_${i}`, percentage: `${w}%`, duration: durations[i] as string })),
    ...(increment === undefined ? [] : [{ name: 'full_rollout', incrementSize: increment, interval: '1m' }]),
  ]);

/** The statistical judge: 1-3 distinct metrics with every field drawn, thresholds in order. */
const judgeSection = fc
  .record({
    metrics: fc.uniqueArray(
      fc.record({
        metric: fc.constantFrom('error_rate', 'p95_latency', 'p99_latency', 'cpu_usage', 'success_rate'),
        direction: fc.constantFrom('increase', 'decrease', 'either'),
        tolerance: percentText(0, 50),
        critical: fc.boolean(),
        weight: fc.integer({ min: 1, max: 10 }),
        group: fc.constantFrom('latency', 'errors', 'resources'),
      }),
      { minLength: 1, maxLength: 3, selector: (m) => m.metric },
    ),
    window: fc.constantFrom('5m', '10m'),
    step: fc.constantFrom('5s', '6s', '1m'),
    confidence: fc.constantFrom(0.9, 0.95, 0.98, 0.99),
    thresholds: fc.integer({ min: 50, max: 100 }).chain((pass) => fc.record({ pass: fc.constant(pass), marginal: fc.integer({ min: 0, max: pass }) })),
    onFail: fc.constantFrom('immediate_rollback', 'gradual_rollback'),
    interval: duration,
  })
  .map((j) => j as Spec);

const validSpec: fc.Arbitrary<Spec> = fc
  .record({
    service: label,
    stable: label,
    canary: label,
    traffic: fc.oneof(haproxyTraffic, webhookTraffic),
    platform,
    trafficControl: phases.map((p) => ({ phases: p })),
    analysisInterval: duration,
    failureLimit: fc.integer({ min: 1, max: 10 }),
    metrics: fc.record({ minRequests: fc.integer({ min: 0, max: 500 }), versionLabel: fc.constantFrom('version', 'track') }),
    validation: fc.record({ error_rate: fc.record({ warning: percentText(0, 1), critical: percentText(2, 9) }) }),
    fastGuard: fc.option(fc.record({ enabled: fc.boolean(), interval: fc.constantFrom('100ms', '200ms', '250ms') }), { nil: undefined }),
    judge: fc.option(judgeSection, { nil: undefined }),
  })
  .filter((s) => s.stable !== s.canary)
  .map((s) => {
    const spec: Spec = { ...s };
    if (spec.judge === undefined) delete spec.judge;
    if (spec.fastGuard === undefined) delete spec.fastGuard;
    // The guard samples HAProxy: with another router only `enabled: false` is valid.
    else if ((s.traffic as { kind: string }).kind !== 'haproxy') spec.fastGuard = { enabled: false };
    return spec;
  });

// ---- one field broken ---------------------------------------------------------------------------

/** Strings that would change a PromQL query, an HAProxy command or a command line if let through. */
const INJECTIONS = [
  'v2"} or vector(1) #',
  'checkout",version=~".*',
  'x\nset weight app/stable 0',
  'stable; disable server app/stable',
  '$(id)',
  '`reboot`',
  '../../etc/passwd',
  ' ',
  '',
  'a'.repeat(300),
  '{{version}}',
];

interface Breakage {
  /** Dotted path of the field that must be named, as the parser's issues write paths. */
  path: string;
  apply(spec: Spec): void;
}

const setIn = (spec: Spec, keys: (string | number)[], value: unknown): void => {
  let node = spec as Record<string | number, unknown>;
  for (const key of keys.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[keys[keys.length - 1] as string | number] = value;
};

const breakage: fc.Arbitrary<(spec: Spec) => Breakage> = fc.oneof(
  // Injection attempts in the strings that reach PromQL ({{service}}, {{version}}, the label name).
  fc.tuple(fc.constantFrom('service', 'stable', 'canary'), fc.constantFrom(...INJECTIONS)).map(([field, text]) => () => ({
    path: field,
    apply: (s: Spec) => setIn(s, [field], text),
  })),
  // (A long label name is a valid one: Prometheus sets no length limit.)
  fc.constantFrom(...INJECTIONS.filter((t) => t.length < 100)).map((text) => () => ({
    path: 'metrics.versionLabel',
    apply: (s: Spec) => setIn(s, ['metrics', 'versionLabel'], text === '{{version}}' ? 'ver-sion' : text),
  })),
  // ... that reach HAProxy commands (backend and server names; HAProxy sets no length limit).
  fc.constantFrom(...INJECTIONS.filter((t) => t.length < 100)).map((text) => (spec: Spec) => {
    const traffic = spec.traffic as Spec;
    if (traffic.kind !== 'haproxy') return { path: 'traffic.url', apply: (s: Spec) => setIn(s, ['traffic', 'url'], `javascript:${text}`) };
    return { path: 'traffic.backend', apply: (s: Spec) => setIn(s, ['traffic', 'backend'], text === '' ? 'a b' : text) };
  }),
  // ... that reach a command line: unknown placeholders, empty arguments.
  fc.constantFrom('{{env.SECRET}}', '{{ shell }}', '', '{{port}}{{x}}').map((arg) => (spec: Spec) => {
    const platform = spec.platform as Spec;
    const field = platform.kind === 'process' ? 'command' : 'deploy';
    return { path: `platform.${field}`, apply: (s: Spec) => setIn(s, ['platform', field], ['./run.sh', arg]) };
  }),
  // Wrong types.
  fc.constantFrom<[string, (string | number)[], unknown]>(
    ['failureLimit', ['failureLimit'], '3 times'],
    ['analysisInterval', ['analysisInterval'], { seconds: 30 }],
    ['metrics.minRequests', ['metrics', 'minRequests'], '50'],
    ['trafficControl.phases', ['trafficControl', 'phases'], 'all at once'],
    ['service', ['service'], 42],
    ['traffic', ['traffic'], []],
  ).map(([p, keys, value]) => () => ({ path: p, apply: (s: Spec) => setIn(s, keys, value) })),
  // Numbers out of range.
  fc.oneof(
    fc.integer({ min: -100, max: 0 }).map((n) => () => ({ path: 'failureLimit', apply: (s: Spec) => setIn(s, ['failureLimit'], n) })),
    fc.integer({ min: 101, max: 10_000 }).map((n) => () => ({ path: 'trafficControl.phases[0].percentage', apply: (s: Spec) => setIn(s, ['trafficControl', 'phases', 0, 'percentage'], `${n}%`) })),
    fc.integer({ min: -50, max: -1 }).map((n) => () => ({ path: 'metrics.minRequests', apply: (s: Spec) => setIn(s, ['metrics', 'minRequests'], n) })),
    fc.integer({ min: 65_536, max: 1_000_000 }).map((n) => (spec: Spec) =>
      (spec.platform as Spec).kind === 'process'
        ? { path: 'platform.stablePort', apply: (s: Spec) => setIn(s, ['platform', 'stablePort'], n) }
        : { path: 'failureLimit', apply: (s: Spec) => setIn(s, ['failureLimit'], -n) },
    ),
  ),
  // Bad units.
  fc.constantFrom('30 parsecs', '0', 'soon', '-1m', '1e400s', 'NaNs', '1.0001ms').map((text) => () => ({ path: 'analysisInterval', apply: (s: Spec) => setIn(s, ['analysisInterval'], text) })),
  fc.constantFrom('150%', 'five percent', '1.5.0%', '%').map((text) => () => ({
    path: 'validation.error_rate.critical',
    apply: (s: Spec) => setIn(s, ['validation', 'error_rate', 'critical'], text),
  })),
  // The judge: a bad field in an otherwise valid judge section.
  fc.constantFrom<[string, (spec: Spec) => void]>(
    ['judge.metrics[0].metric', (s) => setIn(s, ['judge'], { metrics: [{ metric: 'latency' }] })],
    ['judge.metrics[0].tolerance', (s) => setIn(s, ['judge'], { metrics: [{ metric: 'p95_latency', tolerance: 'ten percent' }] })],
    ['judge.metrics[0].weight', (s) => setIn(s, ['judge'], { metrics: [{ metric: 'p95_latency', weight: 0 }] })],
    ['judge.metrics[1].metric', (s) => setIn(s, ['judge'], { metrics: [{ metric: 'p95_latency' }, { metric: 'p95_latency' }] })],
    ['judge.metrics', (s) => setIn(s, ['judge'], { metrics: [] })],
    ['judge.confidence', (s) => setIn(s, ['judge'], { metrics: [{ metric: 'error_rate' }], confidence: 98 })],
    ['judge.thresholds.marginal', (s) => setIn(s, ['judge'], { metrics: [{ metric: 'error_rate' }], thresholds: { pass: 80, marginal: 90 } })],
    ['judge.onFail', (s) => setIn(s, ['judge'], { metrics: [{ metric: 'error_rate' }], onFail: 'rollback' })],
    ['judge.step', (s) => setIn(s, ['judge'], { metrics: [{ metric: 'error_rate' }], window: '1m', step: '45s' })],
    ['judge.metrics[0].metric', (s) => {
      setIn(s, ['metrics', 'queries'], { cpu_usage: null });
      setIn(s, ['judge'], { metrics: [{ metric: 'cpu_usage' }] });
    }],
  ).map(([p, apply]) => () => ({ path: p, apply })),
  // Unknown keys, at the top and inside blocks.
  fc.tuple(fc.constantFrom([] as string[], ['metrics'], ['traffic'], ['platform']), fc.stringMatching(/^[a-z][a-zA-Z]{2,12}$/)).map(([at, key]) => () => ({
    path: at.length ? at.join('.') : '',
    apply: (s: Spec) => setIn(s, [...at, `unknown_${key}`], true),
  })),
);

const brokenSpec = fc.tuple(validSpec, breakage).map(([spec, make]) => {
  const b = make(spec);
  const broken = structuredClone(spec);
  b.apply(broken);
  return { broken, path: b.path };
});

test(`${RUNS} generated valid specs are accepted and valid under the JSON Schema`, () => {
  let accepted = 0;
  fc.assert(
    fc.property(validSpec, (spec) => {
      const parsed = parseRolloutSpec(spec);
      assert.ok(parsed.success, `refused: ${JSON.stringify(!parsed.success && parsed.issues)}\n${JSON.stringify(spec)}`);
      assert.ok(validateSchema(spec), `the JSON Schema refuses what the parser accepts: ${JSON.stringify(validateSchema.errors)}\n${JSON.stringify(spec)}`);
      accepted++;
    }),
    { numRuns: RUNS, seed: SEED },
  );
  assert.equal(accepted, RUNS);
  process.stdout.write(`# spec fuzz: ${accepted} of ${RUNS} valid specs accepted and schema-valid\n`);
});

test(`${RUNS} generated invalid specs are all refused, naming the broken field`, () => {
  let refused = 0;
  fc.assert(
    fc.property(brokenSpec, ({ broken, path: expected }) => {
      const parsed = parseRolloutSpec(broken);
      assert.equal(parsed.success, false, `accepted a spec broken at ${expected}: ${JSON.stringify(broken)}`);
      if (parsed.success) return;
      const paths = parsed.issues.map((i) => i.path);
      assert.ok(
        paths.some((p) => p === expected || p.startsWith(`${expected}.`) || p.startsWith(`${expected}[`) || (expected === '' && !/[.[]/.test(p))),
        `broken at "${expected}", issues at ${JSON.stringify(parsed.issues)}`,
      );
      refused++;
    }),
    { numRuns: RUNS, seed: SEED },
  );
  assert.equal(refused, RUNS);
  process.stdout.write(`# spec fuzz: ${refused} of ${RUNS} broken specs refused with the field's path\n`);
});
