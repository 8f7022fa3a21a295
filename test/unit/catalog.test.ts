import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import pino from 'pino';
import { createResolveRollout } from '../../activities/resolve-rollout';
import { CatalogError, loadCatalog } from '../../catalog/catalog';
import { parseRolloutRequest } from '../../catalog/request';
import { resolveRequest } from '../../catalog/resolve';
import type { RolloutRequest } from '../../catalog/types';
import { assertRolloutSpecText } from '../../rollout-spec/parse';

const EXAMPLE = path.resolve(__dirname, '../../examples/catalog');

const ROUTERS = `routers:
  lb:
    kind: webhook
    url: http://127.0.0.1:1/traffic
    secretEnv: LB_SECRET
platforms:
  hooks:
    kind: webhook
    url: http://127.0.0.1:1/platform
    secretEnv: PLATFORM_SECRET
metricSources:
  prom:
    prometheusUrl: http://127.0.0.1:9090
`;
const SERVICES = `services:
  checkout:
    router: lb
    platform: hooks
    metrics: prom
    stable: v1
    overrides:
      allow: [trafficControl, validation, rollback_triggers]
      limits: { minPhaseDuration: 1m, maxFirstWeight: 10, maxErrorRate: 2% }
  payments:
    router: lb
    platform: hooks
    metrics: prom
`;

function catalogDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'phoenix-catalog-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

function request(data: unknown): RolloutRequest {
  const parsed = parseRolloutRequest(data);
  assert.ok(parsed.success, JSON.stringify(parsed));
  return parsed.request;
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CatalogError, String(err));
    return [...err.issues];
  }
  assert.fail('expected a CatalogError');
}

test('the example catalog loads and resolves checkout to the same plan as the inline demo spec', async () => {
  const catalog = loadCatalog(EXAMPLE);
  const resolved = resolveRequest(catalog, request({ service: 'checkout', canary: 'v2' }));
  assert.ok(resolved.ok, JSON.stringify(resolved));
  const { readFile } = await import('node:fs/promises');
  const inline = assertRolloutSpecText(await readFile(path.resolve(__dirname, '../../examples/demo-stack.yaml'), 'utf8'));
  assert.deepEqual(resolved.spec.phases, inline.phases);
  assert.deepEqual(resolved.spec.traffic, inline.traffic);
  assert.equal(resolved.spec.stable.version, 'v1');
  assert.equal(resolved.source.service, 'checkout');
  assert.match(resolved.source.revision, /^[0-9a-f]{16}$/);
});

