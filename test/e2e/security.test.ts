/**
 * The security suite: the real API (`buildApiServer` on 127.0.0.1 with scoped credentials and a
 * catalog), the real `RolloutClient`, a real `temporal server start-dev` and the real worker
 * (real activities, catalog targets only) whose canary is a real child process. Every
 * unauthenticated, expired, wrong-scope, tampered, stale and replayed request is sent, counted
 * and must be refused with nothing started or changed; every field that would let a caller choose
 * what the worker runs is refused by name; the canary cannot read the secrets in the worker's
 * environment; outbound traffic webhooks arrive signed and are never replayed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createActivities } from '../../activities';
import { loadCatalog } from '../../catalog/catalog';
import { hashToken, signedHeaders } from '../../client/api/auth';
import type { Credential } from '../../client/api/credentials';
import { compileScope } from '../../client/api/scope';
import { buildApiServer } from '../../client/api/server';
import { RolloutClient } from '../../client/rollouts';
import { METRIC_NAMES } from '../../rollout-spec/types';
import { TASK_QUEUE, type RolloutStatus } from '../../workflows/contract';
import { freePort } from '../helpers/free-port';
import { startHttpServer, type TestHttpServer } from '../helpers/http-servers';
import { stopLeftoverInstances } from '../helpers/stack';
import { startDevServer, type TestDevServer } from '../helpers/temporal';
import { buildWorkflowBundle } from '../../worker/workflow-bundle';

const TOKENS = {
  pipeline: 'sec-pipeline-token-0123456789abcdef',
  operator: 'sec-operator-token-0123456789abcdef',
  reader: 'sec-reader-token-0123456789abcdef-00',
  expired: 'sec-expired-token-0123456789abcdef-0',
};
const SIGNER_KEY = 'sec-signer-hmac-key-0123456789abcdef-0123';
const TRAFFIC_SECRET = 'sec-traffic-webhook-secret-0123456789';
/** Secrets in the worker's environment that no canary may see. */
const WORKER_SECRETS = {
  PHOENIX_API_HMAC_SECRET: 'api-hmac-secret-the-canary-must-not-see',
  TEMPORAL_API_KEY: 'temporal-api-key-the-canary-must-not-see',
  SEC_TRAFFIC_SECRET: TRAFFIC_SECRET,
};

