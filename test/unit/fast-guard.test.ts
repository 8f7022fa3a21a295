/**
 * The HAProxy fast guard: the spec block and its defaults, the `show stat` parser, the sliding
 * window's decision, and the guard loop against a real HAProxy whose canary answers 500s.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { GuardWindow, parseShowStatCounters, sumServerCounters } from '../../activities/fast-guard-window';
import { guardCanaryLoop, type GuardHeartbeat } from '../../activities/fast-guard';
import type { PlatformCall } from '../../activities/platform';
import { runRuntimeApiCommand, parseRuntimeApiAddress } from '../../activities/traffic/haproxy-runtime-api';
import { formatFastGuard } from '../../client/render';
import { parseRolloutSpec } from '../../rollout-spec';
import type { RolloutSpec } from '../../rollout-spec/types';
import { startHaproxy, type HaproxyHandle } from '../helpers/haproxy';
import { startHttpServer, type TestHttpServer } from '../helpers/http-servers';
import { rolloutSpec } from '../helpers/rollout-spec';

const BASE = {
  service: 'checkout',
  stable: 'v1',
  canary: 'v2',
  traffic: { kind: 'haproxy', runtimeApi: '127.0.0.1:9999', backend: 'app', stableServer: 'stable', canaryServer: 'canary' },
  platform: { kind: 'command', deploy: ['true'], healthCheck: ['true'], promote: ['true'], terminate: ['true'] },
};

function parse(extra: Record<string, unknown>) {
  return parseRolloutSpec({ ...BASE, ...extra });
}

describe('spec: fastGuard', () => {
  it('is absent unless written, so specs without it stay as they were', () => {
    const r = parse({});
    assert.ok(r.success);
    assert.equal('fastGuard' in r.spec, false);
  });

  it('defaults: off, 200 ms, 2 s, the critical error level, the error-rate minimum evidence', () => {
    const r = parse({ fastGuard: {}, metrics: { minRequests: 30 } });
    assert.ok(r.success, JSON.stringify(!r.success && r.issues));
    assert.deepEqual(r.spec.fastGuard, { enabled: false, intervalMs: 200, windowMs: 2000, maxErrorRate: 0.01, minRequests: 30 });
  });

  it('takes the lowest immediate error-rate level and the per-metric minimum', () => {
    const r = parse({
      fastGuard: { enabled: true, interval: '100ms', window: '3s' },
      rollback_triggers: [{ condition: 'error_rate > 0.5%', window: '1m', action: 'immediate_rollback' }],
      metrics: { minRequestsByMetric: { error_rate: 80 } },
    });
    assert.ok(r.success, JSON.stringify(!r.success && r.issues));
    assert.deepEqual(r.spec.fastGuard, { enabled: true, intervalMs: 100, windowMs: 3000, maxErrorRate: 0.005, minRequests: 80 });
  });

  it('an explicit maxErrorRate and minRequests win; a gradual trigger does not lower the level', () => {
    const r = parse({
      fastGuard: { enabled: true, maxErrorRate: '5%', minRequests: 20 },
      rollback_triggers: [{ condition: 'error_rate > 0.1%', action: 'gradual_rollback' }],
    });
    assert.ok(r.success);
    assert.equal(r.spec.fastGuard?.maxErrorRate, 0.05);
    assert.equal(r.spec.fastGuard?.minRequests, 20);
    const defaults = parse({ fastGuard: { enabled: true }, rollback_triggers: [{ condition: 'error_rate > 0.1%', action: 'gradual_rollback' }] });
    assert.ok(defaults.success);
    assert.equal(defaults.spec.fastGuard?.maxErrorRate, 0.01);
  });

  it('needs traffic.kind haproxy, naming the field', () => {
    const r = parse({ fastGuard: { enabled: true }, traffic: { kind: 'webhook', url: 'https://lb.example/weights', secretEnv: 'LB_SECRET' } });
    assert.ok(!r.success);
    const issue = r.issues.find((i) => i.path === 'fastGuard.enabled');
    assert.ok(issue, JSON.stringify(r.issues));
    assert.match(issue.message, /traffic\.kind: haproxy.*webhook/);
    // Written but off is fine with any router.
    assert.ok(parse({ fastGuard: { enabled: false }, traffic: { kind: 'webhook', url: 'https://lb.example/weights', secretEnv: 'LB_SECRET' } }).success);
  });

  it('rejects an interval outside 100–250 ms, a window under two intervals, zero rates and minimums', () => {
    const r = parse({ fastGuard: { enabled: true, interval: '50ms', window: '80ms', maxErrorRate: 0, minRequests: 0 } });
    assert.ok(!r.success);
    const paths = r.issues.map((i) => i.path).sort();
    assert.deepEqual(paths, ['fastGuard.interval', 'fastGuard.maxErrorRate', 'fastGuard.minRequests', 'fastGuard.window']);
    assert.ok(!parse({ fastGuard: { interval: '300ms' } }).success);
  });
});

describe('phoenix status: the fast guard line', () => {
  it('says whether it samples, how often it failed and why; nothing without a guard', () => {
    assert.equal(formatFastGuard(undefined), '');
    assert.equal(
      formatFastGuard({ running: true, starts: 1, failures: 0, lastError: null, lastResult: null, at: '' }),
      'fast guard: sampling HAProxy (1 start(s))',
    );
    assert.equal(
      formatFastGuard({ running: false, starts: 4, failures: 2, lastError: 'guardCanary failed: unreachable', lastResult: null, at: '' }),
      'fast guard: not sampling (4 start(s)); 2 failed attempt(s) in a row: guardCanary failed: unreachable',
    );
  });
});

/** The columns of HAProxy 2.6's `show stat` (names matter, not positions). */
const COLUMNS =
  'pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt'.split(',');

