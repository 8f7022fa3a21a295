import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { buildDemoApps } from '../../demo/app';
import { parseFaults } from '../../demo/faults';
import { loadDemoServiceConfig } from '../../demo/service-config';
import { startLoadGenerator } from '../../demo/load-generator';

const silent = pino({ level: 'silent' });
const TOKEN = 'demo-admin-token-for-tests';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const baseConfig = {
  service: 'checkout',
  version: 'v2',
  memoryLimitBytes: 512 * 1024 * 1024,
  baseLatencyMs: 0,
  initialFaults: {},
  adminToken: TOKEN,
};

test('config: flags override env; bad values name the flag and the env variable', () => {
  const cfg = loadDemoServiceConfig(['--version', 'v2', '--port', '9001'], { DEMO_PORT: '1', DEMO_SERVICE: 'pay' });
  assert.equal(cfg.port, 9001);
  assert.equal(cfg.service, 'pay');
  assert.equal(cfg.host, '127.0.0.1');
  assert.throws(() => loadDemoServiceConfig(['--port', 'x'], {}), /--version \(env DEMO_VERSION\)[\s\S]*--port \(env DEMO_PORT\)/);
  assert.throws(
    () => loadDemoServiceConfig(['--version', 'v1', '--port', '1', '--faults', '{"errorRate":7}'], {}),
    /--faults.*errorRate/,
  );
});

test('faults: unknown and out-of-range fields are named', () => {
  assert.deepEqual(parseFaults({}), {});
  assert.throws(() => parseFaults({ errorRate: 1.5 }), (e: Error & { fields?: string[] }) => {
    assert.deepEqual(e.fields, ['errorRate']);
    return true;
  });
  assert.throws(() => parseFaults({ latency: 3 }), /latency/);
});

test('GET / counts by status, faults change the outcome, {} clears', async () => {
  // random() = 0.25: below errorRate 0.5 → error; the first call is the latency jitter.
  const { app } = buildDemoApps(baseConfig, silent, () => 0.25);
  const ok = await app.inject({ method: 'GET', url: '/' });
  assert.equal(ok.statusCode, 200);
  assert.equal(ok.json().version, 'v2');

  const bad = await app.inject({ method: 'POST', url: '/admin/faults', headers: AUTH, payload: { errorRate: 'lots' } });
  assert.equal(bad.statusCode, 400);
  assert.match(bad.json().error, /errorRate/);

  const set = await app.inject({ method: 'POST', url: '/admin/faults', headers: AUTH, payload: { errorRate: 0.5, taskSuccessRate: 0.9 } });
  assert.equal(set.statusCode, 200);
  assert.equal((await app.inject({ method: 'GET', url: '/' })).statusCode, 500);

  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  assert.match(metrics, /http_requests_total\{status="500",service="checkout",version="v2"\} 1/);
  assert.match(metrics, /http_requests_total\{status="200",service="checkout",version="v2"\} 1/);
  assert.match(metrics, /task_success_rate\{service="checkout",version="v2"\} 0\.9\n/);
  assert.match(metrics, /process_cpu_seconds_total\{/);
  assert.match(metrics, /request_duration_seconds_bucket\{le="0.075"/);

  await app.inject({ method: 'POST', url: '/admin/faults', headers: AUTH, payload: {} });
  assert.equal((await app.inject({ method: 'GET', url: '/' })).statusCode, 200);
  // Probes and admin calls are not application traffic.
  await app.inject({ method: 'GET', url: '/healthz' });
  const stats = (await app.inject({ method: 'GET', url: '/admin/stats', headers: AUTH })).json();
  assert.deepEqual(stats.served, { '200': 2, '500': 1 });
  assert.equal(stats.total, 3);
  await app.close();
});

test('unhealthy fault fails /healthz; healthy gauges stay near their defaults', async () => {
  const { app } = buildDemoApps(baseConfig, silent);
  await app.inject({ method: 'POST', url: '/admin/faults', headers: AUTH, payload: { unhealthy: true } });
  assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 503);
  await app.inject({ method: 'DELETE', url: '/admin/faults', headers: AUTH });
  assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  const body = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const value = Number(/agent_health_score\{[^}]*\} ([0-9.]+)/.exec(body)?.[1]);
  assert.ok(Math.abs(value - 0.98) <= 0.002, `agent_health_score ${value}`);
  await app.close();
});

