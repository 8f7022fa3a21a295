/**
 * `judge.freshBaseline` (issue 11): accepted only where Phoenix deploys and routes the baseline
 * itself (the `process` platform with the operator's `baselinePort`, behind the single-server
 * HAProxy router with the operator's `baselineServer`), refused otherwise naming the field and
 * why; the share rule; and how the judge's baseline side selects the fresh instance's series.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRolloutSpec } from '../../rollout-spec';
import { DEFAULT_QUERIES } from '../../rollout-spec/queries';
import { FRESH_BASELINE_MATCHER, freshBaselineTemplate, freshBaselineWeight } from '../../rollout-spec/fresh-baseline';

const HAPROXY = { kind: 'haproxy', runtimeApi: '127.0.0.1:9999', backend: 'checkout', stableServer: 'stable', canaryServer: 'canary', baselineServer: 'baseline' };
const PROCESS = { kind: 'process', command: ['demo', '{{version}}', '{{port}}'], stablePort: 8081, canaryPort: 8082, baselinePort: 8079 };
const JUDGE = { metrics: [{ metric: 'p95_latency' }], freshBaseline: true };

function parse(over: Record<string, unknown>) {
  return parseRolloutSpec({ service: 'checkout', stable: 'v1', canary: 'v2', traffic: HAPROXY, platform: PROCESS, judge: JUDGE, ...over });
}

function issues(over: Record<string, unknown>): string[] {
  const parsed = parse(over);
  assert.equal(parsed.success, false, 'expected the spec to be refused');
  return parsed.success ? [] : parsed.issues.map((i) => `${i.path}: ${i.message}`);
}

const ALTERNATIVE = 'set false to judge against the running stable';

describe('spec: judge.freshBaseline', () => {
  it('is accepted on the process platform with baselinePort behind the single-server haproxy router with baselineServer', () => {
    const parsed = parse({});
    assert.ok(parsed.success, JSON.stringify(!parsed.success && parsed.issues));
    assert.equal(parsed.spec.judge?.freshBaseline, true);
    assert.equal(parsed.spec.platform.kind === 'process' && parsed.spec.platform.baselinePort, 8079);
    assert.equal(parsed.spec.traffic.kind === 'haproxy' && parsed.spec.traffic.baselineServer, 'baseline');
  });

  it('leaves specs without it as they were: false by default, and baselinePort / baselineServer alone change nothing', () => {
    const parsed = parse({ judge: { metrics: [{ metric: 'p95_latency' }] } });
    assert.ok(parsed.success);
    assert.equal(parsed.spec.judge?.freshBaseline, false);
    const { baselineServer: _, ...plain } = HAPROXY;
    assert.ok(parse({ traffic: plain, judge: { metrics: [{ metric: 'p95_latency' }], freshBaseline: false } }).success);
  });

  it('is refused, naming judge.freshBaseline and why, on every other platform', () => {
    const command = { kind: 'command', deploy: ['true'], healthCheck: ['true'], promote: ['true'], terminate: ['true'] };
    assert.deepEqual(issues({ platform: command }), [
      `judge.freshBaseline: a fresh baseline needs platform.kind "process" (Phoenix deploys the baseline instance itself), got "command"; ${ALTERNATIVE}`,
    ]);
    const webhook = { kind: 'webhook', url: 'https://deploy.example/hook', secretEnv: 'DEPLOY_SECRET' };
    assert.match(issues({ platform: webhook })[0] ?? '', /^judge\.freshBaseline: a fresh baseline needs platform\.kind "process".*got "webhook"/);
  });

  it('is refused without the operator\'s baselinePort, with pools, and with a canary that scales with its weight', () => {
    const { baselinePort: _, ...noPort } = PROCESS;
    assert.deepEqual(issues({ platform: noPort }), [
      `judge.freshBaseline: a fresh baseline needs platform.baselinePort (the port the operator reserved for the baseline instance); ${ALTERNATIVE}`,
    ]);
    const pool = `judge.freshBaseline: a fresh baseline is supported with one instance per version only (platform.replicas 1, canaryScale full); ${ALTERNATIVE}`;
    assert.deepEqual(issues({ platform: { ...PROCESS, replicas: 2, stablePort: 8081, canaryPort: 8083 } }), [pool]);
    assert.deepEqual(issues({ platform: { ...PROCESS, replicas: { stable: 3, canary: 3 }, stablePort: 8081, canaryPort: 8084, canaryScale: 'weight' } }), [pool]);
  });

  it('is refused on every other router: webhook, haproxy pools, haproxy without baselineServer', () => {
    const webhook = { kind: 'webhook', url: 'https://lb.example/weights', secretEnv: 'LB_SECRET' };
    assert.deepEqual(issues({ traffic: webhook }), [
      `judge.freshBaseline: a fresh baseline needs the single-server haproxy router (traffic.kind "haproxy" with stableServer and canaryServer), got "webhook"; ${ALTERNATIVE}`,
    ]);
    const pools = { kind: 'haproxy', runtimeApi: '127.0.0.1:9999', backend: 'checkout', stableServers: { prefix: 'stable-' }, canaryServers: { prefix: 'canary-' } };
    assert.deepEqual(issues({ traffic: pools }), [
      `judge.freshBaseline: a fresh baseline needs the single-server haproxy router (traffic.kind "haproxy" with stableServer and canaryServer), got "haproxy" with server pools; ${ALTERNATIVE}`,
    ]);
    const { baselineServer: _, ...noServer } = HAPROXY;
    assert.deepEqual(issues({ traffic: noServer }), [
      `judge.freshBaseline: a fresh baseline needs traffic.baselineServer (the backend's server for the baseline instance, configured by the operator); ${ALTERNATIVE}`,
    ]);
  });

  it('is refused when a judged metric\'s query cannot select the baseline (no version matcher to add track="baseline" to)', () => {
    const custom = 'sum(rate(http_requests_total{service="{{service}}",version=~"{{version}}"}[{{window}}]))';
    assert.deepEqual(issues({ metrics: { queries: { request_rate: custom } }, judge: { ...JUDGE, metrics: [{ metric: 'p95_latency' }, { metric: 'request_rate' }] } }), [
      'judge.freshBaseline: a fresh baseline needs every judged metric\'s query to select the version with {{versionLabel}}="{{version}}", so the baseline side can add track="baseline"; request_rate do not',
    ]);
  });

  it('checks the slots themselves: baselinePort clear of the pools, baselineServer distinct and single-server only', () => {
    assert.deepEqual(issues({ judge: undefined, platform: { ...PROCESS, baselinePort: 8082 } }), [
      'platform.baselinePort: must not be one of the stable (8081-8081) or canary (8082-8082) ports',
    ]);
    assert.deepEqual(issues({ judge: undefined, traffic: { ...HAPROXY, baselineServer: 'stable' } }), [
      'traffic.baselineServer: must differ from stableServer and canaryServer',
    ]);
  });
});

describe('the fresh baseline\'s share: min(canary, floor((100 - canary) / 2))', () => {
  it('equals the canary\'s share while stable keeps at least as much, then shrinks so stable keeps a share; 0 at 0 and 100', () => {
    const table = [0, 1, 5, 20, 33, 34, 40, 50, 60, 80, 98, 99, 100].map((w) => [w, freshBaselineWeight(w)]);
    assert.deepEqual(table, [[0, 0], [1, 1], [5, 5], [20, 20], [33, 33], [34, 33], [40, 30], [50, 25], [60, 20], [80, 10], [98, 1], [99, 0], [100, 0]]);
    for (let w = 0; w <= 100; w++) {
      const b = freshBaselineWeight(w);
      assert.ok(Number.isInteger(b) && b >= 0 && b <= w, `baseline ${b} at ${w}`);
      assert.ok(100 - w - b >= b, `stable keeps at least the baseline's share at ${w}`);
    }
  });

  it('the judge\'s baseline side adds track="baseline" to every version matcher of a default template', () => {
    const fresh = freshBaselineTemplate(DEFAULT_QUERIES.error_rate);
    assert.equal(fresh.split(FRESH_BASELINE_MATCHER).length - 1, 2);
    assert.ok(fresh.includes('{{versionLabel}}="{{version}}",track="baseline",status=~"5.."'), fresh);
  });
});
