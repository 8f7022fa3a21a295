/**
 * The HTTP API against a recording double of the rollout client: auth, scopes, audit log, rate
 * limit, validation, idempotency, error mapping, body limit, Alertmanager. The same routes run
 * against a real Temporal server in test/e2e/api.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { parse as parseYaml } from 'yaml';
import { Writable } from 'node:stream';
import { hashToken, signedHeaders } from '../../client/api/auth';
import type { Credential } from '../../client/api/credentials';
import { compileScope } from '../../client/api/scope';
import { buildApiServer, type RolloutOperations } from '../../client/api/server';
import {
  OperatorActionRefusedError,
  RolloutAlreadyFinishedError,
  RolloutAlreadyRunningError,
  RolloutNotFoundError,
  ServerUnreachableError,
} from '../../client/errors';
import type { RolloutRun, RolloutSummary } from '../../client/rollouts';
import { loadCatalog, type Catalog } from '../../catalog/catalog';
import { resolveRequest } from '../../catalog/resolve';
import type { RolloutRequest } from '../../catalog/types';
import { SpecValidationError } from '../../rollout-spec/errors';
import type { RolloutSpec } from '../../rollout-spec/types';
import type { OperatorAck, OperatorAction } from '../../workflows/contract';

const TOKEN = 'unit-test-token-123';
const SECRET = 'unit-test-hmac-secret';
/** A rollout request for the example catalog's `checkout` (examples/catalog). */
const SPEC_YAML = 'service: checkout\ncanary: v2\n';
const SPEC_JSON = JSON.stringify(parseYaml(SPEC_YAML));
const CATALOG = loadCatalog('examples/catalog');
const exampleCatalog = (): Catalog => CATALOG;
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
  /** What `list` returns (before the API filters it by scope). */
  const listed: RolloutSummary[] = [];
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
    // Resolves like the real client, so the API sees the same 400s for a request the catalog refuses.
    async startFromCatalog(request: RolloutRequest, catalog: Catalog, options = {}) {
      const resolved = resolveRequest(catalog, request);
      if (!resolved.ok) throw new SpecValidationError(resolved.issues);
      const spec = resolved.spec;
      calls.push({ method: 'start', args: [spec, options] });
      const id = `rollout-${spec.service}`;
      if (running.has(id)) throw new RolloutAlreadyRunningError(id, 'run-existing');
      running.add(id);
      return { rolloutId: id, runId: `run-${calls.length}`, reused: false };
    },
    async list(filter = {}) {
      calls.push({ method: 'list', args: [filter] });
      return [...listed];
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
    listed,
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
      rollouts: client.ops, catalog: exampleCatalog,
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
    const bad = { ...JSON.parse(SPEC_JSON), canary: 'v1', warmup: { duration: 'soon' } };
    const res = await app.inject({ method: 'POST', url: '/v1/rollouts', headers: { ...auth, 'content-type': 'application/json' }, payload: JSON.stringify(bad) });
    assert.equal(res.statusCode, 400);
    const paths = res.json().errors.map((e: { path: string }) => e.path).sort();
    assert.deepEqual(paths, ['canary', 'warmup.duration']);
    const badName = await app.inject({ method: 'POST', url: '/v1/rollouts', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"service":"no spaces allowed","canary":"v2"}' });
    assert.equal(badName.statusCode, 400);
    assert.deepEqual(badName.json().errors.map((e: { path: string }) => e.path), ['service']);
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

  test('HMAC-signed requests are accepted once; a tampered body, a replay, or a GET sent as a promote are not', async () => {
    client.running.clear();
    const signed = signedHeaders({ keyId: 'hmac', key: SECRET, method: 'POST', path: '/v1/rollouts', body: SPEC_JSON, now });
    const headers = { 'content-type': 'application/json', ...signed };
    const before = client.calls.length;
    const tampered = await app.inject({ method: 'POST', url: '/v1/rollouts', headers, payload: SPEC_JSON.replace('"v2"', '"v9"') });
    assert.equal(tampered.statusCode, 401);
    assert.deepEqual(tampered.json().errors, [{ path: 'Authorization', message: 'bad signature' }]);
    const ok = await app.inject({ method: 'POST', url: '/v1/rollouts', headers, payload: SPEC_JSON });
    assert.equal(ok.statusCode, 201, ok.body);
    const replayed = await app.inject({ method: 'POST', url: '/v1/rollouts', headers, payload: SPEC_JSON });
    assert.equal(replayed.statusCode, 401);
    assert.deepEqual(replayed.json().errors, [{ path: 'Authorization', message: 'nonce already used' }]);

    // A captured signed GET cannot be turned into a promote: method and path are signed.
    client.running.add('rollout-checkout');
    const get = signedHeaders({ keyId: 'hmac', key: SECRET, method: 'GET', path: '/v1/rollouts/checkout', now });
    const asPromote = await app.inject({ method: 'POST', url: '/v1/rollouts/checkout/promote', headers: get });
    assert.equal(asPromote.statusCode, 401);
    assert.equal(asPromote.json().errors[0].message, 'bad signature');
    assert.equal((await app.inject({ method: 'GET', url: '/v1/rollouts/checkout', headers: get })).statusCode, 200);
    assert.deepEqual(client.calls.slice(before).map((c) => c.method), ['start', 'status']);
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

    // A signed request with the legacy secret authenticates as `hmac`.
    const body = JSON.stringify({ reason: 'signed' });
    const signed = await app.inject({
      method: 'POST',
      url: '/v1/rollouts/checkout/resume',
      headers: { 'content-type': 'application/json', ...signedHeaders({ keyId: 'hmac', key: SECRET, method: 'POST', path: '/v1/rollouts/checkout/resume', body, now }) },
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

/** A pino logger whose JSON lines land in `lines`. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

const token = (principal: string, services: string[], actions: Parameters<typeof compileScope>[1], extra: Partial<Credential> = {}): Credential => ({
  principal,
  tokenSha256: hashToken(`token-of-${principal}`),
  scope: compileScope(services, actions),
  source: 'test',
  ...extra,
});
const as = (principal: string) => ({ authorization: `Bearer token-of-${principal}` });

describe('HTTP API: scoped credentials, audit log', () => {
  const now = Date.UTC(2026, 0, 1);
  let app: FastifyInstance;
  let client: ReturnType<typeof recordingClient>;
  let log: ReturnType<typeof capturingLogger>;

  before(async () => {
    client = recordingClient();
    log = capturingLogger();
    app = buildApiServer({
      rollouts: client.ops, catalog: exampleCatalog,
      logger: log.logger,
      credentials: [
        token('ci-checkout', ['checkout', 'checkout-*'], ['read', 'start', 'pause', 'resume', 'abort']),
        token('dashboard', ['*'], ['read']),
        token('am', ['checkout*'], ['abort']),
        token('operator', ['*'], ['*']),
        token('retired', ['*'], ['*'], { expiresAt: now - 1 }),
        { principal: 'signer', hmacKey: 's'.repeat(32), scope: compileScope(['payments'], ['pause']), source: 'test' },
      ],
      now: () => now,
    });
    await app.ready();
  });
  after(() => app.close());

  const post = (principal: string, url: string, payload?: unknown) =>
    app.inject({
      method: 'POST',
      url,
      headers: { ...as(principal), ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
      payload: payload === undefined ? undefined : JSON.stringify(payload),
    });
  const reset = () => {
    client.running.clear();
    client.finished.clear();
    client.refusals.clear();
    client.listed.length = 0;
    for (const id of ['rollout-checkout', 'rollout-checkout-eu', 'rollout-payments']) client.running.add(id);
  };

  test('an operator action outside the scope is 403 naming principal, action and service, and calls nothing', async () => {
    reset();
    const before = client.calls.length;
    const cases: [string, string, unknown, string][] = [
      ['ci-checkout', '/v1/rollouts/payments/abort', { reason: 'x' }, 'principal ci-checkout may not abort service payments'],
      ['ci-checkout', '/v1/rollouts/rollout-payments/pause', undefined, 'principal ci-checkout may not pause service payments'],
      ['ci-checkout', '/v1/rollouts/checkout/promote', undefined, 'principal ci-checkout may not promote service checkout'],
      ['dashboard', '/v1/rollouts/checkout/resume', undefined, 'principal dashboard may not resume service checkout'],
      ['am', '/v1/rollouts/checkout/pause', undefined, 'principal am may not pause service checkout'],
      // An invalid id from a principal without the action at all: refused, not validated.
      ['dashboard', '/v1/rollouts/bad%20id/pause', undefined, 'principal dashboard may not pause any service'],
      // Scope is checked before the body: an out-of-scope caller learns nothing about it.
      ['ci-checkout', '/v1/rollouts/payments/abort', {}, 'principal ci-checkout may not abort service payments'],
    ];
    for (const [principal, url, body, message] of cases) {
      const res = await post(principal, url, body);
      assert.equal(res.statusCode, 403, `${principal} ${url}: ${res.body}`);
      assert.deepEqual(res.json(), { errors: [{ path: '(credentials)', message }] }, `${principal} ${url}`);
    }
    assert.deepEqual(client.calls.slice(before), []);
  });

  test('in scope, the action goes through and the workflow records api:<principal>', async () => {
    reset();
    const paused = await post('ci-checkout', '/v1/rollouts/checkout-eu/pause', { reason: 'look', by: 'alice' });
    assert.equal(paused.statusCode, 200, paused.body);
    const call = client.calls.at(-1)!;
    assert.deepEqual(call, { method: 'pause', args: ['rollout-checkout-eu', { reason: 'look (on behalf of alice, as stated by the caller)', by: 'api:ci-checkout' }] });
    const aborted = await post('ci-checkout', '/v1/rollouts/checkout/abort', { reason: 'bad canary' });
    assert.equal(aborted.statusCode, 200);
    assert.deepEqual(client.calls.at(-1)!.args.slice(0, 3), ['rollout-checkout', 'bad canary', 'api:ci-checkout']);
    const promoted = await post('operator', '/v1/rollouts/payments/promote');
    assert.equal(promoted.statusCode, 200);
    assert.deepEqual(client.calls.at(-1)!.args, ['rollout-payments', { by: 'api:operator' }]);
  });

  test('an HMAC credential is scoped by its key id like a token', async () => {
    reset();
    const before = client.calls.length;
    const send = (url: string) =>
      app.inject({ method: 'POST', url, headers: signedHeaders({ keyId: 'signer', key: 's'.repeat(32), method: 'POST', path: url, now }) });
    const refused = await send('/v1/rollouts/checkout/pause');
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.json().errors[0].message, 'principal signer may not pause service checkout');
    assert.equal(client.calls.length, before);
    assert.equal((await send('/v1/rollouts/payments/pause')).statusCode, 200);
    assert.deepEqual(client.calls.at(-1)!.args, ['rollout-payments', { by: 'api:signer' }]);
  });

  test('start: the spec\'s service must be in scope; 403 starts nothing', async () => {
    reset();
    client.running.clear();
    const before = client.calls.length;
    const payments = JSON.stringify({ ...JSON.parse(SPEC_JSON), service: 'payments' });
    const start = (principal: string, payload: string, extra: Record<string, string> = {}) =>
      app.inject({ method: 'POST', url: '/v1/rollouts', headers: { ...as(principal), 'content-type': 'application/json', ...extra }, payload });
    const refused = await start('ci-checkout', payments);
    assert.equal(refused.statusCode, 403);
    assert.deepEqual(refused.json(), { errors: [{ path: '(credentials)', message: 'principal ci-checkout may not start service payments' }] });
    // An idempotent retry of a refused start is refused again, and still starts nothing.
    assert.equal((await start('ci-checkout', payments, { 'idempotency-key': 'k-403' })).statusCode, 403);
    assert.equal((await start('ci-checkout', payments, { 'idempotency-key': 'k-403' })).statusCode, 403);
    // Without `start` at all, even an invalid spec is refused before it is validated.
    const dashboard = await start('dashboard', '{"service": 5}');
    assert.equal(dashboard.statusCode, 403);
    assert.equal(dashboard.json().errors[0].message, 'principal dashboard may not start any service');
    assert.deepEqual(client.calls.slice(before), []);

    const ok = await start('ci-checkout', SPEC_JSON);
    assert.equal(ok.statusCode, 201, ok.body);
    assert.deepEqual(client.calls.slice(before).map((c) => c.method), ['start']);
  });

  test('read: status and the list are limited to the scope; a service filter outside it is 403', async () => {
    reset();
    const row = (service: string): RolloutSummary => ({
      rolloutId: `rollout-${service}`,
      runId: 'r',
      service,
      state: 'progressing',
      phase: null,
      weight: null,
      executionStatus: 'RUNNING',
      startedAt: '2026-01-01T00:00:00.000Z',
      closedAt: null,
    });
    client.listed.push(row('checkout'), row('payments'), row('checkout-eu'), row('search'));
    const get = (principal: string, url: string) => app.inject({ method: 'GET', url, headers: as(principal) });
    const before = client.calls.length;
    const status = await get('ci-checkout', '/v1/rollouts/payments');
    assert.equal(status.statusCode, 403);
    assert.deepEqual(status.json(), { errors: [{ path: '(credentials)', message: 'principal ci-checkout may not read service payments' }] });
    const filtered = await get('ci-checkout', '/v1/rollouts?service=payments');
    assert.equal(filtered.statusCode, 403);
    assert.equal(filtered.json().errors[0].message, 'principal ci-checkout may not read service payments');
    const noRead = await get('am', '/v1/rollouts');
    assert.equal(noRead.statusCode, 403);
    assert.equal(noRead.json().errors[0].message, 'principal am may not read any service');
    assert.deepEqual(client.calls.slice(before), []);

    assert.equal((await get('ci-checkout', '/v1/rollouts/checkout')).statusCode, 200);
    const mine = await get('ci-checkout', '/v1/rollouts');
    assert.deepEqual(mine.json().rollouts.map((r: RolloutSummary) => r.service), ['checkout', 'checkout-eu']);
    const all = await get('dashboard', '/v1/rollouts?state=progressing');
    assert.deepEqual(all.json().rollouts.map((r: RolloutSummary) => r.service), ['checkout', 'payments', 'checkout-eu', 'search']);
  });

  test('an expired credential is 401 "credential expired" and calls nothing', async () => {
    reset();
    const before = client.calls.length;
    for (const res of [await post('retired', '/v1/rollouts/checkout/pause'), await app.inject({ method: 'GET', url: '/v1/rollouts', headers: as('retired') })]) {
      assert.equal(res.statusCode, 401);
      assert.deepEqual(res.json(), { errors: [{ path: 'Authorization', message: 'credential expired' }] });
    }
    assert.equal(client.calls.length, before);
  });

  test('Alertmanager: aborts only rollouts the principal may abort; the others are reported as refused, out of scope, and not touched', async () => {
    reset();
    const before = client.calls.length;
    const alert = (name: string, service: string) => ({ status: 'firing', labels: { alertname: name, phoenix_action: 'abort', service, canary_version: 'v2' } });
    const res = await post('am', '/v1/alertmanager', { alerts: [alert('CheckoutBurn', 'checkout'), alert('PaymentsBurn', 'payments'), alert('EuBurn', 'checkout-eu')] });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), {
      aborted: [
        { rolloutId: 'rollout-checkout', alert: 'CheckoutBurn', message: 'abort done' },
        { rolloutId: 'rollout-checkout-eu', alert: 'EuBurn', message: 'abort done' },
      ],
      skipped: [{ rolloutId: 'rollout-payments', alert: 'PaymentsBurn', reason: 'refused, out of scope: principal am may not abort service payments' }],
    });
    // Nothing at all was asked about payments: no run lookup, no abort.
    const touched = client.calls.slice(before).map((c) => `${c.method} ${String(c.args[0])}`);
    assert.deepEqual(touched, ['run rollout-checkout', 'abort rollout-checkout', 'run rollout-checkout-eu', 'abort rollout-checkout-eu']);
    // A principal with no abort at all is refused outright.
    const dashboard = await post('dashboard', '/v1/alertmanager', { alerts: [alert('X', 'checkout')] });
    assert.equal(dashboard.statusCode, 403);
    assert.equal(dashboard.json().errors[0].message, 'principal dashboard may not abort any service');
    assert.equal(client.calls.length, before + 4);
  });

  test('every response is logged with principal, action, service, rolloutId and outcome; state changes get an audit line', async () => {
    reset();
    log.lines.length = 0;
    await post('ci-checkout', '/v1/rollouts/payments/abort', { reason: 'x' });
    await post('ci-checkout', '/v1/rollouts/checkout/pause');
    await app.inject({ method: 'GET', url: '/v1/rollouts/checkout', headers: as('dashboard') });
    await post('nobody', '/v1/rollouts/checkout/resume');
    await post('am', '/v1/alertmanager', { alerts: [{ status: 'firing', labels: { alertname: 'A', phoenix_action: 'abort', service: 'payments', canary_version: 'v2' } }] });
    const pick = (l: Record<string, unknown>) => ({ principal: l.principal, action: l.action, service: l.service, rolloutId: l.rolloutId, outcome: l.outcome, statusCode: l.statusCode });
    const handled = log.lines.filter((l) => l.msg === 'request handled').map(pick);
    assert.deepEqual(handled, [
      { principal: 'ci-checkout', action: 'abort', service: 'payments', rolloutId: 'rollout-payments', outcome: 'out_of_scope', statusCode: 403 },
      { principal: 'ci-checkout', action: 'pause', service: 'checkout', rolloutId: 'rollout-checkout', outcome: 'ok', statusCode: 200 },
      { principal: 'dashboard', action: 'read', service: 'checkout', rolloutId: 'rollout-checkout', outcome: 'ok', statusCode: 200 },
      { principal: undefined, action: 'resume', service: undefined, rolloutId: undefined, outcome: 'unauthenticated', statusCode: 401 },
      { principal: 'am', action: 'alertmanager', service: undefined, rolloutId: undefined, outcome: 'ok', statusCode: 200 },
    ]);
    const audit = log.lines.filter((l) => l.audit === true).map((l) => ({ ...pick(l), decision: l.decision }));
    assert.deepEqual(audit, [
      { principal: 'ci-checkout', action: 'abort', service: 'payments', rolloutId: 'rollout-payments', outcome: 'out_of_scope', statusCode: 403, decision: 'refused' },
      { principal: 'ci-checkout', action: 'pause', service: 'checkout', rolloutId: 'rollout-checkout', outcome: 'ok', statusCode: 200, decision: 'allowed' },
      { principal: undefined, action: 'resume', service: undefined, rolloutId: undefined, outcome: 'unauthenticated', statusCode: 401, decision: 'refused' },
      { principal: 'am', action: 'alertmanager', service: undefined, rolloutId: undefined, outcome: 'ok', statusCode: 200, decision: 'allowed' },
    ]);
    const amLine = log.lines.find((l) => l.audit === true && l.action === 'alertmanager')!;
    assert.deepEqual([amLine.aborted, amLine.outOfScope], [[], ['rollout-payments']]);
    // No token or signature in any line.
    assert.doesNotMatch(JSON.stringify(log.lines), /token-of-/);
  });

  test('a /v1 route that declares no action is refused, even for a full-scope credential', async () => {
    const other = buildApiServer({ rollouts: client.ops, catalog: exampleCatalog, logger: pino({ level: 'silent' }), credentials: [token('operator', ['*'], ['*'])] });
    let ran = false;
    other.get('/v1/undeclared', async () => {
      ran = true;
      return {};
    });
    try {
      const res = await other.inject({ method: 'GET', url: '/v1/undeclared', headers: as('operator') });
      assert.equal(res.statusCode, 403);
      assert.match(res.json().errors[0].message, /declares no action/);
      assert.equal(ran, false);
    } finally {
      await other.close();
    }
  });
});

describe('HTTP API: rate limit per principal', () => {
  let app: FastifyInstance;
  const client = recordingClient();

  before(async () => {
    app = buildApiServer({
      rollouts: client.ops, catalog: exampleCatalog,
      logger: pino({ level: 'silent' }),
      credentials: [token('ci-checkout', ['*'], ['*']), token('dashboard', ['*'], ['read'])],
      rateLimitPerMin: 3,
    });
    await app.ready();
  });
  after(() => app.close());

  const get = (headers: Record<string, string>) => app.inject({ method: 'GET', url: '/v1/rollouts', headers });

  test('past the limit a principal gets 429 in the API error shape with retry-after; others are not affected', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await get(as('ci-checkout'))).statusCode, 200);
    const limited = await get(as('ci-checkout'));
    assert.equal(limited.statusCode, 429);
    const body = limited.json<{ errors: { path: string; message: string }[] }>();
    assert.equal(body.errors.length, 1);
    assert.equal(body.errors[0]!.path, '(rate)');
    assert.match(body.errors[0]!.message, /^rate limit exceeded: at most 3 requests per minute for principal ci-checkout; retry in \d+ s$/);
    const retryAfter = Number(limited.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 60, String(limited.headers['retry-after']));
    const calls = client.calls.length;
    assert.equal((await app.inject({ method: 'POST', url: '/v1/rollouts/checkout/pause', headers: as('ci-checkout') })).statusCode, 429);
    assert.equal(client.calls.length, calls, 'a limited request reaches nothing');
    // Another principal from the same address has its own budget.
    assert.equal((await get(as('dashboard'))).statusCode, 200);
    // Public routes are not limited.
    assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  });

  test('unauthenticated requests are limited per IP: 401 until the limit, then 429', async () => {
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await get({ authorization: 'Bearer wrong' })).statusCode);
    assert.deepEqual(statuses, [401, 401, 401, 429]);
    // An authenticated principal from that IP is counted on its own.
    assert.equal((await get(as('dashboard'))).statusCode, 200);
  });

  test('0 turns the limit off', async () => {
    const unlimited = buildApiServer({ rollouts: client.ops, catalog: exampleCatalog, logger: pino({ level: 'silent' }), credentials: [token('ci-checkout', ['*'], ['*'])], rateLimitPerMin: 0 });
    try {
      for (let i = 0; i < 10; i++) assert.equal((await unlimited.inject({ method: 'GET', url: '/v1/rollouts', headers: as('ci-checkout') })).statusCode, 200);
    } finally {
      await unlimited.close();
    }
  });
});
