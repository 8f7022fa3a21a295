/**
 * The HTTP API against a recording double of the rollout client: auth, validation, idempotency,
 * error mapping, body limit, Alertmanager. The same routes run against a real Temporal server in
 * test/e2e/api.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { parse as parseYaml } from 'yaml';
import { hashToken, signRequest } from '../../client/api/auth';
import { buildApiServer, type RolloutOperations } from '../../client/api/server';
import {
  RolloutAlreadyFinishedError,
  RolloutAlreadyRunningError,
  RolloutNotFoundError,
  ServerUnreachableError,
} from '../../client/errors';
import type { RolloutSpec } from '../../rollout-spec/types';

const TOKEN = 'unit-test-token-123';
const SECRET = 'unit-test-hmac-secret';
const SPEC_YAML = readFileSync('examples/demo-stack.yaml', 'utf8');
const SPEC_JSON = JSON.stringify(parseYaml(SPEC_YAML));
const auth = { authorization: `Bearer ${TOKEN}` };

interface Call {
  method: string;
  args: unknown[];
}

/** Records calls; `running` services make start fail like Temporal's conflict would. */
function recordingClient() {
  const calls: Call[] = [];
  const running = new Set<string>();
  const finished = new Set<string>();
  let unreachable = false;
  const signal = (method: string) => async (id: string, ...rest: unknown[]) => {
    calls.push({ method, args: [id, ...rest] });
    if (unreachable) throw new ServerUnreachableError('127.0.0.1:1', 'down');
    if (finished.has(id)) throw new RolloutAlreadyFinishedError(id, 'COMPLETED');
    if (!running.has(id)) throw new RolloutNotFoundError(id);
  };
  const ops: RolloutOperations = {
    async start(spec: RolloutSpec, options = {}) {
      calls.push({ method: 'start', args: [spec, options] });
      const id = `rollout-${spec.service}`;
      if (running.has(id)) throw new RolloutAlreadyRunningError(id, 'run-existing');
      running.add(id);
      return { rolloutId: id, runId: `run-${calls.length}`, reused: false };
    },
    async list(filter = {}) {
      calls.push({ method: 'list', args: [filter] });
      return [];
    },
    async status(id: string) {
      calls.push({ method: 'status', args: [id] });
      if (!running.has(id)) throw new RolloutNotFoundError(id);
      return { rolloutId: id, state: 'progressing' } as never;
    },
    pause: signal('pause'),
    resume: signal('resume'),
    abort: signal('abort'),
    promote: signal('promote'),
  };
  return {
    ops,
    calls,
    running,
    finished,
    setUnreachable: (v: boolean) => {
      unreachable = v;
    },
  };
}

