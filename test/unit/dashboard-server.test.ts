/**
 * The dashboard's server side against a double of the rollout client: the page is public, the
 * login turns a token into an HttpOnly SameSite=Strict cookie that then authenticates like the
 * token (and only with the dashboard's header for state-changing calls), scopes decide which
 * actions a page offers and the API refuses the rest, and the live status is one shared poller
 * per rollout that pushes changes and stops with its last viewer. Real HTTP for the event stream.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { hashToken } from '../../client/api/auth';
import type { Credential } from '../../client/api/credentials';
import { DashboardBundleMissingError } from '../../client/api/dashboard/bundle';
import { CheckHistory } from '../../client/api/dashboard/check-history';
import { phaseStartedAt, worstOutcome } from '../../client/api/dashboard/list-rows';
import { DASHBOARD_REQUEST_HEADER, SESSION_COOKIE, readCookie, sessionAuthorization } from '../../client/api/dashboard/session';
import { WatchHub, type WatchEvent } from '../../client/api/dashboard/watch-hub';
import { compileScope } from '../../client/api/scope';
import { buildApiServer, type RolloutOperations } from '../../client/api/server';
import type { RolloutSummary } from '../../client/rollouts';
import type { CheckStatus, OperatorAck, OperatorAction, RolloutStatus } from '../../workflows/contract';

const ADMIN = 'dashboard-admin-token-0123';
const VIEWER = 'dashboard-viewer-token-0123';

function bundleDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'phoenix-dashboard-bundle-'));
  mkdirSync(path.join(dir, 'assets'));
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>Phoenix Rollouts</title><div id="app"></div>');
  writeFileSync(path.join(dir, 'assets', 'index-abc.js'), 'console.log(1)');
  return dir;
}

function check(overrides: Partial<CheckStatus> = {}): CheckStatus {
  return { check: 'error_rate.critical', metric: 'error_rate', value: 0.001, threshold: 0.01, comparator: '>', outcome: 'pass', streak: 0, at: '2026-12-01T10:00:00.000Z', ...overrides };
}

function status(overrides: Partial<RolloutStatus> = {}): RolloutStatus {
  return {
    rolloutId: 'rollout-checkout',
    service: 'checkout',
    stableVersion: 'v1',
    canaryVersion: 'v2',
    state: 'progressing',
    paused: false,
    phase: 'initial_canary',
    step: 1,
    weight: 5,
    phaseRemainingMs: 1000,
    phaseDurationMs: 3000,
    checks: [check()],
    lastAnalysisAt: '2026-12-01T10:00:00.000Z',
    rollbackReason: null,
    rollbackAction: null,
    stuckReason: null,
    timeline: [
      { at: '2026-12-01T09:59:00.000Z', weight: 0, phase: 'warm_up', reason: 'warm-up' },
      { at: '2026-12-01T09:59:30.000Z', weight: 5, phase: 'initial_canary', reason: 'phase initial_canary' },
    ],
    operatorEvents: [],
    startedAt: '2026-12-01T09:58:00.000Z',
    continuedAsNew: 0,
    targets: null,
    ...overrides,
  };
}

/** A client double whose status the test changes; counts status queries and operator calls. */
function fakeRollouts() {
  const state = { current: status(), statusCalls: 0, operations: [] as { action: OperatorAction; id: string }[] };
  const operate = (action: OperatorAction) => async (id: string): Promise<OperatorAck> => {
    state.operations.push({ action, id });
    return { action, state: 'paused', message: `${action} applied` };
  };
  const summary: RolloutSummary = {
    rolloutId: 'rollout-checkout', runId: 'r1', service: 'checkout', state: 'progressing', phase: 'initial_canary', weight: 5,
    executionStatus: 'RUNNING', startedAt: '2026-12-01T09:58:00.000Z', closedAt: null,
  };
  const old: RolloutSummary = { ...summary, rolloutId: 'rollout-billing', runId: 'r0', service: 'billing', state: 'promoted', executionStatus: 'COMPLETED', closedAt: '2026-11-05T00:00:00.000Z' };
  const ops: RolloutOperations = {
    startFromCatalog: async () => assert.fail('not used'),
    list: async () => [summary, old],
    status: async () => {
      state.statusCalls += 1;
      return state.current;
    },
    run: async () => assert.fail('not used'),
    pause: operate('pause'),
    resume: operate('resume'),
    abort: operate('abort'),
    promote: operate('promote'),
  };
  return { ops, state };
}