function row(values: Record<string, string | number>): string {
  return COLUMNS.map((c) => String(values[c] ?? '')).join(',') + ',';
}

function statAnswer(rows: Record<string, string | number>[]): string {
  return `# ${COLUMNS.join(',')},\n${rows.map(row).join('\n')}\n\n`;
}

const counters = (px: string, sv: string, c2xx: number, c5xx: number, c4xx = 0) => ({
  pxname: px,
  svname: sv,
  hrsp_1xx: 0,
  hrsp_2xx: c2xx,
  hrsp_3xx: 0,
  hrsp_4xx: c4xx,
  hrsp_5xx: c5xx,
  hrsp_other: 0,
});

describe('show stat counters', () => {
  it('reads every server of the backend by column name, skipping other proxies and the aggregate rows', () => {
    const answer = statAnswer([
      counters('main', 'FRONTEND', 999, 9),
      counters('app', 'stable', 900, 1),
      counters('app', 'canary', 95, 5, 3),
      counters('app', 'BACKEND', 995, 6),
      counters('other', 'canary', 1, 1),
    ]);
    const servers = parseShowStatCounters('show stat app 4 -1', 'app', answer);
    assert.deepEqual([...servers.keys()], ['stable', 'canary']);
    assert.deepEqual(servers.get('canary'), { responses: 103, errors: 5 });
    assert.deepEqual(sumServerCounters(servers, 'app', ['stable', 'canary']), { responses: 1004, errors: 6 });
  });

  it('names what is wrong: unknown backend or server, a TCP backend, a garbled answer', () => {
    assert.throws(() => parseShowStatCounters('c', 'app', 'No such backend.\n'), { name: 'TrafficTargetNotFoundError' });
    assert.throws(() => parseShowStatCounters('c', 'app', statAnswer([counters('x', 'a', 1, 0)])), { name: 'TrafficTargetNotFoundError' });
    const servers = parseShowStatCounters('c', 'app', statAnswer([counters('app', 'stable', 1, 0)]));
    assert.throws(() => sumServerCounters(servers, 'app', ['canary']), /app\/canary/);
    const tcp = statAnswer([{ pxname: 'app', svname: 'canary' }]);
    assert.throws(() => parseShowStatCounters('c', 'app', tcp), /no hrsp_1xx counter \(is backend app in mode http\?\)/);
    assert.throws(() => parseShowStatCounters('c', 'app', '# pxname,svname\napp,canary\n'), /no hrsp_1xx column/);
    assert.throws(() => parseShowStatCounters('c', 'app', 'hello\nworld\n'), /missing CSV header/);
  });
});