describe('HTTP API (client double)', () => {
  let app: FastifyInstance;
  let client: ReturnType<typeof recordingClient>;
  const now = Date.UTC(2026, 0, 1);

  before(async () => {
    client = recordingClient();
    app = buildApiServer({
      rollouts: client.ops,
      logger: pino({ level: 'silent' }),
      tokenHashes: [hashToken(TOKEN)],
      hmacSecret: SECRET,
      bodyLimitBytes: 64 * 1024,
      now: () => now,
    });
    await app.ready();
  });
  after(() => app.close());

  const startCalls = () => client.calls.filter((c) => c.method === 'start').length;

  test('unauthenticated requests get 401 and start nothing', async () => {
    const before = startCalls();
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: `Bearer ${hashToken(TOKEN)}` }]) {
      const res = await app.inject({ method: 'POST', url: '/v1/rollouts', headers: { ...headers, 'content-type': 'application/json' }, payload: SPEC_JSON });
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().errors[0].path, 'Authorization');
    }
    for (const url of ['/v1/rollouts', '/v1/rollouts/checkout']) {
      assert.equal((await app.inject({ method: 'GET', url })).statusCode, 401);
    }
    assert.equal(startCalls(), before);
  });

  test('public routes need no credentials', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    assert.equal(doc.openapi, '3.0.3');
  });

  test('a valid JSON spec starts a rollout: 201 with id, run id and Location', async () => {
    client.running.clear();
    const res = await app.inject({ method: 'POST', url: '/v1/rollouts', headers: { ...auth, 'content-type': 'application/json' }, payload: SPEC_JSON });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().rolloutId, 'rollout-checkout');
    assert.match(res.json().runId, /^run-\d+$/);
    assert.equal(res.headers.location, '/v1/rollouts/rollout-checkout');
    const call = client.calls.at(-1)!;
    const spec = call.args[0] as RolloutSpec;
    // The client received the normalized spec, not the raw one.
    assert.equal(spec.warmup.durationMs, 5000);
    assert.equal(spec.phases[0]?.errorThreshold, 0.001);
  });

  test('a YAML body is accepted by content type', async () => {
    client.running.clear();
    const res = await app.inject({ method: 'POST', url: '/v1/rollouts', headers: { ...auth, 'content-type': 'application/yaml' }, payload: SPEC_YAML });
    assert.equal(res.statusCode, 201, res.body);
  });

  test('a second start for a running service is 409 naming the running run', async () => {
    client.running.clear();
    const post = () => app.inject({ method: 'POST', url: '/v1/rollouts', headers: { ...auth, 'content-type': 'application/json' }, payload: SPEC_JSON });
    assert.equal((await post()).statusCode, 201);
    const res = await post();
    assert.equal(res.statusCode, 409);
    assert.equal(res.json().errors[0].path, 'service');
    assert.equal(res.json().runId, 'run-existing');
  });

  test('an invalid spec is 400 with one error per field and starts nothing', async () => {
    const before = startCalls();
    const bad = { ...JSON.parse(SPEC_JSON), service: 'no spaces allowed', canary: 'v1', warmup: { duration: 'soon' } };
    const res = await app.inject({ method: 'POST', url: '/v1/rollouts', headers: { ...auth, 'content-type': 'application/json' }, payload: JSON.stringify(bad) });
    assert.equal(res.statusCode, 400);
    const paths = res.json().errors.map((e: { path: string }) => e.path).sort();
    assert.deepEqual(paths, ['canary', 'service', 'warmup.duration']);
    assert.equal(startCalls(), before);
  });

  test('malformed JSON, empty body and YAML syntax errors are 400', async () => {
    const cases = [
      { type: 'application/json', payload: '{"service": ' },
      { type: 'application/json', payload: '' },
      { type: 'application/yaml', payload: 'service: [unclosed' },
    ];
    for (const c of cases) {
      const res = await app.inject({ method: 'POST', url: '/v1/rollouts', headers: { ...auth, 'content-type': c.type }, payload: c.payload });
      assert.equal(res.statusCode, 400, c.payload);
      assert.ok(res.json().errors.length >= 1);
    }
  });

  test('unsupported content type is 415', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/rollouts', headers: { ...auth, 'content-type': 'text/plain' }, payload: 'x' });
    assert.equal(res.statusCode, 415);
    assert.equal(res.json().errors[0].path, 'Content-Type');
  });

  test('a body over the limit is 413', async () => {
    const big = JSON.stringify({ ...JSON.parse(SPEC_JSON), padding: 'x'.repeat(70 * 1024) });
    const res = await app.inject({ method: 'POST', url: '/v1/rollouts', headers: { ...auth, 'content-type': 'application/json' }, payload: big });
    assert.equal(res.statusCode, 413);
  });

  test('Idempotency-Key: same key and body replays, other body is 422', async () => {
    client.running.clear();
    const before = startCalls();
    const post = (payload: string, key: string) =>
      app.inject({ method: 'POST', url: '/v1/rollouts', headers: { ...auth, 'content-type': 'application/json', 'idempotency-key': key }, payload });
    const first = await post(SPEC_JSON, 'key-1');
    const second = await post(SPEC_JSON, 'key-1');
    assert.equal(first.statusCode, 201);
    assert.equal(second.statusCode, 201);
    assert.deepEqual(second.json(), first.json());
    assert.equal(second.headers['idempotent-replayed'], 'true');
    assert.equal(startCalls(), before + 1);
    const startOptions = client.calls.find((c) => c.method === 'start' && (c.args[1] as { idempotencyKey?: string }).idempotencyKey === 'key-1')!.args[1] as { requestHash: string };
    assert.match(startOptions.requestHash, /^[0-9a-f]{64}$/);

    const other = await post(SPEC_JSON.replace('"v2"', '"v3"'), 'key-1');
    assert.equal(other.statusCode, 422);
    assert.equal(other.json().errors[0].path, 'Idempotency-Key');
    assert.equal(startCalls(), before + 1);
    const badKey = await post(SPEC_JSON, 'has space');
    assert.equal(badKey.statusCode, 400);
  });

  test('HMAC-signed requests are accepted; a tampered body is not', async () => {
    client.running.clear();
    const ts = String(now / 1000);
    const signature = signRequest(SECRET, ts, SPEC_JSON);
    const headers = { 'content-type': 'application/json', 'x-phoenix-timestamp': ts, 'x-phoenix-signature': signature };
    const tampered = await app.inject({ method: 'POST', url: '/v1/rollouts', headers, payload: SPEC_JSON.replace('"v2"', '"v9"') });
    assert.equal(tampered.statusCode, 401);
    const ok = await app.inject({ method: 'POST', url: '/v1/rollouts', headers, payload: SPEC_JSON });
    assert.equal(ok.statusCode, 201, ok.body);
  });

  test('signals: 202 when running, 404 unknown, 409 finished; abort needs a reason', async () => {
    client.running.clear();
    client.running.add('rollout-checkout');
    client.finished.add('rollout-old');
    const post = (url: string, payload?: unknown) =>
      app.inject({ method: 'POST', url, headers: { ...auth, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) }, payload: payload === undefined ? undefined : JSON.stringify(payload) });

    const paused = await post('/v1/rollouts/checkout/pause', { reason: 'look at dashboards' });
    assert.equal(paused.statusCode, 202);
    assert.deepEqual(paused.json(), { rolloutId: 'rollout-checkout', signal: 'pause' });
    const pauseCall = client.calls.filter((c) => c.method === 'pause').at(-1)!;
    assert.deepEqual(pauseCall.args, ['rollout-checkout', { reason: 'look at dashboards', by: pauseCall.args[1] && (pauseCall.args[1] as { by: string }).by }]);
    assert.match((pauseCall.args[1] as { by: string }).by, /^api:token:/);

    assert.equal((await post('/v1/rollouts/rollout-checkout/resume')).statusCode, 202);
    assert.equal((await post('/v1/rollouts/nope/promote')).statusCode, 404);
    assert.equal((await post('/v1/rollouts/old/resume')).statusCode, 409);

    const noReason = await post('/v1/rollouts/checkout/abort', {});
    assert.equal(noReason.statusCode, 400);
    assert.equal(noReason.json().errors[0].path, 'reason');
    const extra = await post('/v1/rollouts/checkout/abort', { reason: 'x', force: true });
    assert.equal(extra.statusCode, 400);
    const aborted = await post('/v1/rollouts/checkout/abort', { reason: 'bad canary' });
    assert.equal(aborted.statusCode, 202);
    assert.deepEqual(client.calls.filter((c) => c.method === 'abort').at(-1)!.args.slice(0, 2), ['rollout-checkout', 'bad canary']);

    const badId = await post('/v1/rollouts/bad%20id/pause');
    assert.equal(badId.statusCode, 400);
    assert.equal(badId.json().errors[0].path, 'id');
  });

  test('status and list map errors and validate filters', async () => {
    client.running.clear();
    client.running.add('rollout-checkout');
    const ok = await app.inject({ method: 'GET', url: '/v1/rollouts/checkout', headers: auth });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.json().rolloutId, 'rollout-checkout');
    assert.equal((await app.inject({ method: 'GET', url: '/v1/rollouts/ghost', headers: auth })).statusCode, 404);
    const listed = await app.inject({ method: 'GET', url: '/v1/rollouts?state=paused&service=checkout', headers: auth });
    assert.equal(listed.statusCode, 200);
    assert.deepEqual(listed.json(), { rollouts: [] });
    assert.deepEqual(client.calls.filter((c) => c.method === 'list').at(-1)!.args[0], { state: 'paused', service: 'checkout' });
    const badState = await app.inject({ method: 'GET', url: '/v1/rollouts?state=sleeping', headers: auth });
    assert.equal(badState.statusCode, 400);
    assert.equal(badState.json().errors[0].path, 'state');
    assert.equal((await app.inject({ method: 'GET', url: '/v1/nothing', headers: auth })).statusCode, 404);
  });

  test('an unreachable Temporal server is 503 and not cached as an idempotent answer', async () => {
    client.running.clear();
    client.running.add('rollout-checkout');
    client.setUnreachable(true);
    try {
      const res = await app.inject({ method: 'POST', url: '/v1/rollouts/checkout/pause', headers: auth });
      assert.equal(res.statusCode, 503);
      assert.equal(res.json().errors[0].path, '(server)');
    } finally {
      client.setUnreachable(false);
    }
  });

  test('Alertmanager webhook aborts rollouts named by firing alerts, once each', async () => {
    client.running.clear();
    client.running.add('rollout-checkout');
    client.running.add('rollout-payments');
    const before = client.calls.filter((c) => c.method === 'abort').length;
    const payload = {
      version: '4',
      status: 'firing',
      alerts: [
        { status: 'firing', labels: { alertname: 'HighErrorRate', rollout_id: 'rollout-checkout' } },
        { status: 'firing', labels: { alertname: 'HighLatency', service: 'checkout' } },
        { status: 'firing', labels: { alertname: 'CpuHot', service: 'payments' } },
        { status: 'resolved', labels: { alertname: 'Old', service: 'search' } },
        { status: 'firing', labels: { alertname: 'CanaryRolledBack', rollout_id: 'rollout-search', origin: 'phoenix' } },
        { status: 'firing', labels: { alertname: 'NoTarget' } },
        { status: 'firing', labels: { alertname: 'Gone', service: 'ghost' } },
      ],
    };
    const unauth = await app.inject({ method: 'POST', url: '/v1/alertmanager', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
    assert.equal(unauth.statusCode, 401);
    assert.equal(client.calls.filter((c) => c.method === 'abort').length, before);

    const res = await app.inject({ method: 'POST', url: '/v1/alertmanager', headers: { ...auth, 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.deepEqual(body.aborted, [
      { rolloutId: 'rollout-checkout', alert: 'HighErrorRate' },
      { rolloutId: 'rollout-payments', alert: 'CpuHot' },
    ]);
    assert.deepEqual(body.skipped.map((s: { alert: string }) => s.alert), ['CanaryRolledBack', 'NoTarget', 'Gone']);
    const aborts = client.calls.filter((c) => c.method === 'abort').slice(before);
    assert.deepEqual(aborts.map((c) => c.args), [
      ['rollout-checkout', 'HighErrorRate', 'alertmanager'],
      ['rollout-payments', 'CpuHot', 'alertmanager'],
      ['rollout-ghost', 'Gone', 'alertmanager'],
    ]);

    const bad = await app.inject({ method: 'POST', url: '/v1/alertmanager', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"alerts": "nope"}' });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().errors[0].path, 'alerts');
  });
});