test('config: the admin token comes from DEMO_ADMIN_TOKEN or --admin-token; a short one is refused without echoing it', () => {
  const base = ['--version', 'v1', '--port', '1'];
  assert.equal(loadDemoServiceConfig(base, {}).adminToken, undefined);
  assert.equal(loadDemoServiceConfig(base, { DEMO_ADMIN_TOKEN: TOKEN }).adminToken, TOKEN);
  assert.equal(loadDemoServiceConfig([...base, '--admin-token', `${TOKEN}-flag`], { DEMO_ADMIN_TOKEN: TOKEN }).adminToken, `${TOKEN}-flag`);
  assert.throws(
    () => loadDemoServiceConfig(base, { DEMO_ADMIN_TOKEN: 'tiny-secret' }),
    (err: Error) => /--admin-token \(env DEMO_ADMIN_TOKEN\): must be at least 16/.test(err.message) && !err.message.includes('tiny-secret'),
  );
});

test('admin routes need the bearer token: none, a wrong one or another scheme → 401, and nothing changes', async () => {
  const { app } = buildDemoApps(baseConfig, silent);
  const attempts: Record<string, string>[] = [
    {},
    { authorization: 'Bearer wrong-token-of-some-length' },
    { authorization: `Bearer ${TOKEN}x` },
    { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
    { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` },
    { authorization: TOKEN },
  ];
  for (const headers of attempts) {
    for (const [method, url] of [['POST', '/admin/faults'], ['GET', '/admin/faults'], ['DELETE', '/admin/faults'], ['GET', '/admin/stats']] as const) {
      const res = await app.inject({ method, url, headers, ...(method === 'POST' ? { payload: { unhealthy: true } } : {}) });
      assert.equal(res.statusCode, 401, `${method} ${url} with ${JSON.stringify(headers)}`);
      assert.match(String(res.headers['www-authenticate']), /^Bearer/);
    }
  }
  assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'no fault was set');
  // The right token works, the scheme is case-insensitive; the service routes need none.
  const ok = await app.inject({ method: 'POST', url: '/admin/faults', headers: { authorization: `bearer ${TOKEN}` }, payload: { unhealthy: true } });
  assert.equal(ok.statusCode, 200);
  assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 503);
  assert.equal((await app.inject({ method: 'GET', url: '/' })).statusCode, 200);
  await app.close();
});

test('without an admin token the admin routes do not exist (404), whatever is sent', async () => {
  const { adminToken: _none, ...noToken } = baseConfig;
  for (const config of [noToken, { ...noToken, adminPort: 0 }]) {
    const { app, adminApp } = buildDemoApps(config, silent);
    for (const target of [app, adminApp].filter((a) => a !== undefined)) {
      for (const headers of [{}, AUTH, { authorization: 'Bearer ' }]) {
        const res = await target.inject({ method: 'POST', url: '/admin/faults', headers, payload: { unhealthy: true } });
        assert.equal(res.statusCode, 404);
        assert.equal((await target.inject({ method: 'GET', url: '/admin/stats', headers })).statusCode, 404);
      }
      await target.close();
    }
  }
});

test('separate admin port: admin routes are not on the service port', async () => {
  const { app, adminApp } = buildDemoApps({ ...baseConfig, adminPort: 0 }, silent);
  assert.ok(adminApp);
  assert.equal((await app.inject({ method: 'GET', url: '/admin/stats' })).statusCode, 404);
  assert.equal((await adminApp.inject({ method: 'GET', url: '/admin/stats', headers: AUTH })).statusCode, 200);
  await app.close();
  await adminApp.close();
});

test('load generator keeps the requested rate and counts statuses', async () => {
  let n = 0;
  const server = http.createServer((_req, res) => {
    res.statusCode = ++n % 4 === 0 ? 503 : 200;
    res.end('x');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const gen = startLoadGenerator({ url: `http://127.0.0.1:${port}/`, ratePerSecond: 200 });
  await new Promise((r) => setTimeout(r, 1_000));
  const stats = await gen.stop();
  server.close();
  assert.ok(stats.sent >= 170 && stats.sent <= 210, `sent ${stats.sent} in 1s at 200/s`);
  assert.equal((stats.counts['200'] ?? 0) + (stats.counts['503'] ?? 0), stats.sent);
  assert.ok((stats.counts['503'] ?? 0) >= Math.floor(stats.sent / 4) - 1);
  assert.equal(stats.inFlight, 0);
});