test('every problem of a catalog directory is listed as file: path: message', () => {
  const dir = catalogDir({
    'a.yaml': ROUTERS.replace('kind: webhook\n    url: http://127.0.0.1:1/traffic', 'kind: haproxy\n    runtimeApi: nowhere'),
    'b.yaml': `services:
  checkout:
    router: missing
    platform: hooks
    metrics: prom
    stable: v1
  orders:
    router: lb
    platform: hooks
    metrics: prom
    stable: v1
    colour: blue
platforms:
  hooks:
    kind: process
`,
    'c.yml': 'metricSources:\n  other:\n    versionLabel: version\n',
  });
  try {
    const problems = problemsOf(() => loadCatalog(dir));
    assert.ok(problems.some((p) => /^a\.yaml: routers\.lb\.runtimeApi: /.test(p)), problems.join('\n'));
    assert.ok(problems.some((p) => /^a\.yaml: routers\.lb\.(backend|stableServer): is required/.test(p)), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('b.yaml: services.orders.colour: unknown key')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('b.yaml: platforms.hooks: already defined in a.yaml')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('c.yml: metricSources.other.prometheusUrl: is required')), problems.join('\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a service naming a router that does not exist is refused, with the known ones', () => {
  const dir = catalogDir({ 'a.yaml': ROUTERS, 'b.yaml': SERVICES.replace('router: lb\n    platform: hooks\n    metrics: prom\n    stable: v1', 'router: lbb\n    platform: hooks\n    metrics: prom\n    stable: v1') });
  try {
    assert.deepEqual(problemsOf(() => loadCatalog(dir)), ['b.yaml: services.checkout.router: no router "lbb" (known: lb)']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a service's defaults are checked at load by resolving it", () => {
  const dir = catalogDir({ 'a.yaml': ROUTERS, 'b.yaml': `${SERVICES}    defaults:\n      trafficControl:\n        phases:\n          - { percentage: 150, duration: 5m }\n` });
  try {
    const problems = problemsOf(() => loadCatalog(dir));
    assert.ok(problems.some((p) => p.startsWith('b.yaml: services.payments: trafficControl.phases[0].percentage: ')), problems.join('\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a request naming a command, directory, environment, state directory or URL is refused naming each field', () => {
  const parsed = parseRolloutRequest({
    service: 'checkout',
    canary: 'v2',
    traffic: { kind: 'webhook', url: 'http://169.254.169.254/' },
    platform: { kind: 'process', command: ['sh', '-c', 'cat /etc/shadow'], cwd: '/', env: { A: 'b' }, stateDir: '/tmp' },
    metrics: { prometheusUrl: 'http://10.0.0.1/', queries: { error_rate: 'x' }, defaultWindow: '1m' },
    alerts: { alertmanagerUrl: 'http://10.0.0.2/' },
    validation: { callbackUrl: 'http://x/' },
    noData: { env: { SECRET: '1' } },
  });
  assert.ok(!parsed.success);
  const paths = parsed.issues.map((i) => i.path).sort();
  assert.deepEqual(paths, ['alerts.alertmanagerUrl', 'metrics.prometheusUrl', 'metrics.queries', 'noData.env', 'platform', 'traffic', 'validation.callbackUrl']);
  for (const issue of parsed.issues) assert.match(issue.message, /operator-owned/);
});

test('a request resolves with deep-merged overrides and keeps within the catalog limits', () => {
  const dir = catalogDir({ 'a.yaml': ROUTERS, 'b.yaml': SERVICES });
  try {
    const catalog = loadCatalog(dir);
    const ok = resolveRequest(
      catalog,
      request({ service: 'checkout', canary: 'v2', validation: { error_rate: { critical: '2%' } }, trafficControl: { phases: [{ percentage: 10, duration: '2m' }] } }),
    );
    assert.ok(ok.ok, JSON.stringify(ok));
    assert.equal(ok.spec.validation.errorRate.critical, 0.02);
    assert.equal(ok.spec.validation.errorRate.warning, 0.005, 'the rest of validation keeps its default');
    assert.deepEqual(ok.spec.phases.map((p) => [p.weight, p.durationMs]), [[10, 120_000]]);

    const beyond = resolveRequest(
      catalog,
      request({
        service: 'checkout',
        canary: 'v2',
        validation: { error_rate: { warning: '1%', critical: '5%' } },
        trafficControl: { phases: [{ percentage: 50, duration: '10s' }] },
        rollback_triggers: [],
      }),
    );
    assert.ok(!beyond.ok);
    assert.deepEqual(beyond.issues.map((i) => i.path).sort(), [
      'rollback_triggers',
      'trafficControl.phases.full_rollout.maxErrorRate',
      'trafficControl.phases[0].duration',
      'trafficControl.phases[0].errorThreshold',
      'trafficControl.phases[0].percentage',
      'validation.error_rate.critical',
    ]);

    const notAllowed = resolveRequest(catalog, request({ service: 'checkout', canary: 'v2', noData: { action: 'ignore' } }));
    assert.ok(!notAllowed.ok);
    assert.deepEqual(notAllowed.issues.map((i) => i.path), ['noData']);

    const unknown = resolveRequest(catalog, request({ service: 'billing', canary: 'v2' }));
    assert.ok(!unknown.ok);
    assert.deepEqual(unknown.issues, [{ path: 'service', message: 'no service "billing" in the catalog' }]);

    const noStable = resolveRequest(catalog, request({ service: 'payments', canary: 'v2' }));
    assert.ok(!noStable.ok);
    assert.deepEqual(noStable.issues.map((i) => i.path), ['stable']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the revision names the entries a rollout used: it changes with them, not with other services', () => {
  const dir = catalogDir({ 'a.yaml': ROUTERS, 'b.yaml': SERVICES });
  try {
    const rev = (): string => {
      const r = resolveRequest(loadCatalog(dir), request({ service: 'checkout', canary: 'v2' }));
      assert.ok(r.ok);
      return r.source.revision;
    };
    const first = rev();
    writeFileSync(path.join(dir, 'b.yaml'), SERVICES.replace('payments:\n    router: lb', 'payments:\n    description: other\n    router: lb'));
    assert.equal(rev(), first);
    writeFileSync(path.join(dir, 'a.yaml'), ROUTERS.replace('/traffic', '/traffic2'));
    assert.notEqual(rev(), first);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('resolveRollout refuses inline targets unless the worker allows them, and reads the catalog afresh', async () => {
  const dir = catalogDir({ 'a.yaml': ROUTERS, 'b.yaml': SERVICES });
  const logger = pino({ level: 'silent' });
  try {
    const spec = resolveRequest(loadCatalog(dir), request({ service: 'checkout', canary: 'v2' }));
    assert.ok(spec.ok);
    const strict = createResolveRollout({ catalogDir: dir, allowInlineTargets: false }, logger);
    await assert.rejects(strict({ rolloutId: 'rollout-checkout', spec: spec.spec }), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'InlineTargetsNotAllowedError');
      assert.equal(err.nonRetryable, true);
      return true;
    });
    const lax = createResolveRollout({ allowInlineTargets: true }, logger);
    assert.deepEqual((await lax({ rolloutId: 'rollout-checkout', spec: spec.spec })).source, { kind: 'inline' });

    const req = request({ service: 'checkout', canary: 'v2' });
    const before = await strict({ rolloutId: 'rollout-checkout', request: req });
    assert.equal(before.spec.traffic.kind, 'webhook');
    writeFileSync(path.join(dir, 'a.yaml'), ROUTERS.replace('/traffic', '/traffic-v2'));
    const after = await strict({ rolloutId: 'rollout-checkout', request: req });
    assert.notEqual(after.source.kind === 'catalog' && after.source.revision, before.source.kind === 'catalog' && before.source.revision);

    writeFileSync(path.join(dir, 'a.yaml'), 'routers: [');
    await assert.rejects(strict({ rolloutId: 'rollout-checkout', request: req }), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'CatalogUnavailableError');
      assert.match(err.message, /a\.yaml: \(root\): YAML syntax error/);
      return true;
    });
    const none = createResolveRollout({ allowInlineTargets: false }, logger);
    await assert.rejects(none({ rolloutId: 'rollout-checkout', request: req }), /no service "checkout" in the catalog/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