describe('GuardWindow', () => {
  const limits = { windowMs: 2000, maxErrorRate: 0.01, minRequests: 50 };

  it('fires when errors/responses over the window reach the level with enough responses', () => {
    const w = new GuardWindow(limits);
    assert.equal(w.add({ atMs: 0, responses: 1000, errors: 10 }).breached, false, 'the first sample is the baseline');
    const quiet = w.add({ atMs: 200, responses: 1040, errors: 10 });
    assert.equal(quiet.breached, false);
    assert.equal(quiet.requests, 40);
    const v = w.add({ atMs: 400, responses: 1100, errors: 11 });
    assert.deepEqual([v.breached, v.requests, v.errors, v.spanMs], [true, 100, 1, 400]);
    assert.equal(v.errorRate, 0.01);
  });

  it('never fires on fewer responses than minRequests, even when all of them failed', () => {
    const w = new GuardWindow(limits);
    w.add({ atMs: 0, responses: 0, errors: 0 });
    const v = w.add({ atMs: 200, responses: 49, errors: 49 });
    assert.equal(v.breached, false);
    assert.match(v.detail, /49 canary responses in 200 ms, at least 50 needed/);
  });

  it('slides: errors older than the window no longer count', () => {
    const w = new GuardWindow(limits);
    w.add({ atMs: 0, responses: 0, errors: 0 });
    assert.equal(w.add({ atMs: 200, responses: 100, errors: 5 }).breached, true);
    for (let t = 400, n = 200; t <= 2600; t += 200, n += 100) w.add({ atMs: t, responses: n, errors: 5 });
    const v = w.add({ atMs: 2800, responses: 1500, errors: 5 });
    assert.equal(v.breached, false, v.detail);
    assert.equal(v.errors, 0);
    assert.ok(v.spanMs <= 2000);
  });

  it('restarts on counters that went back (an HAProxy reload) instead of judging a negative difference', () => {
    const w = new GuardWindow(limits);
    w.add({ atMs: 0, responses: 5000, errors: 0 });
    const v = w.add({ atMs: 200, responses: 10, errors: 10 });
    assert.equal(v.breached, false);
    assert.match(v.detail, /window restarted/);
    assert.equal(w.add({ atMs: 400, responses: 110, errors: 20 }).breached, true);
  });

  it('resumes from a heartbeat\'s samples, ignoring malformed ones', () => {
    const w = new GuardWindow(limits, [{ atMs: 0, responses: 0, errors: 0 }, { atMs: 'x' } as never]);
    assert.equal(w.kept.length, 1);
    assert.equal(w.add({ atMs: 200, responses: 100, errors: 2 }).breached, true);
  });
});