/** A canary that records the environment it was given, then serves /healthz. */
const PROBE = [
  "const fs = require('fs');",
  "fs.writeFileSync(process.env.PROBE_OUT + '/env-' + process.argv[2] + '.json', JSON.stringify(process.env));",
  "require('http').createServer((q, s) => s.end('ok')).listen(Number(process.argv[1]), '127.0.0.1');",
].join('\n');

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('security: triggering is authenticated, scoped, replay-proof, and cannot choose what the worker runs', () => {
  let server: TestDevServer;
  let rollouts: RolloutClient;
  let worker: Worker;
  let workerDone: Promise<void>;
  let app: FastifyInstance;
  let base: string;
  let traffic: TestHttpServer;
  let dir: string;
  const deliveries: { id: string; weight: number; verified: boolean }[] = [];
  /** Every request that had to be refused, with what it got. */
  const refused: { name: string; expected: number; got: number }[] = [];

  const call = async (method: string, url: string, headers: Record<string, string> = {}, body?: string): Promise<Response> =>
    fetch(`${base}${url}`, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body,
    });

  /** Sends a request that must be refused with `expected`; records it. */
  const mustRefuse = async (name: string, expected: 400 | 401 | 403, method: string, url: string, headers: Record<string, string>, body?: string) => {
    const res = await call(method, url, headers, body);
    const text = await res.text();
    refused.push({ name, expected, got: res.status });
    assert.equal(res.status, expected, `${name}: ${res.status} ${text}`);
    return JSON.parse(text) as { errors?: { path: string; message: string }[] };
  };

  const startBody = JSON.stringify({ service: 'checkout', canary: 'v2' });

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'phoenix-security-'));
    traffic = await startHttpServer('', (req, res, body) => {
      const ts = String(req.headers['x-phoenix-timestamp'] ?? '');
      const id = String(req.headers['x-phoenix-delivery'] ?? '');
      const sent = Buffer.from(String(req.headers['x-phoenix-signature'] ?? ''));
      const expected = Buffer.from(`sha256=${createHmac('sha256', TRAFFIC_SECRET).update(`${ts}.${id}.${body}`).digest('hex')}`);
      const fresh = Math.abs(Date.now() / 1000 - Number(ts)) <= 300;
      const verified = sent.length === expected.length && timingSafeEqual(sent, expected) && fresh && !deliveries.some((d) => d.id === id);
      const { canaryWeight } = JSON.parse(body) as { canaryWeight: number };
      deliveries.push({ id, weight: canaryWeight, verified });
      if (!verified) return void res.writeHead(401).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ canaryWeight }));
    });
    const [stablePort, canaryPort] = [await freePort(), await freePort()];
    const nullQueries = Object.fromEntries(METRIC_NAMES.map((m) => [m, null]));
    writeFileSync(
      path.join(dir, 'catalog.yaml'),
      JSON.stringify({
        routers: { lb: { kind: 'webhook', url: `${traffic.url}/weights`, secretEnv: 'SEC_TRAFFIC_SECRET' } },
        platforms: {
          probe: {
            kind: 'process',
            command: [process.execPath, '-e', PROBE, '{{port}}', '{{version}}'],
            env: { PROBE_OUT: dir },
            stablePort,
            canaryPort,
            stateDir: path.join(dir, 'platform'),
          },
        },
        // No metric is judged here (the suite is about who may do what): every query is off.
        metricSources: { prom: { prometheusUrl: 'http://127.0.0.1:9', minRequests: 0, queries: nullQueries } },
        services: {
          checkout: { router: 'lb', platform: 'probe', metrics: 'prom', stable: 'v1', defaults: { warmup: { duration: '10m' } } },
          payments: { router: 'lb', platform: 'probe', metrics: 'prom', stable: 'v1' },
        },
      }),
    );
    server = await startDevServer();
    const connection = await NativeConnection.connect({ address: server.address });
    worker = await Worker.create({
      connection,
      namespace: server.namespace,
      taskQueue: TASK_QUEUE,
      workflowBundle: await buildWorkflowBundle(),
      activities: createActivities({
        logger: pino({ level: 'silent' }),
        registry: new Registry(),
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...WORKER_SECRETS },
        targets: { catalogDir: dir, allowInlineTargets: false },
        healthIntervalMs: 100,
        stopGraceMs: 500,
      }),
    });
    workerDone = worker.run();
    rollouts = await RolloutClient.connect({
      address: server.address,
      namespace: server.namespace,
      connection: { address: server.address, connectTimeout: 5000 },
    });
    const credential = (principal: string, token: string, services: string[], actions: Parameters<typeof compileScope>[1], expiresAt?: number): Credential => ({
      principal,
      tokenSha256: hashToken(token),
      scope: compileScope(services, actions),
      source: 'security.test.ts',
      ...(expiresAt !== undefined ? { expiresAt } : {}),
    });
    app = buildApiServer({
      rollouts,
      logger: pino({ level: 'silent' }),
      credentials: [
        credential('ci-checkout', TOKENS.pipeline, ['checkout'], ['read', 'start', 'pause', 'resume', 'abort']),
        credential('operator', TOKENS.operator, ['*'], '*'),
        credential('dashboard', TOKENS.reader, ['*'], ['read']),
        credential('old-pipeline', TOKENS.expired, ['*'], '*', Date.now() - 60_000),
        { principal: 'deploy-bot', hmacKey: SIGNER_KEY, scope: compileScope(['checkout'], ['read', 'start']), source: 'security.test.ts' },
      ],
      catalog: () => loadCatalog(dir),
      rateLimitPerMin: 0,
    });
    base = await app.listen({ host: '127.0.0.1', port: await freePort() });
  });

  after(async () => {
    await app?.close();
    worker?.shutdown();
    await workerDone?.catch(() => undefined);
    await rollouts?.close().catch(() => undefined);
    await server?.teardown();
    await traffic?.stop();
    if (dir) {
      await stopLeftoverInstances(path.join(dir, 'platform'));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('unauthenticated, expired, wrong-scope, tampered and stale requests are refused and start nothing', async () => {
    const routes: [string, string, string | undefined][] = [
      ['POST', '/v1/rollouts', startBody],
      ['GET', '/v1/rollouts', undefined],
      ['GET', '/v1/rollouts/checkout', undefined],
      ['POST', '/v1/rollouts/checkout/pause', '{}'],
      ['POST', '/v1/rollouts/checkout/abort', '{"reason":"x"}'],
      ['POST', '/v1/rollouts/checkout/promote', '{}'],
      ['POST', '/v1/alertmanager', '{"alerts":[]}'],
    ];
    for (const [method, url, body] of routes) {
      await mustRefuse(`no credentials ${method} ${url}`, 401, method, url, {}, body);
      await mustRefuse(`unknown token ${method} ${url}`, 401, method, url, bearer('not-a-known-token-000000000000'), body);
      await mustRefuse(`malformed header ${method} ${url}`, 401, method, url, { authorization: 'Basic YWRtaW46YWRtaW4=' }, body);
      await mustRefuse(`expired credential ${method} ${url}`, 401, method, url, bearer(TOKENS.expired), body);
    }
    await mustRefuse('pipeline starts another service', 403, 'POST', '/v1/rollouts', bearer(TOKENS.pipeline), JSON.stringify({ service: 'payments', canary: 'v2' }));
    await mustRefuse('read-only starts', 403, 'POST', '/v1/rollouts', bearer(TOKENS.reader), startBody);
    await mustRefuse('signer lists payments', 403, 'GET', '/v1/rollouts?service=payments', signedHeaders({ keyId: 'deploy-bot', key: SIGNER_KEY, method: 'GET', path: '/v1/rollouts?service=payments' }));

    // A correctly signed start, then one part changed at a time.
    const signed = (over: { method?: string; path?: string; body?: string; now?: number; key?: string } = {}) =>
      signedHeaders({ keyId: 'deploy-bot', key: over.key ?? SIGNER_KEY, method: over.method ?? 'POST', path: over.path ?? '/v1/rollouts', body: over.body ?? startBody, now: over.now });
    await mustRefuse('tampered body', 401, 'POST', '/v1/rollouts', signed(), JSON.stringify({ service: 'checkout', canary: 'v3' }));
    await mustRefuse('tampered path', 401, 'POST', '/v1/rollouts', signed({ path: '/v1/rollouts?dry=1' }), startBody);
    await mustRefuse('tampered method', 401, 'POST', '/v1/rollouts', signed({ method: 'PUT' }), startBody);
    await mustRefuse('wrong key', 401, 'POST', '/v1/rollouts', signed({ key: 'another-key-0123456789abcdef-0123456789' }), startBody);
    await mustRefuse('stale timestamp', 401, 'POST', '/v1/rollouts', signed({ now: Date.now() - 10 * 60_000 }), startBody);
    const good = signed();
    await mustRefuse('tampered timestamp', 401, 'POST', '/v1/rollouts', { ...good, 'x-phoenix-timestamp': String(Number(good['x-phoenix-timestamp']) + 1) }, startBody);
    await mustRefuse('tampered nonce', 401, 'POST', '/v1/rollouts', { ...good, 'x-phoenix-nonce': `${good['x-phoenix-nonce']}x` }, startBody);
    await mustRefuse('another key id', 401, 'POST', '/v1/rollouts', { ...good, 'x-phoenix-key-id': 'operator' }, startBody);

    assert.deepEqual(await rollouts.list(), [], 'nothing was started');
  });

  test('every field that would choose what the worker runs, reads or calls is refused by name', async () => {
    const inline = {
      service: 'checkout',
      stable: 'v1',
      canary: 'v2',
      traffic: { kind: 'webhook', url: 'http://169.254.169.254/latest', secretEnv: 'PHOENIX_API_HMAC_SECRET' },
      platform: { kind: 'process', command: ['sh', '-c', 'env > /tmp/stolen'], stablePort: 1, canaryPort: 2, cwd: '/', env: { A: '1' }, stateDir: '/etc' },
    };
    const cases: [string, Record<string, unknown>, string[]][] = [
      ['an inline spec', inline, ['traffic', 'platform']],
      ['a traffic router', { service: 'checkout', canary: 'v2', traffic: inline.traffic }, ['traffic']],
      ['a platform', { service: 'checkout', canary: 'v2', platform: inline.platform }, ['platform']],
      ['a Prometheus URL', { service: 'checkout', canary: 'v2', metrics: { prometheusUrl: 'http://10.0.0.1:9090' } }, ['metrics.prometheusUrl']],
      ['PromQL queries', { service: 'checkout', canary: 'v2', metrics: { queries: { error_rate: 'up' } } }, ['metrics.queries']],
      ['an Alertmanager URL', { service: 'checkout', canary: 'v2', alerts: { alertmanagerUrl: 'http://10.0.0.2:9093' } }, ['alerts.alertmanagerUrl']],
      ['a command', { service: 'checkout', canary: 'v2', command: ['id'] }, ['command']],
      ['a working directory', { service: 'checkout', canary: 'v2', cwd: '/' }, ['cwd']],
      ['environment variables', { service: 'checkout', canary: 'v2', noData: { env: { LD_PRELOAD: '/x.so' } } }, ['noData.env']],
      ['a state directory', { service: 'checkout', canary: 'v2', stateDir: '/etc' }, ['stateDir']],
      ['a URL in a policy block', { service: 'checkout', canary: 'v2', validation: { webhookUrl: 'http://x' } }, ['validation.webhookUrl']],
      ['a url anywhere', { service: 'checkout', canary: 'v2', baseline: { url: 'http://x' } }, ['baseline.url']],
    ];
    for (const [name, body, paths] of cases) {
      const answer = await mustRefuse(`forbidden: ${name}`, 400, 'POST', '/v1/rollouts', bearer(TOKENS.operator), JSON.stringify(body));
      const named = (answer.errors ?? []).filter((e) => /operator-owned/.test(e.message)).map((e) => e.path);
      for (const p of paths) assert.ok(named.includes(p), `${name}: ${p} not named in ${JSON.stringify(answer)}`);
    }
    const yaml = await call('POST', '/v1/rollouts', { ...bearer(TOKENS.operator), 'content-type': 'application/yaml' }, 'service: checkout\ncanary: v2\nplatform: {kind: command, deploy: [id]}\n');
    refused.push({ name: 'forbidden: a platform in YAML', expected: 400, got: yaml.status });
    assert.equal(yaml.status, 400);
    assert.deepEqual(await rollouts.list(), [], 'nothing was started');
  });

  test('a scoped pipeline starts its service; the canary cannot read the worker secrets; wrong-scope and replayed calls change nothing', async (t) => {
    const started = await call('POST', '/v1/rollouts', bearer(TOKENS.pipeline), startBody);
    assert.equal(started.status, 201, await started.clone().text());
    const envFile = path.join(dir, 'env-v2.json');
    for (let i = 0; i < 300 && !existsSync(envFile); i++) await new Promise((r) => setTimeout(r, 100));
    const canaryEnv = JSON.parse(readFileSync(envFile, 'utf8')) as Record<string, string>;
    for (const [name, value] of Object.entries(WORKER_SECRETS)) {
      assert.equal(canaryEnv[name], undefined, `${name} reached the canary`);
      assert.ok(!Object.values(canaryEnv).includes(value), `the value of ${name} reached the canary`);
    }
    assert.equal(canaryEnv.PATH, process.env.PATH);
    assert.equal(canaryEnv.PROBE_OUT, dir);

    const statusOf = async (): Promise<RolloutStatus> => (await call('GET', '/v1/rollouts/checkout', bearer(TOKENS.reader))).json() as Promise<RolloutStatus>;
    let before = await statusOf();
    for (let i = 0; i < 100 && before.state !== 'warming_up'; i++) before = await statusOf();
    assert.equal(before.state, 'warming_up');
    assert.equal(before.targets?.kind, 'catalog');

    await mustRefuse('pipeline promotes (not its action)', 403, 'POST', '/v1/rollouts/checkout/promote', bearer(TOKENS.pipeline), '{}');
    await mustRefuse('read-only pauses', 403, 'POST', '/v1/rollouts/checkout/pause', bearer(TOKENS.reader), '{}');
    await mustRefuse('pipeline aborts another service', 403, 'POST', '/v1/rollouts/payments/abort', bearer(TOKENS.pipeline), '{"reason":"x"}');
    await mustRefuse('signer pauses (not its action)', 403, 'POST', '/v1/rollouts/checkout/pause', signedHeaders({ keyId: 'deploy-bot', key: SIGNER_KEY, method: 'POST', path: '/v1/rollouts/checkout/pause', body: '{}' }), '{}');
    await mustRefuse('unauthenticated abort', 401, 'POST', '/v1/rollouts/checkout/abort', {}, '{"reason":"x"}');

    // A signed GET is accepted once; replayed as is, or as a promote, it is refused.
    const get = signedHeaders({ keyId: 'deploy-bot', key: SIGNER_KEY, method: 'GET', path: '/v1/rollouts/checkout' });
    assert.equal((await call('GET', '/v1/rollouts/checkout', get)).status, 200);
    await mustRefuse('replayed signed GET', 401, 'GET', '/v1/rollouts/checkout', get);
    await mustRefuse('signed GET replayed as promote', 401, 'POST', '/v1/rollouts/checkout/promote', get, '');
    const signedStart = signedHeaders({ keyId: 'deploy-bot', key: SIGNER_KEY, method: 'POST', path: '/v1/rollouts', body: startBody });
    const first = await call('POST', '/v1/rollouts', signedStart, startBody);
    assert.equal(first.status, 409, 'checkout is already running');
    await mustRefuse('replayed signed start', 401, 'POST', '/v1/rollouts', signedStart, startBody);

    // The pipeline may pause, but cannot speak for someone else: the workflow records who it is.
    const paused = await call('POST', '/v1/rollouts/checkout/pause', bearer(TOKENS.pipeline), JSON.stringify({ reason: 'hold', by: 'operator' }));
    assert.equal(paused.status, 200, await paused.clone().text());
    const after = await statusOf();
    assert.deepEqual(
      after.operatorEvents.map((e) => [e.action, e.by, e.accepted]),
      [['pause', 'api:ci-checkout', true]],
      'only the pipeline’s own pause reached the rollout',
    );
    assert.match(after.operatorEvents[0]?.reason ?? '', /on behalf of operator, as stated by the caller/);
    assert.equal(after.weight, 0);
    assert.equal(after.canaryVersion, 'v2');
    assert.deepEqual((await rollouts.list()).map((r) => r.service), ['checkout'], 'one rollout, the legitimate one');

    const aborted = await call('POST', '/v1/rollouts/checkout/abort', bearer(TOKENS.operator), JSON.stringify({ reason: 'end of the security suite' }));
    assert.equal(aborted.status, 200, await aborted.clone().text());
    const result = await rollouts.result('checkout');
    assert.equal(result.outcome, 'aborted', result.reason);

    // The README's pipeline script, signed: a new rollout of checkout starts (201); with the
    // pipeline's bearer token while that one runs: 409, i.e. authenticated and in scope.
    const script = path.resolve(__dirname, '../../examples/pipeline-start.sh');
    const env = { PATH: process.env.PATH ?? '', PHOENIX_API: base, CI_PIPELINE_ID: 'build-42' };
    // Asynchronously: the API answering the script runs in this process.
    const run = promisify(execFile);
    const signedRun = await run('sh', [script, 'checkout', 'v3'], { env: { ...env, PHOENIX_KEY_ID: 'deploy-bot', PHOENIX_KEY: SIGNER_KEY }, timeout: 30_000 });
    assert.match(signedRun.stdout, /"rolloutId":"rollout-checkout"/);
    const bearerRun = await run('sh', [script, 'checkout', 'v4'], { env: { ...env, CI_PIPELINE_ID: 'build-43', PHOENIX_TOKEN: TOKENS.pipeline }, timeout: 30_000 }).then(
      () => assert.fail('a second start of a running service must fail'),
      (err: { code?: number; stdout?: string }) => err,
    );
    assert.notEqual(bearerRun.code, 0);
    assert.match(bearerRun.stdout ?? '', /already/, JSON.stringify(bearerRun));
    const second = await call('POST', '/v1/rollouts/checkout/abort', bearer(TOKENS.operator), JSON.stringify({ reason: 'end of the pipeline script check' }));
    assert.equal(second.status, 200, await second.clone().text());
    assert.equal((await rollouts.result('checkout')).outcome, 'aborted');

    assert.ok(deliveries.length >= 2, 'the worker called the traffic webhook');
    assert.ok(deliveries.every((d) => d.verified), `every delivery verified: ${JSON.stringify(deliveries)}`);
    assert.equal(new Set(deliveries.map((d) => d.id)).size, deliveries.length, 'every delivery has its own id');

    const wrong = refused.filter((r) => r.got !== r.expected);
    t.diagnostic(`refused ${refused.length - wrong.length} of ${refused.length} hostile requests as expected ` +
      `(${refused.filter((r) => r.expected === 401).length} × 401, ${refused.filter((r) => r.expected === 403).length} × 403, ${refused.filter((r) => r.expected === 400).length} × 400)`);
    assert.deepEqual(wrong, []);
  });
});