describe('dashboard server', () => {
  let app: FastifyInstance;
  let base: string;
  let fake: ReturnType<typeof fakeRollouts>;

  before(async () => {
    fake = fakeRollouts();
    const credentials: Credential[] = [
      { principal: 'viewer', tokenSha256: hashToken(VIEWER), scope: compileScope(['*'], ['read']), source: 'test' },
    ];
    app = buildApiServer({
      rollouts: fake.ops,
      logger: pino({ level: 'silent' }),
      tokenHashes: [hashToken(ADMIN)],
      credentials,
      dashboard: { assetsDir: bundleDir(), liveIntervalMs: 20 },
      now: () => Date.parse('2026-12-01T10:00:10.000Z'),
    });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await app?.close();
  });

  const login = async (token: string) => {
    const res = await app.inject({ method: 'POST', url: '/dashboard/login', payload: { token } });
    const cookie = [res.headers['set-cookie']].flat()[0] ?? '';
    return { res, cookie, session: `${SESSION_COOKIE}=${readCookie(cookie.split(';')[0], SESSION_COOKIE) ?? ''}` };
  };

  test('the page and its assets are public; deep links get the page; unknown assets are 404', async () => {
    const page = await app.inject({ url: '/dashboard/' });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /Phoenix Rollouts/);
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
    const deep = await app.inject({ url: '/dashboard/rollouts/rollout-checkout' });
    assert.equal(deep.statusCode, 200);
    assert.match(deep.body, /<div id="app">/);
    const asset = await app.inject({ url: '/dashboard/assets/index-abc.js' });
    assert.equal(asset.statusCode, 200);
    assert.match(String(asset.headers['cache-control']), /immutable/);
    assert.equal((await app.inject({ url: '/dashboard/assets/nope.js' })).statusCode, 404);
    assert.equal((await app.inject({ url: '/dashboard/assets/..%2F..%2Fpackage.json' })).statusCode, 404);
    assert.equal((await app.inject({ url: '/dashboard' })).headers.location, '/dashboard/');
  });

  test('the data routes need credentials', async () => {
    for (const url of ['/dashboard/api/session', '/dashboard/api/rollouts', '/dashboard/api/rollouts/checkout', '/dashboard/api/rollouts/checkout/events']) {
      assert.equal((await app.inject({ url })).statusCode, 401, url);
    }
  });

  test('login: a refused token is 401 and sets no cookie; a good one sets an HttpOnly SameSite=Strict cookie', async () => {
    const bad = await login('not-a-token');
    assert.equal(bad.res.statusCode, 401);
    assert.equal(bad.res.headers['set-cookie'], undefined);
    assert.equal(bad.res.json().errors[0].path, 'token');
    const good = await login(ADMIN);
    assert.equal(good.res.statusCode, 200);
    assert.match(good.cookie, new RegExp(`^${SESSION_COOKIE}=`));
    assert.match(good.cookie, /; HttpOnly/);
    assert.match(good.cookie, /; SameSite=Strict/);
    assert.match(good.cookie, /; Path=\//);
    assert.doesNotMatch(good.cookie, /Secure/, 'plain HTTP: no Secure flag');
    assert.equal(good.res.json().principal, `token:${hashToken(ADMIN).slice(0, 12)}`);
    const logout = await app.inject({ method: 'POST', url: '/dashboard/logout' });
    assert.match(String(logout.headers['set-cookie']), /Max-Age=0/);
  });

  test('the cookie authenticates reads, and actions only with the dashboard header', async () => {
    const { session } = await login(ADMIN);
    const me = await app.inject({ url: '/dashboard/api/session', headers: { cookie: session } });
    assert.equal(me.statusCode, 200);
    assert.deepEqual(me.json().actions, ['*']);
    // A cross-site form post brings the cookie (were SameSite not there) but cannot set the header.
    const forged = await app.inject({ method: 'POST', url: '/v1/rollouts/checkout/pause', headers: { cookie: session, 'content-type': 'application/json' }, payload: '{}' });
    assert.equal(forged.statusCode, 401);
    assert.equal(fake.state.operations.length, 0);
    const paused = await app.inject({
      method: 'POST',
      url: '/v1/rollouts/checkout/pause',
      headers: { cookie: session, [DASHBOARD_REQUEST_HEADER]: '1', 'content-type': 'application/json' },
      payload: '{"reason":"from the page"}',
    });
    assert.equal(paused.statusCode, 200, paused.body);
    assert.deepEqual(fake.state.operations, [{ action: 'pause', id: 'rollout-checkout' }]);
  });

  test('a read-only session is offered no actions, and the API refuses them', async () => {
    const { session } = await login(VIEWER);
    const page = await app.inject({ url: '/dashboard/api/rollouts/checkout', headers: { cookie: session } });
    assert.equal(page.statusCode, 200);
    assert.deepEqual(page.json().allowedActions, []);
    const admin = await login(ADMIN);
    const adminPage = await app.inject({ url: '/dashboard/api/rollouts/checkout', headers: { cookie: admin.session } });
    assert.deepEqual(adminPage.json().allowedActions, ['pause', 'resume', 'abort', 'promote']);
    const before = fake.state.operations.length;
    const refused = await app.inject({
      method: 'POST',
      url: '/v1/rollouts/checkout/abort',
      headers: { cookie: session, [DASHBOARD_REQUEST_HEADER]: '1', 'content-type': 'application/json' },
      payload: '{"reason":"no"}',
    });
    assert.equal(refused.statusCode, 403);
    assert.equal(fake.state.operations.length, before);
  });

  test('the list: running rollouts with status fields, finished ones only within the days asked', async () => {
    const { session } = await login(VIEWER);
    const week = await app.inject({ url: '/dashboard/api/rollouts', headers: { cookie: session } });
    assert.equal(week.statusCode, 200, week.body);
    const rows = week.json().rollouts;
    assert.deepEqual(rows.map((r: { rolloutId: string }) => r.rolloutId), ['rollout-checkout']);
    assert.equal(rows[0].canaryVersion, 'v2');
    assert.equal(rows[0].timeInPhaseMs, 40_000);
    assert.equal(rows[0].lastVerdict.outcome, 'pass');
    const month = await app.inject({ url: '/dashboard/api/rollouts?days=30', headers: { cookie: session } });
    assert.equal(month.json().rollouts.length, 2);
    assert.equal((await app.inject({ url: '/dashboard/api/rollouts?days=0', headers: { cookie: session } })).statusCode, 400);
    assert.equal((await app.inject({ url: '/dashboard/api/rollouts?state=bogus', headers: { cookie: session } })).statusCode, 400);
  });

  test('live status: pushed when it changes, one poller for all viewers, stopped with the last', async () => {
    const { session } = await login(VIEWER);
    const open = async () => {
      const controller = new AbortController();
      const res = await fetch(`${base}/dashboard/api/rollouts/checkout/events`, { headers: { cookie: session }, signal: controller.signal });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
      const reader = res.body!.getReader();
      let buffer = '';
      const nextStatus = async (): Promise<RolloutStatus> => {
        for (;;) {
          const at = buffer.indexOf('\n\n');
          if (at >= 0) {
            const block = buffer.slice(0, at);
            buffer = buffer.slice(at + 2);
            const event = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (event === 'status' && data) return JSON.parse(data) as RolloutStatus;
            continue;
          }
          const { value, done } = await reader.read();
          if (done) throw new Error('stream ended');
          buffer += Buffer.from(value).toString('utf8');
        }
      };
      return { nextStatus, close: () => controller.abort() };
    };
    const first = await open();
    const second = await open();
    assert.equal((await first.nextStatus()).paused, false);
    assert.equal((await second.nextStatus()).paused, false);
    fake.state.current = status({ paused: true, state: 'paused' });
    const changedAt = Date.now();
    assert.equal((await first.nextStatus()).state, 'paused');
    assert.equal((await second.nextStatus()).state, 'paused');
    assert.ok(Date.now() - changedAt < 1000, 'pushed within a second');
    // One poller: the query rate is that of one rollout at 20 ms, not two.
    const calls = fake.state.statusCalls;
    await new Promise((r) => setTimeout(r, 200));
    const rate = fake.state.statusCalls - calls;
    assert.ok(rate <= 12, `one poller expected, saw ${rate} queries in 200 ms`);
    first.close();
    second.close();
    const stoppedAt = Date.now();
    while (Date.now() - stoppedAt < 2000) {
      const before = fake.state.statusCalls;
      await new Promise((r) => setTimeout(r, 100));
      if (fake.state.statusCalls === before) break;
    }
    const idle = fake.state.statusCalls;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(fake.state.statusCalls, idle, 'no polling once the last viewer left');
  });
});

