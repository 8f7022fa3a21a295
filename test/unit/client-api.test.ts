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
  OperatorActionRefusedError,
  RolloutAlreadyFinishedError,
  RolloutAlreadyRunningError,
  RolloutNotFoundError,
  ServerUnreachableError,
} from '../../client/errors';
import type { RolloutRun } from '../../client/rollouts';
import type { RolloutSpec } from '../../rollout-spec/types';
import type { OperatorAck, OperatorAction } from '../../workflows/contract';

const TOKEN = 'unit-test-token-123';
const SECRET = 'unit-test-hmac-secret';
const SPEC_YAML = readFileSync('examples/demo-stack.yaml', 'utf8');
const SPEC_JSON = JSON.stringify(parseYaml(SPEC_YAML));
const auth = { authorization: `Bearer ${TOKEN}` };

interface Call {
  method: string;
  args: unknown[];
}

/**
 * Records calls; `running` services make start fail like Temporal's conflict would. Operator
 * actions answer like the workflow's updates: an ack, or the refusal set in `refusals`.
 */
function recordingClient() {
  const calls: Call[] = [];
  const running = new Set<string>();
  const finished = new Set<string>();
  /** `rollout-x pause` → the reason the rollout's validator gives. */
  const refusals = new Map<string, string>();
  /** Canary version of each running rollout (default v2); first run id is `first-<id>`. */
  const canaryVersions = new Map<string, string>();
  let unreachable = false;
  const operate = (action: OperatorAction) => async (id: string, ...rest: unknown[]): Promise<OperatorAck> => {
    calls.push({ method: action, args: [id, ...rest] });
    if (unreachable) throw new ServerUnreachableError('127.0.0.1:1', 'down');
    if (finished.has(id)) throw new RolloutAlreadyFinishedError(id, 'COMPLETED');
    if (!running.has(id)) throw new RolloutNotFoundError(id);
    const refusal = refusals.get(`${id} ${action}`);
    if (refusal !== undefined) throw new OperatorActionRefusedError(id, action, refusal);
    return { action, state: action === 'abort' ? 'rolling_back' : 'paused', message: `${action} done` };
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
    async run(id: string): Promise<RolloutRun> {
      calls.push({ method: 'run', args: [id] });
      if (unreachable) throw new ServerUnreachableError('127.0.0.1:1', 'down');
      if (!running.has(id) && !finished.has(id)) throw new RolloutNotFoundError(id);
      return {
        rolloutId: id,
        runId: `current-${id}`,
        firstRunId: `first-${id}`,
        executionStatus: finished.has(id) ? 'COMPLETED' : 'RUNNING',
        stableVersion: 'v1',
        canaryVersion: canaryVersions.get(id) ?? 'v2',
      };
    },
    pause: operate('pause'),
    resume: operate('resume'),
    abort: operate('abort'),
    promote: operate('promote'),
  };
  return {
    ops,
    calls,
    running,
    finished,
    refusals,
    canaryVersions,
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

  const post = (url: string, payload?: unknown) =>
    app.inject({ method: 'POST', url, headers: { ...auth, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) }, payload: payload === undefined ? undefined : JSON.stringify(payload) });

  test('operator actions: 200 with the rollout\'s ack, 404 unknown, 409 finished; abort needs a reason', async () => {
    client.running.clear();
    client.finished.clear();
    client.refusals.clear();
    client.running.add('rollout-checkout');
    client.finished.add('rollout-old');

    const paused = await post('/v1/rollouts/checkout/pause', { reason: 'look at dashboards' });
    assert.equal(paused.statusCode, 200, paused.body);
    assert.deepEqual(paused.json(), { accepted: true, action: 'pause', state: 'paused', message: 'pause done' });
    const pauseCall = client.calls.filter((c) => c.method === 'pause').at(-1)!;
    assert.equal(pauseCall.args[0], 'rollout-checkout');
    assert.equal((pauseCall.args[1] as { reason: string }).reason, 'look at dashboards');
    assert.match((pauseCall.args[1] as { by: string }).by, /^api:token:[0-9a-f]{12}$/);

    assert.equal((await post('/v1/rollouts/rollout-checkout/resume')).statusCode, 200);
    assert.equal((await post('/v1/rollouts/nope/promote')).statusCode, 404);
    const late = await post('/v1/rollouts/old/resume');
    assert.equal(late.statusCode, 409);
    assert.equal(late.json().accepted, false);
    assert.equal(late.json().action, 'resume');
    assert.match(late.json().reason, /already finished/);
    assert.equal(late.json().errors[0].path, 'id');

    const noReason = await post('/v1/rollouts/checkout/abort', {});
    assert.equal(noReason.statusCode, 400);
    assert.equal(noReason.json().errors[0].path, 'reason');
    const aborted = await post('/v1/rollouts/checkout/abort', { reason: 'bad canary' });
    assert.equal(aborted.statusCode, 200);
    assert.deepEqual(aborted.json(), { accepted: true, action: 'abort', state: 'rolling_back', message: 'abort done' });
    const abortCall = client.calls.filter((c) => c.method === 'abort').at(-1)!;
    assert.deepEqual(abortCall.args.slice(0, 2), ['rollout-checkout', 'bad canary']);
    assert.match(abortCall.args[2] as string, /^api:token:/);
    assert.deepEqual(abortCall.args[3], {});

    const badId = await post('/v1/rollouts/bad%20id/pause');
    assert.equal(badId.statusCode, 400);
    assert.equal(badId.json().errors[0].path, 'id');
  });

  test('a refused operator action is 409 {accepted: false, action, reason} with the rollout\'s reason', async () => {
    client.running.clear();
    client.refusals.clear();
    client.running.add('rollout-checkout');
    client.refusals.set('rollout-checkout promote', 'promote refused: a rollback is in progress (error_rate > 1%)');
    client.refusals.set('rollout-checkout abort', 'abort refused: promotion has passed the point of no return');
    const promote = await post('/v1/rollouts/checkout/promote', { reason: 'ship it' });
    assert.equal(promote.statusCode, 409);
    assert.deepEqual(promote.json(), { accepted: false, action: 'promote', reason: 'promote refused: a rollback is in progress (error_rate > 1%)' });
    const abort = await post('/v1/rollouts/checkout/abort', { reason: 'stop' });
    assert.equal(abort.statusCode, 409);
    assert.deepEqual(abort.json(), { accepted: false, action: 'abort', reason: 'abort refused: promotion has passed the point of no return' });
    client.refusals.clear();
  });

  test('abort passes force; no other action accepts it', async () => {
    client.running.clear();
    client.running.add('rollout-checkout');
    const forced = await post('/v1/rollouts/checkout/abort', { reason: 'stable is down anyway', force: true });
    assert.equal(forced.statusCode, 200, forced.body);
    assert.deepEqual(client.calls.filter((c) => c.method === 'abort').at(-1)!.args[3], { force: true });
    const notBool = await post('/v1/rollouts/checkout/abort', { reason: 'x', force: 'yes' });
    assert.equal(notBool.statusCode, 400);
    assert.equal(notBool.json().errors[0].path, 'force');
    const before = client.calls.length;
    const pause = await post('/v1/rollouts/checkout/pause', { force: true });
    assert.equal(pause.statusCode, 400);
    assert.deepEqual(pause.json().errors, [{ path: 'force', message: 'only abort accepts force' }]);
    assert.equal(client.calls.length, before);
  });

  test('the workflow is told the authenticated principal; a `by` in the body is only a note in the reason', async () => {
    client.running.clear();
    client.running.add('rollout-checkout');
    await post('/v1/rollouts/checkout/abort', { reason: 'bad canary', by: 'alice' });
    const abortCall = client.calls.filter((c) => c.method === 'abort').at(-1)!;
    assert.equal(abortCall.args[1], 'bad canary (on behalf of alice, as stated by the caller)');
    assert.match(abortCall.args[2] as string, /^api:token:[0-9a-f]{12}$/);

    await post('/v1/rollouts/checkout/pause', { by: 'bob' });
    const pauseInput = client.calls.filter((c) => c.method === 'pause').at(-1)!.args[1] as { reason?: string; by: string };
    assert.equal(pauseInput.reason, 'pause requested (on behalf of bob, as stated by the caller)');
    assert.match(pauseInput.by, /^api:token:/);

    // A signed request authenticates as `hmac`.
    const ts = String(now / 1000);
    const body = JSON.stringify({ reason: 'signed' });
    const signed = await app.inject({
      method: 'POST',
      url: '/v1/rollouts/checkout/resume',
      headers: { 'content-type': 'application/json', 'x-phoenix-timestamp': ts, 'x-phoenix-signature': signRequest(SECRET, ts, body) },
      payload: body,
    });
    assert.equal(signed.statusCode, 200, signed.body);
    assert.deepEqual(client.calls.filter((c) => c.method === 'resume').at(-1)!.args[1], { reason: 'signed', by: 'api:hmac' });
  });

  test('status and list map errors and validate filters', async () => {
    client.running.clear();
    client.running.add('rollout-checkout');
    const ok = await app.inject({ method: 'GET', url: '/v1/rollouts/checkout', headers: auth });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.json().rolloutId, 'rollout-checkout');
    assert.equal((await app.inject({ method: 'GET', url: '/v1/rollouts/ghost', headers: auth })).statusCode, 404);
    const stuck = await app.inject({ method: 'GET', url: '/v1/rollouts?state=stuck', headers: auth });
    assert.equal(stuck.statusCode, 200, stuck.body);
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

  const alertPost = (payload: unknown, headers: Record<string, string> = auth) =>
    app.inject({ method: 'POST', url: '/v1/alertmanager', headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
  const optedIn = (labels: Record<string, string>) => ({ status: 'firing', labels: { phoenix_action: 'abort', ...labels } });

  test('Alertmanager webhook: an opted-in alert for the running version aborts that run, once; everything else is skipped with a reason', async () => {
    client.running.clear();
    client.finished.clear();
    client.refusals.clear();
    client.canaryVersions.clear();
    client.running.add('rollout-checkout');
    client.running.add('rollout-payments');
    client.running.add('rollout-search');
    client.running.add('rollout-frozen');
    client.refusals.set('rollout-frozen abort', 'abort refused: promotion has passed the point of no return');
    client.finished.add('rollout-done');
    client.canaryVersions.set('rollout-payments', 'v7');
    const before = client.calls.filter((c) => c.method === 'abort').length;
    const payload = {
      version: '4',
      status: 'firing',
      alerts: [
        { ...optedIn({ alertname: 'HighErrorRate', rollout_id: 'rollout-checkout', canary_version: 'v2' }), annotations: { summary: '5% errors' } },
        optedIn({ alertname: 'HighLatency', service: 'checkout', canary_version: 'v2' }),
        optedIn({ alertname: 'CpuHot', service: 'payments', phoenix_run_id: 'first-rollout-payments' }),
        optedIn({ alertname: 'OldVersion', service: 'search', canary_version: 'v1' }),
        optedIn({ alertname: 'OldRun', service: 'search', phoenix_run_id: 'some-earlier-run' }),
        { status: 'firing', labels: { alertname: 'NoOptIn', service: 'search', canary_version: 'v2' } },
        optedIn({ alertname: 'Unscoped', service: 'search' }),
        { status: 'resolved', labels: { alertname: 'Old', service: 'search', phoenix_action: 'abort', canary_version: 'v2' } },
        optedIn({ alertname: 'CanaryRolledBack', rollout_id: 'rollout-search', canary_version: 'v2', origin: 'phoenix' }),
        optedIn({ alertname: 'NoTarget', canary_version: 'v2' }),
        optedIn({ alertname: 'Gone', service: 'ghost', canary_version: 'v2' }),
        optedIn({ alertname: 'Ended', service: 'done', canary_version: 'v2' }),
        optedIn({ alertname: 'TooLate', service: 'frozen', canary_version: 'v2' }),
      ],
    };
    const unauth = await alertPost(payload, {});
    assert.equal(unauth.statusCode, 401);
    assert.equal(client.calls.filter((c) => c.method === 'abort').length, before);

    const res = await alertPost(payload);
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json<{ aborted: unknown[]; skipped: { alert: string; reason: string; rolloutId: string | null }[] }>();
    assert.deepEqual(body.aborted, [
      { rolloutId: 'rollout-checkout', alert: 'HighErrorRate', message: 'abort done' },
      { rolloutId: 'rollout-payments', alert: 'CpuHot', message: 'abort done' },
    ]);
    const why = Object.fromEntries(body.skipped.map((s) => [s.alert, s.reason]));
    assert.deepEqual(Object.keys(why), ['HighLatency', 'OldVersion', 'OldRun', 'NoOptIn', 'Unscoped', 'Old', 'CanaryRolledBack', 'NoTarget', 'Gone', 'Ended', 'TooLate']);
    assert.equal(why.HighLatency, 'already handled by alert HighErrorRate in this notification');
    assert.equal(why.OldVersion, 'stale: about a previous rollout (canary_version v1, running v2)');
    assert.equal(why.OldRun, 'stale: about a previous rollout (phoenix_run_id some-earlier-run, running first-rollout-search)');
    assert.match(why.NoOptIn!, /does not opt in: only alerts labelled phoenix_action="abort"/);
    assert.match(why.Unscoped!, /not scoped to a run: needs a canary_version or phoenix_run_id label/);
    assert.equal(why.Old, 'not firing (resolved)');
    assert.equal(why.CanaryRolledBack, 'raised by phoenix itself');
    assert.match(why.NoTarget!, /names no rollout/);
    assert.equal(why.Gone, 'rollout rollout-ghost not found');
    assert.equal(why.Ended, 'no rollout running (the latest ended completed)');
    assert.equal(why.TooLate, 'abort refused: promotion has passed the point of no return');

    // The abort update went only to the matching runs, bound to the run that was checked.
    const aborts = client.calls.filter((c) => c.method === 'abort').slice(before);
    assert.deepEqual(aborts.map((c) => c.args), [
      ['rollout-checkout', 'HighErrorRate: 5% errors', 'alertmanager:HighErrorRate', { firstRunId: 'first-rollout-checkout' }],
      ['rollout-payments', 'CpuHot', 'alertmanager:CpuHot', { firstRunId: 'first-rollout-payments' }],
      ['rollout-frozen', 'TooLate', 'alertmanager:TooLate', { firstRunId: 'first-rollout-frozen' }],
    ]);

    const bad = await alertPost({ alerts: 'nope' });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().errors[0].path, 'alerts');
  });

  test('Alertmanager webhook: the current run id matches too; an unreachable Temporal is 503 so Alertmanager retries', async () => {
    client.running.clear();
    client.finished.clear();
    client.running.add('rollout-checkout');
    const current = await alertPost({ alerts: [optedIn({ alertname: 'ByRun', rollout_id: 'checkout', phoenix_run_id: 'current-rollout-checkout', canary_version: 'v2' })] });
    assert.equal(current.statusCode, 200);
    assert.deepEqual(current.json().aborted.map((a: { alert: string }) => a.alert), ['ByRun']);
    // Both labels must match when both are given.
    const half = await alertPost({ alerts: [optedIn({ alertname: 'Half', rollout_id: 'checkout', phoenix_run_id: 'current-rollout-checkout', canary_version: 'v1' })] });
    assert.deepEqual(half.json().aborted, []);
    assert.match(half.json().skipped[0].reason, /^stale: about a previous rollout/);

    client.setUnreachable(true);
    try {
      const res = await alertPost({ alerts: [optedIn({ alertname: 'X', service: 'checkout', canary_version: 'v2' })] });
      assert.equal(res.statusCode, 503);
    } finally {
      client.setUnreachable(false);
    }
  });
});
