/**
 * The demo stack end to end: `stack up` in a temp dir on free ports brings up the real Temporal
 * dev server, Prometheus, Alertmanager, HAProxy, the stable demo service and the load generator;
 * every endpoint answers, faults change what clients see through HAProxy, weights set through the
 * runtime API split real traffic, and `stack down` leaves no process behind. The demo instances'
 * /admin routes need the stack's random admin token, and the instances the worker starts get it
 * (through the spec's passEnv) but none of the worker's secrets.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseRolloutSpecText } from '../../rollout-spec/parse';
import { freePorts, waitForDevServer } from '../../scripts/temporal-server';
import { DEFAULT_PORTS, type StackPorts } from '../../scripts/stack/config';
import type { DemoInstanceEndpoints, StackEndpoints } from '../../scripts/stack/endpoints';

const ROOT = path.resolve(__dirname, '..', '..');
const STACK = path.join(ROOT, 'scripts', 'stack.ts');
/** The stack starts the worker whenever its entry point exists. */
const WITH_WORKER = existsSync(path.join(ROOT, 'worker', 'main.ts'));
const PARTS = ['temporal', 'prometheus', 'alertmanager', 'stable', 'haproxy', 'load', ...(WITH_WORKER ? ['worker'] : [])];

function runStack(args: string[], env: NodeJS.ProcessEnv): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', STACK, ...args], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    timeout: 240_000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function haproxyCommand(address: string | { path: string }, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const opts = typeof address === 'string'
      ? { host: address.split(':')[0] as string, port: Number(address.split(':')[1]) }
      : { path: address.path };
    const socket = net.connect(opts);
    let reply = '';
    socket.once('connect', () => socket.end(`${command}\n`));
    socket.on('data', (c) => (reply += c.toString()));
    socket.once('end', () => resolve(reply));
    socket.once('error', reject);
  });
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${what} not seen within ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ''}`);
}

async function promQuery(base: string, query: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await res.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  assert.equal(body.status, 'success');
  return body.data.result;
}

/** Sends `n` requests through the frontend (a few at a time) and counts statuses and versions. */
async function sendThrough(url: string, n: number): Promise<{ status: Record<string, number>; version: Record<string, number> }> {
  const status: Record<string, number> = {};
  const version: Record<string, number> = {};
  for (let i = 0; i < n; i += 10) {
    await Promise.all(
      Array.from({ length: Math.min(10, n - i) }, async () => {
        const res = await fetch(`${url}/`);
        const body = (await res.json()) as { version?: string };
        status[res.status] = (status[res.status] ?? 0) + 1;
        if (body.version) version[body.version] = (version[body.version] ?? 0) + 1;
      }),
    );
  }
  return { status, version };
}

/** The headers a demo instance's /admin routes need. */
const authed = (instance: DemoInstanceEndpoints, headers: Record<string, string> = {}) => ({
  ...headers,
  authorization: `Bearer ${instance.adminToken}`,
});

async function served(instance: DemoInstanceEndpoints): Promise<number> {
  const res = await fetch(`${instance.admin}/stats`, { headers: authed(instance) });
  assert.equal(res.status, 200, `${instance.admin}/stats with the admin token`);
  return ((await res.json()) as { total: number }).total;
}

/** The environment a live process was started with (Linux /proc). */
async function environOf(pid: number): Promise<Record<string, string>> {
  const raw = await fs.readFile(`/proc/${pid}/environ`, 'utf8');
  return Object.fromEntries(
    raw
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

/** A secret in the environment `stack up` runs in, so the worker holds it too. */
const WORKER_SECRET = { SOME_WEBHOOK_SECRET: 's3cret-webhook-stack-e2e' };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = spawnSync('cat', [`/proc/${pid}/stat`], { encoding: 'utf8' }).stdout;
  return !stat || stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

describe('demo stack (real Temporal, Prometheus, Alertmanager, HAProxy)', { timeout: 420_000 }, () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let ports: StackPorts;
  let ep: StackEndpoints;
  let canary: ChildProcess | undefined;
  let downDone = false;

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'phoenix-stack-'));
    const names = Object.keys(DEFAULT_PORTS) as (keyof StackPorts)[];
    const free = await freePorts(names.length);
    ports = Object.fromEntries(names.map((n, i) => [n, free[i]])) as StackPorts;
    env = { ...process.env, ...WORKER_SECRET, PHOENIX_STACK_PORTS: JSON.stringify(ports), LOAD_RATE: '40' };
    const up = runStack(['up', '--dir', dir], env);
    assert.equal(up.status, 0, `stack up failed:\n${up.out}`);
    ep = JSON.parse(await fs.readFile(path.join(dir, 'endpoints.json'), 'utf8')) as StackEndpoints;
  });

  after(async () => {
    canary?.kill('SIGKILL');
    if (!downDone) runStack(['down', '--dir', dir], env);
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('endpoints.json names every part on the requested ports, all on 127.0.0.1', () => {
    assert.deepEqual(ep.ports, ports);
    assert.equal(ep.temporal, `127.0.0.1:${ports.temporal}`);
    assert.equal(ep.haproxyFrontend, `http://127.0.0.1:${ports.haproxyFrontend}`);
    assert.equal(ep.demo.canary.admin, `http://127.0.0.1:${ports.canary}/admin`);
    for (const value of [ep.temporalUi, ep.prometheus, ep.alertmanager, ep.haproxyFrontend, ep.workerMetrics, ep.workerSdkMetrics]) {
      assert.match(value, /^http:\/\/127\.0\.0\.1:\d+/);
    }
  });

  test('the demo admin routes need the random per-stack token recorded (mode 0600) in endpoints.json', async () => {
    assert.match(ep.demo.stable.adminToken, /^[A-Za-z0-9_-]{32,}$/);
    assert.equal(ep.demo.canary.adminToken, ep.demo.stable.adminToken);
    assert.equal((await fs.stat(path.join(dir, 'endpoints.json'))).mode & 0o777, 0o600);
    const stable = ep.demo.stable;
    const refused: Record<string, string>[] = [
      {},
      { authorization: 'Bearer not-the-token-at-all-000000' },
      { authorization: `Basic ${stable.adminToken}` },
    ];
    for (const headers of refused) {
      const post = await fetch(`${stable.admin}/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ unhealthy: true }),
      });
      assert.equal(post.status, 401, `POST /admin/faults with ${JSON.stringify(headers)}`);
      assert.equal((await fetch(`${stable.admin}/stats`, { headers })).status, 401);
    }
    assert.equal((await fetch(stable.health)).status, 200, 'the refused fault was not set');
    assert.equal((await fetch(`${stable.admin}/faults`, { headers: authed(stable) })).status, 200);
  });

  test('Temporal frontend has the search attributes; the UI answers', async () => {
    await waitForDevServer(ep.temporal, { timeoutMs: 10_000 });
    const res = await fetch(ep.temporalUi);
    assert.equal(res.status, 200);
    assert.ok(existsSync(path.join(dir, 'temporal.db')), 'file-backed Temporal db');
  });

  test('Prometheus scrapes the stable instance (up == 1) and sees the load through HAProxy', async () => {
    const up = await eventually('up{track="stable"} == 1', async () => {
      const r = await promQuery(ep.prometheus, 'up{job="demo",track="stable"}');
      return r[0]?.value[1] === '1' ? r[0] : undefined;
    });
    assert.equal(up.metric.instance, `127.0.0.1:${ports.stable}`);
    // The canary target is configured but down until a rollout starts it.
    // Targets are scraped independently: wait for the canary's first scrape before reading it.
    const canaryUp = await eventually('a scrape of the canary target', async () => {
      const r = await promQuery(ep.prometheus, 'up{job="demo",track="canary"}');
      return r[0];
    });
    assert.equal(canaryUp.value[1], '0');
    const rate = await eventually('request rate of v1', async () => {
      const r = await promQuery(ep.prometheus, 'sum(rate(http_requests_total{service="checkout",version="v1"}[5s]))');
      const v = Number(r[0]?.value[1]);
      return v > 10 ? v : undefined;
    });
    assert.ok(rate < 80, `rate ${rate} req/s should be near the load generator's 40`);
    const stats = JSON.parse(await fs.readFile(ep.loadStats, 'utf8')) as { counts: Record<string, number> };
    assert.ok((stats.counts['200'] ?? 0) > 0);
  });

  test('Alertmanager is ready and accepts an alert', async () => {
    assert.equal((await fetch(`${ep.alertmanager}/-/ready`)).status, 200);
    const post = await fetch(`${ep.alertmanager}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ labels: { alertname: 'StackE2E', service: 'checkout' }, annotations: { summary: 'e2e' } }]),
    });
    assert.equal(post.status, 200);
    const alerts = (await (await fetch(`${ep.alertmanager}/api/v2/alerts?filter=alertname%3D%22StackE2E%22`)).json()) as unknown[];
    assert.equal(alerts.length, 1);
  });

  test('HAProxy serves v1 and its runtime API answers on TCP and the unix socket', async () => {
    const res = await fetch(`${ep.haproxyFrontend}/`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { version: string }).version, 'v1');
    // Fault injection is not reachable through the frontend.
    assert.equal((await fetch(`${ep.haproxyFrontend}/admin/stats`)).status, 403);
    const stat = await haproxyCommand(ep.haproxyRuntimeApi, 'show stat');
    assert.match(stat, /^checkout,stable,.*,UP,100,/m);
    assert.match(stat, /^checkout,canary,.*,DOWN,0,/m);
    assert.ok(ep.haproxyRuntimeSocket);
    assert.match(await haproxyCommand({ path: ep.haproxyRuntimeSocket }, 'show info'), /^Name: HAProxy/m);
  });

  test('a fault on the stable instance changes the error ratio seen through HAProxy', async () => {
    const admin = ep.demo.stable.admin;
    const json = authed(ep.demo.stable, { 'content-type': 'application/json' });
    const bad = await fetch(`${admin}/faults`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ errorRate: 'half' }),
    });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /errorRate/);

    const clean = await sendThrough(ep.haproxyFrontend, 100);
    assert.deepEqual(clean.status, { '200': 100 });

    const set = await fetch(`${admin}/faults`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ errorRate: 0.5 }),
    });
    assert.equal(set.status, 200);
    try {
      const faulty = await sendThrough(ep.haproxyFrontend, 300);
      const ratio = (faulty.status['500'] ?? 0) / 300;
      assert.ok(ratio > 0.35 && ratio < 0.65, `error ratio ${ratio} through HAProxy with errorRate 0.5`);
      // Prometheus sees it too, with the version label the rollout queries use.
      await eventually('5xx rate of v1 in Prometheus', async () => {
        const r = await promQuery(ep.prometheus, 'sum(rate(http_requests_total{version="v1",status=~"5.."}[5s]))');
        return Number(r[0]?.value[1]) > 0 ? true : undefined;
      });
    } finally {
      await fetch(`${admin}/faults`, { method: 'POST', headers: json, body: '{}' });
    }
    const cleared = await sendThrough(ep.haproxyFrontend, 100);
    assert.deepEqual(cleared.status, { '200': 100 });
  });

  test('weights set through the runtime API split real traffic between stable and a canary', async () => {
    // Start a canary the way the demo spec's `process` platform would, on the stack's canary port.
    canary = spawn(process.execPath, ['--import', 'tsx', 'demo/service.ts', '--version', 'v2', '--port', String(ports.canary)], {
      cwd: ROOT,
      env: { ...process.env, DEMO_ADMIN_TOKEN: ep.demo.canary.adminToken },
      stdio: 'ignore',
    });
    await eventually('canary UP in HAProxy', async () =>
      /^checkout,canary,.*,UP,0,/m.test(await haproxyCommand(ep.haproxyRuntimeApi, 'show stat')) ? true : undefined,
    );
    assert.equal(await haproxyCommand(ep.haproxyRuntimeApi, 'set server checkout/canary weight 25'), '\n');
    assert.equal(await haproxyCommand(ep.haproxyRuntimeApi, 'set server checkout/stable weight 75'), '\n');
    const stableBefore = await served(ep.demo.stable);
    const canaryBefore = await served(ep.demo.canary);
    const seen = await sendThrough(ep.haproxyFrontend, 400);
    const toCanary = (await served(ep.demo.canary)) - canaryBefore;
    const toStable = (await served(ep.demo.stable)) - stableBefore;
    // Counts on the instances include the load generator's requests: the split of all traffic.
    const share = toCanary / (toCanary + toStable);
    assert.ok(share > 0.17 && share < 0.33, `canary share ${share} at weight 25/75`);
    assert.ok((seen.version.v2 ?? 0) > 0 && (seen.version.v1 ?? 0) > 0);
    await eventually('up{track="canary"} == 1', async () => {
      const r = await promQuery(ep.prometheus, 'up{job="demo",track="canary"}');
      return r[0]?.value[1] === '1' ? true : undefined;
    });
    canary.kill('SIGTERM');
    await haproxyCommand(ep.haproxyRuntimeApi, 'set server checkout/canary weight 0');
    await haproxyCommand(ep.haproxyRuntimeApi, 'set server checkout/stable weight 100');
  });

  test('the rendered demo spec targets this stack and parses', async () => {
    const parsed = parseRolloutSpecText(await fs.readFile(ep.demoSpec, 'utf8'));
    assert.ok(parsed.success, JSON.stringify(!parsed.success && parsed.issues));
    const spec = parsed.spec;
    assert.equal(spec.traffic.kind === 'haproxy' && spec.traffic.runtimeApi, ep.haproxyRuntimeApi);
    assert.equal(spec.platform.kind === 'process' && spec.platform.canaryPort, ports.canary);
    // The worker hands its DEMO_ADMIN_TOKEN on to the instances it starts; the token itself is not in the spec.
    assert.ok(spec.platform.kind === 'process' && spec.platform.passEnv?.includes('DEMO_ADMIN_TOKEN'));
    assert.doesNotMatch(await fs.readFile(ep.demoSpec, 'utf8'), new RegExp(ep.demo.stable.adminToken));
    assert.equal(spec.metrics.prometheusUrl, ep.prometheus);
    assert.equal(spec.alerts.alertmanagerUrl, ep.alertmanager);
  });

  test('the worker serves its metrics and Prometheus scrapes them', { skip: !WITH_WORKER && 'no worker/main.ts' }, async () => {
    assert.equal((await fetch(ep.workerMetrics)).status, 200);
    assert.equal((await fetch(ep.workerSdkMetrics)).status, 200);
    await eventually('up{job="phoenix-worker"} == 1', async () => {
      const r = await promQuery(ep.prometheus, 'up{job="phoenix-worker"}');
      return r[0]?.value[1] === '1' ? true : undefined;
    });
  });

  test('the rendered demo spec rolls v2 out to promotion on this stack', { skip: !WITH_WORKER && 'no worker/main.ts', timeout: 240_000 }, async () => {
    const cliEnv = { ...env, TEMPORAL_ADDRESS: ep.temporal };
    const cli = (args: string[], timeout: number) =>
      spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'client', 'cli.ts'), ...args], {
        cwd: ROOT,
        env: cliEnv,
        encoding: 'utf8',
        timeout,
      });
    const start = cli(['start', ep.demoSpec], 30_000);
    assert.equal(start.status, 0, `${start.stdout}${start.stderr}`);
    // `watch` exits 0 only when the rollout is promoted.
    const watch = cli(['watch', 'checkout'], 220_000);
    const status = cli(['status', 'checkout'], 30_000);
    assert.equal(watch.status, 0, `${status.stdout}${status.stderr}\n${watch.stderr}`);
    // Promotion replaced the stable instance: the frontend now serves v2 from the stable server.
    // HAProxy's health check may need a moment to see the restarted stable server as UP.
    await eventually('stable UP in HAProxy', async () =>
      /^checkout,stable,.*,UP,100,/m.test(await haproxyCommand(ep.haproxyRuntimeApi, 'show stat')) ? true : undefined,
    );
    const seen = await sendThrough(ep.haproxyFrontend, 20);
    assert.deepEqual(seen.version, { v2: 20 });
    assert.deepEqual(seen.status, { '200': 20 });
    assert.match(await haproxyCommand(ep.haproxyRuntimeApi, 'show stat'), /^checkout,stable,.*,UP,100,/m);

    // The promoted stable was started by the worker's process platform: it got the admin token
    // (its /admin answers with it) but not the worker's secrets, which the worker itself has.
    assert.ok((await served(ep.demo.stable)) >= 0);
    const workerPid = Number((await fs.readFile(path.join(dir, 'pids', 'worker.pid'), 'utf8')).trim());
    assert.equal((await environOf(workerPid)).SOME_WEBHOOK_SECRET, WORKER_SECRET.SOME_WEBHOOK_SECRET, 'the worker holds the secret');
    const promoted = JSON.parse(await fs.readFile(path.join(ep.platformStateDir, 'checkout-stable.json'), 'utf8')) as { pid: number; version: string };
    assert.equal(promoted.version, 'v2');
    const instanceEnv = await environOf(promoted.pid);
    assert.equal(instanceEnv.DEMO_ADMIN_TOKEN, ep.demo.stable.adminToken);
    assert.ok(instanceEnv.PATH, 'PATH is passed');
    assert.equal(instanceEnv.SOME_WEBHOOK_SECRET, undefined, 'a worker secret reached the promoted instance');
    assert.equal(instanceEnv.TEMPORAL_ADDRESS, undefined, 'worker settings do not reach the instance either');
  });

  test('up again is idempotent; down stops every process and keeps the logs', async () => {
    const again = runStack(['up', '--dir', dir], env);
    assert.equal(again.status, 0, again.out);
    for (const part of PARTS) {
      assert.match(again.out, new RegExp(`${part}: already running`), again.out);
    }
    assert.doesNotMatch(again.out, /starting/);

    const status = runStack(['status', '--dir', dir, '--json'], env);
    assert.equal(status.status, 0, status.out);
    const pids = (JSON.parse(status.out) as { parts: { part: string; pid: number | null; managed: boolean }[] }).parts
      .filter((p) => p.managed)
      .map((p) => p.pid);
    assert.equal(pids.length, PARTS.length);
    assert.ok(pids.every((p) => typeof p === 'number' && alive(p)));

    const down = runStack(['down', '--dir', dir], env);
    downDone = true;
    assert.equal(down.status, 0, down.out);
    for (const pid of pids) assert.equal(alive(pid as number), false, `pid ${pid} still alive after down`);
    // Nothing is left in the stack's process groups either (tsx children, for instance).
    for (const pid of pids) assert.throws(() => process.kill(-(pid as number), 0));
    assert.deepEqual(await fs.readdir(path.join(dir, 'pids')), []);
    assert.ok((await fs.readdir(path.join(dir, 'logs'))).includes('haproxy.log'));
    for (const port of [ports.haproxyFrontend, ports.prometheus, ports.temporal, ports.stable]) {
      await assert.rejects(fetch(`http://127.0.0.1:${port}/`), `port ${port} still answers`);
    }
    assert.equal(runStack(['status', '--dir', dir], env).status, 3);
  });
});