describe('dashboard pieces', () => {
  test('a missing bundle fails the API at start, naming the build command', () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'phoenix-dashboard-empty-'));
    assert.throws(
      () => buildApiServer({ rollouts: fakeRollouts().ops, logger: pino({ level: 'silent' }), tokenHashes: [hashToken(ADMIN)], dashboard: { assetsDir: empty } }),
      (err: unknown) => err instanceof DashboardBundleMissingError && /node dashboard\/build\.mjs/.test(err.message),
    );
  });

  test('the cookie stands for a bearer token; not for a state change without the header', () => {
    const cookie = `a=b; ${SESSION_COOKIE}=tok-1`;
    assert.equal(sessionAuthorization({ method: 'GET', headers: { cookie } }), 'Bearer tok-1');
    assert.equal(sessionAuthorization({ method: 'POST', headers: { cookie } }), undefined);
    assert.equal(sessionAuthorization({ method: 'POST', headers: { cookie, [DASHBOARD_REQUEST_HEADER]: '1' } }), 'Bearer tok-1');
    assert.equal(sessionAuthorization({ method: 'GET', headers: {} }), undefined);
  });

  test('the check history keeps each new evaluation once, bounded, and starts afresh for a new rollout', () => {
    const history = new CheckHistory({ maxPoints: 3 });
    for (let i = 0; i < 5; i++) history.record(status({ checks: [check({ at: `2026-12-01T10:00:0${i}.000Z`, value: i })] }));
    history.record(status({ checks: [check({ at: '2026-12-01T10:00:04.000Z', value: 99 })] }));
    assert.deepEqual(history.series('rollout-checkout')['error_rate.critical']?.map((p) => p.value), [2, 3, 4]);
    history.record(status({ startedAt: '2026-12-02T00:00:00.000Z', checks: [check({ at: '2026-12-02T00:00:01.000Z' })] }));
    assert.equal(history.series('rollout-checkout')['error_rate.critical']?.length, 1);
  });

  test('list rows: the worst outcome is the verdict; time in phase counts from the phase\'s first weight', () => {
    assert.equal(worstOutcome(['pass', 'warning', 'no_data']), 'warning');
    assert.equal(worstOutcome([]), null);
    const s = status({
      phase: 'full_rollout',
      timeline: [
        { at: 'a', weight: 20, phase: 'expanded_canary', reason: '' },
        { at: 'b', weight: 40, phase: 'full_rollout', reason: '' },
        { at: 'c', weight: 60, phase: 'full_rollout', reason: '' },
      ],
    });
    assert.equal(phaseStartedAt(s), 'b');
  });

  test('an ended status that arrives after a newer answer is not lost: the poll goes on and pushes the end', async () => {
    // The first poll is slow and answers "aborted"; a refresh started later answers "rolling back"
    // first. The stale "aborted" is dropped, and the next poll must still fetch and push it.
    const answers: ((s: RolloutStatus) => void)[] = [];
    let calls = 0;
    const hub = new WatchHub({
      status: () => {
        calls++;
        if (calls <= 2) return new Promise<RolloutStatus>((resolve) => answers.push(resolve));
        return Promise.resolve(status({ state: 'aborted' }));
      },
      intervalMs: 20,
    });
    const seen: string[] = [];
    const stop = hub.subscribe('rollout-checkout', (e) => {
      if (e.type === 'status') seen.push(e.status.state);
    });
    hub.refresh('rollout-checkout');
    answers[1]?.(status({ state: 'rolling_back' }));
    await new Promise((r) => setImmediate(r));
    answers[0]?.(status({ state: 'aborted' }));
    const deadline = Date.now() + 2_000;
    while (seen.at(-1) !== 'aborted' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(seen, ['rolling_back', 'aborted']);
    stop();
    hub.close();
  });

  test('the hub queries at once when asked to refresh (an operator action was accepted)', async () => {
    let current = status();
    const hub = new WatchHub({ status: async () => current, intervalMs: 60_000 });
    const seen: RolloutStatus[] = [];
    let wake: () => void = () => undefined;
    const stop = hub.subscribe('rollout-checkout', (e) => {
      if (e.type === 'status') seen.push(e.status);
      wake();
    });
    const next = () => new Promise<void>((resolve, reject) => {
      wake = resolve;
      setTimeout(() => reject(new Error('no status within 1 s')), 1000);
    });
    if (seen.length === 0) await next();
    current = status({ paused: true, state: 'paused' });
    hub.refresh('rollout-checkout');
    await next();
    assert.equal(seen.at(-1)?.state, 'paused');
    stop();
    hub.close();
  });

  test('the hub refuses beyond its bounds', () => {
    const hub = new WatchHub({ status: () => new Promise(() => undefined), maxRollouts: 1, maxSubscribers: 1 });
    const events: WatchEvent[] = [];
    const stop = hub.subscribe('rollout-a', (e) => events.push(e));
    assert.throws(() => hub.subscribe('rollout-a', () => undefined), /at most 1 viewers/);
    assert.throws(() => hub.subscribe('rollout-b', () => undefined), /at most 1 rollouts/);
    stop();
    assert.deepEqual(hub.watched(), []);
    hub.close();
  });
});
