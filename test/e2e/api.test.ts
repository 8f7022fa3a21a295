/**
 * The HTTP API over real HTTP, backed by a real Temporal dev server and a worker running the real
 * workflow (see test/helpers/client-e2e-world.ts): an admin token (PHOENIX_API_TOKEN_HASHES), a
 * scoped pipeline token and an HMAC signer with their principals in the rollout's audit trail.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { stringify as stringifyYaml } from 'yaml';
import { hashToken, signedHeaders } from '../../client/api/auth';
import type { Credential } from '../../client/api/credentials';
import { compileScope } from '../../client/api/scope';
import { loadCatalog } from '../../catalog/catalog';
import { buildApiServer } from '../../client/api/server';
import { parseRolloutSpec } from '../../rollout-spec/parse';
import type { RolloutStatus } from '../../workflows/contract';
import { eventually, startRolloutWorld, type RolloutWorld } from '../helpers/client-e2e-world';

const TOKEN = 'e2e-api-token-0123456789';
const PIPELINE_TOKEN = 'e2e-pipeline-token-0123456789';
const SIGNER_KEY = 'e2e-signer-key-0123456789abcdefghijkl';
const CREDENTIALS: Credential[] = [
  { principal: 'ci-scoped', tokenSha256: hashToken(PIPELINE_TOKEN), scope: compileScope(['api-scoped'], ['read', 'start', 'pause', 'abort']), source: 'test' },
  { principal: 'signer', hmacKey: SIGNER_KEY, scope: compileScope(['api-signed*'], ['read', 'start']), source: 'test' },
];

describe('HTTP API (real dev server + worker)', () => {
  let world: RolloutWorld;
  let app: FastifyInstance;
  let base: string;

  /** A fresh API process-equivalent: new idempotency cache, same Temporal. */
  const newApi = async (): Promise<{ app: FastifyInstance; base: string }> => {
    const instance = buildApiServer({
      rollouts: world.rollouts,
      logger: pino({ level: 'silent' }),
      tokenHashes: [hashToken(TOKEN)],
      credentials: CREDENTIALS,
      catalog: () => loadCatalog(world.catalogDir),
    });
    const address = await instance.listen({ host: '127.0.0.1', port: 0 });
    return { app: instance, base: address };
  };

  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}, apiBase = base) => {
    const res = await fetch(`${apiBase}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${TOKEN}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
  };
  const status = async (id: string) => (await call('GET', `/v1/rollouts/${id}`)).body as RolloutStatus;

  before(async () => {
    world = await startRolloutWorld();
    ({ app, base } = await newApi());
  });
  after(async () => {
    await app?.close();
    await world?.teardown();
  });

  test('without credentials: 401 and nothing is started', async () => {
    const res = await call('POST', '/v1/rollouts', world.request('api-unauth'), { authorization: 'Bearer not-the-token' });
    assert.equal(res.status, 401);
    const none = await fetch(`${base}/v1/rollouts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(world.request('api-unauth')) });
    assert.equal(none.status, 401);
    // Describing the workflow id is strongly consistent: nothing was started.
    const lookup = await call('GET', '/v1/rollouts/api-unauth');
    assert.equal(lookup.status, 404);
  });

  test('invalid spec: 400 with field paths, nothing started', async () => {
    const res = await call('POST', '/v1/rollouts', { ...world.request('api-bad'), canary: 'v1', trafficControl: { phases: [{ percentage: 500, duration: '1m' }] } });
    assert.equal(res.status, 400);
    const paths = (res.body.errors as { path: string }[]).map((e) => e.path).sort();
    assert.deepEqual(paths, ['canary', 'trafficControl.phases[0].percentage']);
    assert.equal((await call('GET', '/v1/rollouts/api-bad')).status, 404);
  });

  test('start, status, list, pause (acknowledged), refusals, 409 on a second start, 404 unknown', async () => {
    const started = await call('POST', '/v1/rollouts', world.request('api-main'));
    assert.equal(started.status, 201, JSON.stringify(started.body));
    assert.equal(started.body.rolloutId, 'rollout-api-main');
    assert.equal(started.headers.get('location'), '/v1/rollouts/rollout-api-main');

    const conflict = await call('POST', '/v1/rollouts', world.request('api-main'));
    assert.equal(conflict.status, 409);
    assert.equal(conflict.body.errors[0].path, 'service');
    assert.equal(conflict.body.runId, started.body.runId);

    await eventually('warming up', () => status('api-main'), (s) => s.state === 'warming_up');
    const notPaused = await call('POST', '/v1/rollouts/api-main/resume');
    assert.equal(notPaused.status, 409, JSON.stringify(notPaused.body));
    assert.equal(notPaused.body.accepted, false);
    assert.equal(notPaused.body.action, 'resume');
    assert.match(notPaused.body.reason, /^resume refused: .*not paused/);

    const paused = await call('POST', '/v1/rollouts/api-main/pause', { reason: 'hold on', by: 'alice' });
    assert.equal(paused.status, 200, JSON.stringify(paused.body));
    assert.equal(paused.body.accepted, true);
    assert.equal(paused.body.action, 'pause');
    // The update answers once applied: no polling needed to see the state.
    assert.equal(paused.body.state, 'paused');
    assert.equal(typeof paused.body.message, 'string');
    const again = await call('POST', '/v1/rollouts/api-main/pause');
    assert.equal(again.status, 409);
    assert.match(again.body.reason, /^pause refused: already paused/);

    // The audit trail has who acted: the token, not the claimed `by`, which is a note in the reason.
    // Refused updates never reach the workflow's history, so only the accepted pause is there.
    const audited = await status('api-main');
    assert.equal(audited.state, 'paused');
    assert.deepEqual(audited.operatorEvents.map((e) => [e.action, e.accepted]), [['pause', true]]);
    assert.match(audited.operatorEvents[0]!.by ?? '', /^api:token:[0-9a-f]{12}$/);
    assert.equal(audited.operatorEvents[0]!.reason, 'hold on (on behalf of alice, as stated by the caller)');
    const listed = await eventually(
      'listed',
      () => call('GET', '/v1/rollouts?state=paused&service=api-main'),
      (r) => r.body.rollouts.length === 1,
    );
    assert.equal(listed.body.rollouts[0].rolloutId, 'rollout-api-main');
    assert.equal(listed.body.rollouts[0].state, 'paused');

    assert.equal((await call('POST', '/v1/rollouts/api-main/abort', {})).status, 400);
    const abort = await call('POST', '/v1/rollouts/api-main/abort', { reason: 'done testing', force: false });
    assert.equal(abort.status, 200, JSON.stringify(abort.body));
    assert.equal(abort.body.accepted, true);
    const aborted = await eventually('aborted', () => status('api-main'), (s) => s.state === 'aborted');
    assert.match(aborted.rollbackReason ?? '', /done testing/);
    const late = await call('POST', '/v1/rollouts/api-main/resume');
    assert.equal(late.status, 409);
    assert.equal(late.body.accepted, false);
    assert.match(late.body.reason, /already finished|already ended/);
    assert.equal((await call('POST', '/v1/rollouts/nobody/pause')).status, 404);
  });

  test('a scoped token acts only within its scope (403 starts nothing) and is recorded as api:<principal>', async () => {
    const pipeline = { authorization: `Bearer ${PIPELINE_TOKEN}` };
    const outside = await call('POST', '/v1/rollouts', world.request('api-outside'), pipeline);
    assert.equal(outside.status, 403);
    assert.deepEqual(outside.body, { errors: [{ path: '(credentials)', message: 'principal ci-scoped may not start service api-outside' }] });
    assert.equal((await call('GET', '/v1/rollouts/api-outside')).status, 404);

    const started = await call('POST', '/v1/rollouts', world.request('api-scoped'), pipeline);
    assert.equal(started.status, 201, JSON.stringify(started.body));
    await eventually('warming up', () => status('api-scoped'), (s) => s.state === 'warming_up');
    const promote = await call('POST', '/v1/rollouts/api-scoped/promote', undefined, pipeline);
    assert.equal(promote.status, 403);
    assert.equal(promote.body.errors[0].message, 'principal ci-scoped may not promote service api-scoped');
    assert.equal((await call('GET', '/v1/rollouts/api-main', undefined, pipeline)).status, 403);
    const paused = await call('POST', '/v1/rollouts/api-scoped/pause', { reason: 'pipeline hold' }, pipeline);
    assert.equal(paused.status, 200, JSON.stringify(paused.body));
    const mine = (await call('GET', '/v1/rollouts/api-scoped', undefined, pipeline)).body as RolloutStatus;
    assert.deepEqual(mine.operatorEvents.map((e) => [e.action, e.accepted, e.by]), [['pause', true, 'api:ci-scoped']]);
    const abort = await call('POST', '/v1/rollouts/api-scoped/abort', { reason: 'done' }, pipeline);
    assert.equal(abort.status, 200, JSON.stringify(abort.body));
    await eventually('aborted', () => status('api-scoped'), (s) => s.state === 'aborted');
  });

  test('a signed start over real HTTP is accepted once; replaying the same request is refused', async () => {
    const body = JSON.stringify(world.request('api-signed'));
    const headers = { 'content-type': 'application/json', ...signedHeaders({ keyId: 'signer', key: SIGNER_KEY, method: 'POST', path: '/v1/rollouts', body }) };
    const send = () => fetch(`${base}/v1/rollouts`, { method: 'POST', headers, body });
    const first = await send();
    assert.equal(first.status, 201, await first.clone().text());
    const replay = await send();
    assert.equal(replay.status, 401);
    assert.deepEqual(await replay.json(), { errors: [{ path: 'Authorization', message: 'nonce already used' }] });
    // The signer may read its rollout, with a query string in the signed path.
    const path = '/v1/rollouts?service=api-signed';
    const listed = await eventually(
      'listed',
      async () => fetch(`${base}${path}`, { headers: signedHeaders({ keyId: 'signer', key: SIGNER_KEY, method: 'GET', path }) }).then((r) => r.json() as Promise<{ rollouts: { rolloutId: string }[] }>),
      (r) => r.rollouts.length === 1,
    );
    assert.equal(listed.rollouts[0]?.rolloutId, 'rollout-api-signed');
    // It may not abort: the admin token cleans up.
    const abort = `/v1/rollouts/api-signed/abort`;
    const refused = await fetch(`${base}${abort}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signedHeaders({ keyId: 'signer', key: SIGNER_KEY, method: 'POST', path: abort, body: '{"reason":"x"}' }) },
      body: '{"reason":"x"}',
    });
    assert.equal(refused.status, 403);
    await eventually('warming up', () => status('api-signed'), (s) => s.state === 'warming_up' || s.state === 'progressing');
    assert.equal((await call('POST', abort, { reason: 'cleanup' })).status, 200);
  });

  test('Idempotency-Key: one workflow for repeated POSTs, also across an API restart and after it finished', async () => {
    const spec = world.request('api-idem');
    const key = { 'idempotency-key': 'deploy-4711' };
    const first = await call('POST', '/v1/rollouts', spec, key);
    const second = await call('POST', '/v1/rollouts', spec, key);
    assert.equal(first.status, 201);
    assert.equal(second.status, 201);
    assert.deepEqual(second.body, first.body);
    assert.equal(second.headers.get('idempotent-replayed'), 'true');

    const mismatch = await call('POST', '/v1/rollouts', { ...spec, canary: 'v3' }, key);
    assert.equal(mismatch.status, 422);

    // A new API process has an empty cache: the key stored with the workflow answers instead.
    const restarted = await newApi();
    try {
      const retry = await call('POST', '/v1/rollouts', spec, key, restarted.base);
      assert.equal(retry.status, 201, JSON.stringify(retry.body));
      assert.deepEqual(retry.body, first.body);
      const otherBody = await call('POST', '/v1/rollouts', { ...spec, canary: 'v3' }, key, restarted.base);
      assert.equal(otherBody.status, 422);

      // Once that rollout has finished, a late retry still must not start a second one.
      await world.rollouts.abort('api-idem', 'finish it');
      await eventually('aborted', () => status('api-idem'), (s) => s.state === 'aborted');
      const again = await newApi();
      try {
        const lateRetry = await call('POST', '/v1/rollouts', spec, key, again.base);
        assert.equal(lateRetry.status, 201);
        assert.deepEqual(lateRetry.body, first.body);
      } finally {
        await again.app.close();
      }
    } finally {
      await restarted.app.close();
    }
    const runs = await eventually('visible', () => world.rollouts.list({ service: 'api-idem' }), (rows) => rows.length >= 1);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await world.rollouts.list({ service: 'api-idem' })).length, 1, JSON.stringify(runs));
    assert.equal((await world.rollouts.describe('api-idem')).runId, first.body.runId);
  });

  test('Alertmanager webhook aborts the running rollout an opted-in alert names, for its canary version', async () => {
    const started = await call('POST', '/v1/rollouts', world.request('api-alerted'));
    assert.equal(started.status, 201);
    await eventually('warming up', () => status('api-alerted'), (s) => s.state === 'warming_up');
    const payload = {
      version: '4',
      status: 'firing',
      receiver: 'phoenix',
      groupLabels: {},
      commonLabels: {},
      alerts: [
        { status: 'firing', labels: { alertname: 'CheckoutErrorBudgetBurn', phoenix_action: 'abort', service: 'api-alerted', canary_version: 'v2', severity: 'critical' }, annotations: {} },
        { status: 'firing', labels: { alertname: 'Unrelated', phoenix_action: 'abort', service: 'not-rolling-out', canary_version: 'v2' }, annotations: {} },
        { status: 'firing', labels: { alertname: 'NotOptedIn', service: 'api-alerted', canary_version: 'v2' }, annotations: {} },
      ],
    };
    const unauth = await fetch(`${base}/v1/alertmanager`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });
    assert.equal(unauth.status, 401);
    const res = await call('POST', '/v1/alertmanager', payload);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.aborted.map((a: { rolloutId: string; alert: string }) => [a.rolloutId, a.alert]), [['rollout-api-alerted', 'CheckoutErrorBudgetBurn']]);
    assert.deepEqual(res.body.skipped.map((s: { rolloutId: string; alert: string }) => [s.rolloutId, s.alert]), [
      ['rollout-not-rolling-out', 'Unrelated'],
      ['rollout-api-alerted', 'NotOptedIn'],
    ]);
    const final = await eventually('aborted', () => status('api-alerted'), (s) => s.state === 'aborted');
    assert.match(final.rollbackReason ?? '', /CheckoutErrorBudgetBurn/);
  });

  test('a running rollout that no worker serves: status and operator actions are 503 after their deadline, not a hang', async () => {
    const parsed = parseRolloutSpec(world.spec('api-orphan'));
    assert.ok(parsed.success);
    // Started on a task queue nobody polls, so the workflow never runs a task.
    await world.rollouts.temporal.workflow.start('canaryRollout', {
      taskQueue: 'nobody-polls-this',
      workflowId: 'rollout-api-orphan',
      args: [{ spec: parsed.spec }],
    });
    const t0 = Date.now();
    const res = await call('GET', '/v1/rollouts/api-orphan');
    assert.equal(res.status, 503, JSON.stringify(res.body));
    assert.match(res.body.errors[0].message, /did not answer within 10s/);
    assert.ok(Date.now() - t0 < 20_000);
    // An operator action is an update, which needs a worker just the same.
    const t1 = Date.now();
    const paused = await call('POST', '/v1/rollouts/api-orphan/pause');
    assert.equal(paused.status, 503, JSON.stringify(paused.body));
    assert.match(paused.body.errors[0].message, /did not answer within 10s/);
    assert.ok(Date.now() - t1 < 20_000);
    await world.rollouts.handle('api-orphan').terminate('test cleanup');
  });

  test('YAML body starts a rollout; OpenAPI is served', async () => {
    const yaml = stringifyYaml(world.request('api-yaml', { quick: true }));
    const res = await call('POST', '/v1/rollouts', yaml, { 'content-type': 'application/yaml' });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const final = await eventually('promoted', () => status('api-yaml'), (s) => s.state === 'promoted', { timeoutMs: 60_000 });
    // The canary reached 100% before promotion (afterwards its slot is drained).
    assert.ok(final.timeline.some((change) => change.weight === 100), JSON.stringify(final.timeline));
    const doc = await fetch(`${base}/openapi.json`);
    assert.equal(doc.status, 200);
    assert.ok(((await doc.json()) as { paths: Record<string, unknown> }).paths['/v1/rollouts']);
  });
});