describe('guardCanaryLoop against a real HAProxy', () => {
  let stable: TestHttpServer;
  let canary: TestHttpServer;
  let haproxy: HaproxyHandle;
  let failing = false;

  before(async () => {
    stable = await startHttpServer('stable');
    canary = await startHttpServer('canary', (_req, res) => {
      res.writeHead(failing ? 500 : 200, { 'content-type': 'text/plain' }).end('canary');
    });
    haproxy = await startHaproxy({
      servers: [
        { name: 'stable', address: `127.0.0.1:${stable.port}`, weight: 50 },
        { name: 'canary', address: `127.0.0.1:${canary.port}`, weight: 50 },
      ],
    });
  });

  after(async () => {
    await haproxy?.stop();
    await stable?.stop();
    await canary?.stop();
  });

  function specWith(guard: Record<string, unknown>): RolloutSpec {
    return rolloutSpec({
      traffic: { kind: 'haproxy', runtimeApi: haproxy.runtimeApi, backend: 'app', stableServer: 'stable', canaryServer: 'canary' },
      fastGuard: { enabled: true, interval: '100ms', window: '2s', maxErrorRate: '10%', minRequests: 20, ...guard },
    });
  }

  function callFor(spec: RolloutSpec, signal: AbortSignal, beats: GuardHeartbeat[]): PlatformCall {
    return {
      rolloutId: 'rollout-checkout',
      spec,
      logger: pino({ level: 'silent' }),
      signal,
      heartbeat: (d) => beats.push(d as GuardHeartbeat),
      deadline: Date.now() + 60_000,
    };
  }

  /** Sends `n` requests through HAProxy's frontend, one after another. */
  async function load(n: number): Promise<void> {
    for (let i = 0; i < n; i++) await (await fetch(haproxy.url)).text();
  }

  it('samples every interval, heartbeats each sample and returns on a 5xx ratio above the level', async () => {
    const beats: GuardHeartbeat[] = [];
    const controller = new AbortController();
    failing = false;
    const guard = guardCanaryLoop(callFor(specWith({}), controller.signal, beats), { resumeFrom: null });
    let settled = false;
    void guard.finally(() => (settled = true));
    await load(60);
    assert.equal(settled, false, 'healthy traffic does not fire');
    failing = true;
    const started = Date.now();
    // Bounded: the guard must see the 500s within a few samples.
    const loader = (async () => {
      while (!settled && Date.now() - started < 10_000) await load(5);
    })();
    const result = await guard;
    await loader;
    assert.equal(result.breached, true, result.detail);
    assert.ok((result.errorRate ?? 0) >= 0.1, result.detail);
    assert.ok(result.requests >= 20);
    assert.equal(result.windowMs, 2000);
    assert.ok(beats.length >= 2 && beats.length === result.samples, `${beats.length} heartbeats, ${result.samples} samples`);
    assert.deepEqual(beats.at(-1)?.servers, ['canary']);
    assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
  });

  it('is cancelled through its signal and never fires below minRequests', async () => {
    failing = true;
    const controller = new AbortController();
    const beats: GuardHeartbeat[] = [];
    const guard = guardCanaryLoop(callFor(specWith({ minRequests: 10_000 }), controller.signal, beats), { resumeFrom: null });
    await load(30);
    const deadline = Date.now() + 5_000;
    while (beats.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(beats.length >= 3);
    assert.match(beats.at(-1)?.last.detail ?? '', /at least 10000 needed/);
    controller.abort(new Error('cancelled by test'));
    await assert.rejects(guard, /cancelled by test/);
  });

  it('fails (retryably) when HAProxy is unreachable', async () => {
    const spec = rolloutSpec({
      traffic: { kind: 'haproxy', runtimeApi: '127.0.0.1:1', backend: 'app', stableServer: 'stable', canaryServer: 'canary' },
      fastGuard: { enabled: true },
    });
    await assert.rejects(guardCanaryLoop(callFor(spec, new AbortController().signal, []), { resumeFrom: null }), {
      name: 'TrafficUnavailableError',
    });
  });

  it('sums the counters of every member of a canary pool given by prefix', async () => {
    const members = await Promise.all([1, 2].map((i) => startHttpServer(`canary-${i}`, (_req, res) => res.writeHead(i === 1 ? 500 : 200).end())));
    const pool = await startHaproxy({
      servers: [
        { name: 'stable', address: `127.0.0.1:${stable.port}`, weight: 0 },
        ...members.map((m, i) => ({ name: `canary-${i + 1}`, address: `127.0.0.1:${m.port}`, weight: 50 })),
      ],
    });
    try {
      const spec = rolloutSpec({
        traffic: { kind: 'haproxy', runtimeApi: pool.runtimeApi, backend: 'app', stableServer: 'stable', canaryServers: { prefix: 'canary-' } },
        fastGuard: { enabled: true, interval: '100ms', window: '2s', maxErrorRate: '40%', minRequests: 20 },
      });
      const beats: GuardHeartbeat[] = [];
      const guard = guardCanaryLoop(callFor(spec, new AbortController().signal, beats), { resumeFrom: null });
      let settled = false;
      void guard.finally(() => (settled = true));
      const started = Date.now();
      while (!settled && Date.now() - started < 10_000) for (let i = 0; i < 5; i++) await (await fetch(pool.url)).text();
      const result = await guard;
      // Half of the pool's responses fail (one member of two): the sum, not either member alone.
      assert.equal(result.breached, true, result.detail);
      assert.ok((result.errorRate ?? 0) > 0.3 && (result.errorRate ?? 1) < 0.7, result.detail);
      assert.deepEqual(beats.at(-1)?.servers, ['canary-1', 'canary-2']);
    } finally {
      await pool.stop();
      await Promise.all(members.map((m) => m.stop()));
    }
  });

  it('reads the command HAProxy 2.6 really answers', async () => {
    const answer = await runRuntimeApiCommand(parseRuntimeApiAddress(haproxy.runtimeApi), 'show stat app 4 -1');
    const servers = parseShowStatCounters('show stat app 4 -1', 'app', answer);
    assert.deepEqual([...servers.keys()].sort(), ['canary', 'stable']);
  });
});
