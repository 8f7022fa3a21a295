/**
 * setCanaryWeight against a real HAProxy: weights are applied and read back, traffic really
 * splits, and failures are classified (unknown backend → non-retryable, socket down → retryable).
 * With health checks, a server HAProxy reports DOWN never gets all the traffic: the router waits
 * for it (clients see no error) or fails retryably with the weights unchanged.
 * A fake runtime API checks the command order that keeps both weights from being 0 at once.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createActivities } from '../../activities';
import { toApplicationFailure } from '../../activities/errors';
import { HaproxyRouter, parseGetWeightAnswer, runRuntimeApiCommand } from '../../activities/traffic';
import { parseRuntimeApiAddress } from '../../activities/traffic/haproxy-runtime-api';
import {
  describeServerState,
  isServerUsable,
  parseServersStateAnswer,
  type HaproxyServerState,
} from '../../activities/traffic/haproxy-server-state';
import { freePort } from '../helpers/free-port';
import { startHaproxy, startStableCanarySplit, type HaproxyHandle, type StableCanarySplit } from '../helpers/haproxy';
import { startHttpServer, type TestHttpServer } from '../helpers/http-servers';
import { rolloutSpec } from '../helpers/rollout-spec';
import { withoutAppliedAt } from '../helpers/set-weight-result';

const logger = pino({ level: 'silent' });

function specFor(runtimeApi: string, backend = 'app') {
  return rolloutSpec({
    traffic: { kind: 'haproxy', runtimeApi, backend, stableServer: 'stable', canaryServer: 'canary' },
  });
}

async function getWeight(runtimeApi: string, target: string): Promise<number> {
  const answer = await runRuntimeApiCommand(parseRuntimeApiAddress(runtimeApi), `get weight ${target}`);
  return parseGetWeightAnswer(`get weight ${target}`, target, answer);
}

async function expectFailure(p: Promise<unknown>, type: string, nonRetryable: boolean): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure, `expected ApplicationFailure, got ${String(err)}`);
    assert.equal(err.type, type, err.message);
    assert.equal(err.nonRetryable, nonRetryable);
    return err;
  }
  assert.fail(`expected ${type}`);
}

describe('setCanaryWeight with a real HAProxy', () => {
  let haproxy: HaproxyHandle;
  const registry = new Registry();
  const activities = createActivities({ logger, registry });
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });

  let split: StableCanarySplit | undefined;

  before(async () => {
    split = await startStableCanarySplit();
    ({ haproxy } = split);
  });
  after(() => split?.stop());

  it('sets both weights, reads them back and splits real traffic', async () => {
    const spec = specFor(haproxy.runtimeApi);
    const result = await env.run(activities.setCanaryWeight, { rolloutId: 'rollout-checkout', spec, weight: 30 });
    assert.deepEqual(withoutAppliedAt(result), { weight: 30 });
    assert.equal(await getWeight(haproxy.runtimeApi, 'app/canary'), 30);
    assert.equal(await getWeight(haproxy.runtimeApi, 'app/stable'), 70);

    const counts = { stable: 0, canary: 0 };
    for (let batch = 0; batch < 50; batch++) {
      const bodies = await Promise.all(
        Array.from({ length: 20 }, async () => (await fetch(haproxy.url)).text() as Promise<'stable' | 'canary'>),
      );
      for (const body of bodies) counts[body]++;
    }
    assert.equal(counts.stable + counts.canary, 1000);
    // roundrobin with weights 70/30 is deterministic up to the cycle boundary.
    assert.ok(counts.canary >= 270 && counts.canary <= 330, `canary got ${counts.canary}/1000`);

    const metrics = await registry.getSingleMetricAsString('phoenix_canary_weight');
    assert.match(metrics, /phoenix_canary_weight\{service="checkout",rollout_id="rollout-checkout"\} 30/);
  });

  it('is idempotent and reaches both ends (0 and 100)', async () => {
    const spec = specFor(haproxy.runtimeApi);
    for (const w of [100, 100, 0, 0, 5]) {
      const result: { weight: number } = await env.run(activities.setCanaryWeight, { rolloutId: 'rollout-checkout', spec, weight: w });
      assert.equal(result.weight, w);
      assert.equal(await getWeight(haproxy.runtimeApi, 'app/stable'), 100 - w);
    }
    const res = await fetch(haproxy.url);
    assert.equal(res.status, 200);
    await res.text();
  });

  it('rejects an unknown backend or server as non-retryable', async () => {
    await expectFailure(
      env.run(activities.setCanaryWeight, { rolloutId: 'r', spec: specFor(haproxy.runtimeApi, 'nope'), weight: 10 }),
      'TrafficTargetNotFoundError',
      true,
    );
    const spec = rolloutSpec({
      traffic: { kind: 'haproxy', runtimeApi: haproxy.runtimeApi, backend: 'app', stableServer: 'stable', canaryServer: 'ghost' },
    });
    const failure = await expectFailure(
      env.run(activities.setCanaryWeight, { rolloutId: 'r', spec, weight: 10 }),
      'TrafficTargetNotFoundError',
      true,
    );
    assert.match(failure.message, /app\/ghost/);
    const counted = await registry.getSingleMetricAsString('phoenix_activity_failures_total');
    assert.match(counted, /activity="setCanaryWeight",type="TrafficTargetNotFoundError"\} 2/);
  });

  it('reports a runtime API nobody listens on as retryable', async () => {
    const port = await freePort();
    await expectFailure(
      env.run(activities.setCanaryWeight, { rolloutId: 'r', spec: specFor(`127.0.0.1:${port}`), weight: 10 }),
      'TrafficUnavailableError',
      false,
    );
  });
});

describe('HAProxy runtime API over a unix socket', () => {
  it('sets weights through the socket path, then fails retryably once HAProxy is gone', async () => {
    const a = await startHttpServer('a');
    const haproxy = await startHaproxy({
      runtimeApi: 'unix',
      servers: [
        { name: 'stable', address: `127.0.0.1:${a.port}`, weight: 100 },
        { name: 'canary', address: `127.0.0.1:${a.port}`, weight: 0 },
      ],
    }).catch(async (err: unknown) => {
      await a.stop();
      throw err;
    });
    try {
      const router = new HaproxyRouter({ runtimeApi: haproxy.runtimeApi, backend: 'app', stableServer: 'stable', canaryServer: 'canary' });
      assert.equal(await router.setCanaryWeight(20), 20);
      assert.equal(await router.getCanaryWeight(), 20);
      await haproxy.stop();
      await assert.rejects(router.getCanaryWeight(), { name: 'TrafficUnavailableError' });
    } finally {
      await haproxy.stop();
      await a.stop();
    }
  });
});

/** Columns of HAProxy 2.6's `show servers state` header (version 1). */
const STATE_HEADER =
  '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port';

function stateRow(id: number, name: string, opState: number, adminState = 0): string {
  return `3 app ${id} ${name} 127.0.0.1 ${opState} ${adminState} 100 100 0 8 2 0 6 0 0 0 - 1 - 0 0 - - 0`;
}

/**
 * A fake runtime API that records commands and answers like HAProxy (optionally ignoring sets);
 * `opStates` are the servers' `srv_op_state`, `onState` may change them on each state read.
 */
async function fakeRuntimeApi(opts: { ignoreSets?: boolean; onState?: (reads: number) => void } = {}) {
  const weights: Record<string, number> = { 'app/stable': 100, 'app/canary': 0 };
  const opStates: Record<string, number> = { stable: 2, canary: 2 };
  const commands: string[] = [];
  const bothZeroSeen: string[] = [];
  let stateReads = 0;
  const server = net.createServer((socket) => {
    let buf = '';
    socket.on('data', (d) => {
      buf += d.toString();
      if (!buf.includes('\n')) return;
      const cmd = buf.trim();
      commands.push(cmd);
      let m = /^get weight (\S+)$/.exec(cmd);
      if (m) return void socket.end(m[1]! in weights ? `${weights[m[1]!]} (initial 0)\n\n` : 'No such server.\n\n');
      m = /^set weight (\S+) (\d+)$/.exec(cmd);
      if (m) {
        if (!opts.ignoreSets) weights[m[1]!] = Number(m[2]);
        if (weights['app/stable'] === 0 && weights['app/canary'] === 0) bothZeroSeen.push(cmd);
        return void socket.end('\n');
      }
      if (cmd === 'show servers state app') {
        opts.onState?.(++stateReads);
        const rows = [stateRow(1, 'stable', opStates.stable!), stateRow(2, 'canary', opStates.canary!)];
        return void socket.end(['1', STATE_HEADER, ...rows, '', ''].join('\n'));
      }
      socket.end('Unknown command.\n\n');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    address: `127.0.0.1:${port}`,
    commands,
    bothZeroSeen,
    weights,
    opStates,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('HaproxyRouter command order and verification', () => {
  it('raises the rising server first, so both weights are never 0 together', async () => {
    const fake = await fakeRuntimeApi();
    try {
      const router = new HaproxyRouter({ runtimeApi: fake.address, backend: 'app', stableServer: 'stable', canaryServer: 'canary' });
      await router.setCanaryWeight(100);
      const sets = () => fake.commands.filter((c) => c.startsWith('set'));
      assert.deepEqual(sets(), ['set weight app/canary 100', 'set weight app/stable 0']);
      fake.commands.length = 0;
      await router.setCanaryWeight(0);
      assert.deepEqual(sets(), ['set weight app/stable 100', 'set weight app/canary 0']);
      fake.commands.length = 0;
      await router.setCanaryWeight(0);
      assert.deepEqual(sets(), [], 'no set commands when already at the weight');
      assert.deepEqual(fake.bothZeroSeen, []);
    } finally {
      await fake.close();
    }
  });

  it('sends no set command until the server taking all traffic is up, then keeps the order', async () => {
    const fake = await fakeRuntimeApi({
      onState: (reads) => {
        if (reads === 3) fake.opStates.canary = 2;
      },
    });
    fake.opStates.canary = 0;
    try {
      const router = new HaproxyRouter({
        runtimeApi: fake.address,
        backend: 'app',
        stableServer: 'stable',
        canaryServer: 'canary',
        serverUpPollMs: 20,
      });
      assert.equal(await router.setCanaryWeight(100), 100);
      const relevant = fake.commands.filter((c) => !c.startsWith('get'));
      assert.deepEqual(relevant, [
        'show servers state app',
        'show servers state app',
        'show servers state app',
        'set weight app/canary 100',
        'set weight app/stable 0',
      ]);
      // Partial split (stable keeps a share): a DOWN canary only costs HAProxy a skip, so no wait.
      fake.opStates.canary = 0;
      fake.commands.length = 0;
      assert.equal(await router.setCanaryWeight(40), 40);
      assert.deepEqual(fake.commands.filter((c) => c.startsWith('show')), []);
      // Already at the target: a no-op that does not even read the states.
      fake.opStates.stable = 0;
      fake.commands.length = 0;
      await router.setCanaryWeight(40);
      assert.deepEqual(fake.commands.filter((c) => !c.startsWith('get')), []);
      assert.deepEqual(fake.bothZeroSeen, []);
    } finally {
      await fake.close();
    }
  });

  it('throws a retryable WeightMismatchError when the read-back differs', async () => {
    const fake = await fakeRuntimeApi({ ignoreSets: true });
    try {
      const router = new HaproxyRouter({ runtimeApi: fake.address, backend: 'app', stableServer: 'stable', canaryServer: 'canary' });
      await assert.rejects(router.setCanaryWeight(40), (err: Error & { nonRetryable?: boolean }) => {
        assert.equal(err.name, 'WeightMismatchError');
        assert.equal(err.nonRetryable, false);
        return true;
      });
    } finally {
      await fake.close();
    }
  });
});

describe('HaproxyRouter with a fresh baseline server (judge.freshBaseline)', () => {
  it('gives the baseline server its weight and stable the rest, baseline falling first and rising last, all read back', async () => {
    const fake = await fakeRuntimeApi();
    fake.weights['app/baseline'] = 0;
    try {
      const router = new HaproxyRouter({ runtimeApi: fake.address, backend: 'app', stableServer: 'stable', canaryServer: 'canary', baselineServer: 'baseline' });
      const sets = () => fake.commands.filter((c) => c.startsWith('set'));
      assert.equal(await router.setCanaryWeight(20, undefined, { baselineWeight: 20 }), 20);
      assert.deepEqual(sets(), ['set weight app/canary 20', 'set weight app/stable 60', 'set weight app/baseline 20']);
      assert.deepEqual(await router.readWeights(undefined, { baseline: true }), { canary: 20, stable: 60, baseline: 20 });
      fake.commands.length = 0;
      await router.setCanaryWeight(0, undefined, { baselineWeight: 0 });
      assert.deepEqual(sets(), ['set weight app/baseline 0', 'set weight app/stable 100', 'set weight app/canary 0']);
      assert.deepEqual(fake.bothZeroSeen, []);
      // Without baselineWeight (a spec without a fresh baseline) the baseline server is never touched.
      fake.commands.length = 0;
      await router.setCanaryWeight(5);
      assert.deepEqual(await router.readWeights(), { canary: 5, stable: 95 });
      assert.ok(fake.commands.every((c) => !c.includes('baseline')), fake.commands.join('; '));
    } finally {
      await fake.close();
    }
  });

  it('refuses a baseline weight without a baseline server, or one that leaves stable below 0, naming the field', async () => {
    const fake = await fakeRuntimeApi();
    try {
      const plain = new HaproxyRouter({ runtimeApi: fake.address, backend: 'app', stableServer: 'stable', canaryServer: 'canary' });
      await assert.rejects(plain.setCanaryWeight(20, undefined, { baselineWeight: 20 }), { name: 'ConfigError', field: 'traffic.baselineServer' });
      const router = new HaproxyRouter({ runtimeApi: fake.address, backend: 'app', stableServer: 'stable', canaryServer: 'canary', baselineServer: 'baseline' });
      await assert.rejects(router.setCanaryWeight(60, undefined, { baselineWeight: 50 }), { name: 'ConfigError', field: 'baselineWeight' });
      assert.deepEqual(fake.commands.filter((c) => c.startsWith('set')), []);
    } finally {
      await fake.close();
    }
  });
});

describe('HAProxy answer parsing', () => {
  it('accepts only "<n> (initial <m>)"', () => {
    assert.equal(parseGetWeightAnswer('get weight a/b', 'a/b', '50 (initial 100)\n\n'), 50);
    assert.throws(() => parseGetWeightAnswer('c', 'a/b', 'No such backend.\n'), { name: 'TrafficTargetNotFoundError' });
    assert.throws(() => parseGetWeightAnswer('c', 'a/b', '50'), { name: 'TrafficProtocolError' });
    assert.throws(() => parseGetWeightAnswer('c', 'a/b', 'Permission denied\n'), (e: Error & { nonRetryable?: boolean }) => e.nonRetryable === true);
  });

  it('rejects bad addresses and names naming the field', () => {
    assert.throws(() => parseRuntimeApiAddress('localhost'), /traffic\.runtimeApi/);
    assert.throws(
      () => new HaproxyRouter({ runtimeApi: '127.0.0.1:1', backend: 'a b', stableServer: 's', canaryServer: 'c' }),
      /traffic\.backend/,
    );
  });
});

/** Health checks as the demo stack configures them (scripts/stack/config-files.ts). */
const CHECK = 'check inter 1s fastinter 250ms downinter 250ms fall 2 rise 1';

async function serversState(runtimeApi: string): Promise<Map<string, HaproxyServerState>> {
  const answer = await runRuntimeApiCommand(parseRuntimeApiAddress(runtimeApi), 'show servers state app');
  return parseServersStateAnswer('show servers state app', 'app', answer);
}

/** Waits until HAProxy's health check reports `server` in the wanted state. */
async function waitForState(runtimeApi: string, server: string, usable: boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const state = (await serversState(runtimeApi)).get(server);
    assert.ok(state, `no server ${server}`);
    if (isServerUsable(state) === usable) return;
    assert.ok(Date.now() < deadline, `${server} still ${describeServerState(state)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts a server answering `body` on a given port (the port HAProxy already points at). */
async function startHttpServerOn(port: number, body: string): Promise<{ hits(): number; stop(): Promise<void> }> {
  let hits = 0;
  const server = http.createServer((_req, res) => {
    hits++;
    res.writeHead(200, { 'content-type': 'text/plain' }).end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    hits: () => hits,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Clients requesting the frontend back to back until stopped; every non-200 or error is kept. */
function hammer(url: string, clients = 4) {
  let running = true;
  const result = { ok: 0, bodies: {} as Record<string, number>, failures: [] as string[] };
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      try {
        const res = await fetch(url);
        const body = await res.text();
        if (res.status === 200) {
          result.ok++;
          result.bodies[body] = (result.bodies[body] ?? 0) + 1;
        } else result.failures.push(`HTTP ${res.status}`);
      } catch (err) {
        result.failures.push(String(err));
      }
    }
  });
  return {
    result,
    async stop() {
      running = false;
      await Promise.all(loops);
      return result;
    },
  };
}

describe('setCanaryWeight waits for the server HAProxy reports DOWN', () => {
  let stable: TestHttpServer;
  let haproxy: HaproxyHandle;
  let canaryPort: number;
  let canary: { hits(): number; stop(): Promise<void> } | undefined;

  /** Stable up and serving at weight 100; the canary's port has nothing listening, so it is DOWN. */
  async function setUp(canaryOptions = CHECK): Promise<void> {
    stable = await startHttpServer('stable');
    canaryPort = await freePort();
    haproxy = await startHaproxy({
      servers: [
        { name: 'stable', address: `127.0.0.1:${stable.port}`, weight: 100, options: CHECK },
        { name: 'canary', address: `127.0.0.1:${canaryPort}`, weight: 0, options: canaryOptions },
      ],
    });
    if (canaryOptions) await waitForState(haproxy.runtimeApi, 'canary', false);
  }

  async function weights(): Promise<{ canary: number; stable: number }> {
    return {
      canary: await getWeight(haproxy.runtimeApi, 'app/canary'),
      stable: await getWeight(haproxy.runtimeApi, 'app/stable'),
    };
  }

  afterEach(async () => {
    await haproxy?.stop();
    await stable?.stop();
    await canary?.stop();
    canary = undefined;
  });

  it('moves all traffic only once the server is UP, with no failed request meanwhile', async () => {
    await setUp();
    const activities = createActivities({ logger, registry: new Registry() });
    const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
    const heartbeats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => heartbeats.push(d));
    const clients = hammer(haproxy.url);
    const started = Date.now();
    let doneAt = 0;
    const switching = env
      .run(activities.setCanaryWeight, { rolloutId: 'rollout-checkout', spec: specFor(haproxy.runtimeApi), weight: 100 })
      .finally(() => (doneAt = Date.now()));
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(doneAt, 0, 'setCanaryWeight must wait while the canary is DOWN');
    assert.deepEqual(await weights(), { canary: 0, stable: 100 });

    canary = await startHttpServerOn(canaryPort, 'canary');
    const upAt = Date.now();
    assert.deepEqual(withoutAppliedAt(await switching), { weight: 100 });
    assert.ok(doneAt - started >= 1000, `returned after ${doneAt - started} ms`);
    // downinter 250ms: the first check after the start marks it UP; polling adds at most ~150 ms.
    assert.ok(doneAt - upAt < 8000, `took ${doneAt - upAt} ms after the canary came up`);
    assert.deepEqual(await weights(), { canary: 100, stable: 0 });
    assert.ok(heartbeats.length >= 3, `heartbeats: ${heartbeats.length}`);
    assert.match(JSON.stringify(heartbeats[0]), /"waitingFor":"app\/canary".*"state":"DOWN"/);

    await new Promise((r) => setTimeout(r, 300));
    const result = await clients.stop();
    assert.deepEqual(result.failures.slice(0, 5), [], `${result.failures.length} failed requests`);
    assert.ok(result.ok > 50, `only ${result.ok} requests`);
    assert.ok((result.bodies.canary ?? 0) > 0, 'the canary served after the switch');
    assert.ok(canary.hits() > 0);
  });

  it('fails retryably with the weights unchanged when the server never comes up', async () => {
    await setUp();
    const router = new HaproxyRouter({
      runtimeApi: haproxy.runtimeApi,
      backend: 'app',
      stableServer: 'stable',
      canaryServer: 'canary',
      serverUpTimeoutMs: 1200,
      serverUpPollMs: 100,
    });
    const clients = hammer(haproxy.url);
    const started = Date.now();
    const err = await router.setCanaryWeight(100).then(
      () => assert.fail('expected TrafficServerDownError'),
      (e: unknown) => e,
    );
    const elapsed = Date.now() - started;
    const result = await clients.stop();
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'TrafficServerDownError', err.message);
    assert.match(err.message, /app\/canary DOWN after \d+ ms/);
    assert.ok(elapsed >= 1100 && elapsed < 10_000, `gave up after ${elapsed} ms`);
    const failure = toApplicationFailure(err);
    assert.ok(failure instanceof ApplicationFailure);
    assert.equal(failure.type, 'TrafficServerDownError');
    assert.equal(failure.nonRetryable, false);
    assert.deepEqual(await weights(), { canary: 0, stable: 100 });
    assert.deepEqual(result.failures.slice(0, 5), [], `${result.failures.length} failed requests`);
    assert.ok((result.bodies.stable ?? 0) > 20 && !result.bodies.canary);
  });

  it('stops waiting when the activity is cancelled, weights unchanged', async () => {
    await setUp();
    const activities = createActivities({ logger, registry: new Registry() });
    const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
    const switching = env.run(activities.setCanaryWeight, {
      rolloutId: 'rollout-checkout',
      spec: specFor(haproxy.runtimeApi),
      weight: 100,
    });
    await new Promise((r) => setTimeout(r, 500));
    const cancelledAt = Date.now();
    env.cancel();
    await assert.rejects(switching, (err: unknown) => err instanceof CancelledFailure);
    // Generous bounds: they tell "stopped on cancel" from "waited out the 20 s limit" on a busy CI box.
    assert.ok(Date.now() - cancelledAt < 8000);
    assert.deepEqual(await weights(), { canary: 0, stable: 100 });
  });

  it('treats a server without health checks as usable (HAProxy reports it UP, "no check")', async () => {
    await setUp('');
    assert.equal(describeServerState((await serversState(haproxy.runtimeApi)).get('canary')!), 'UP');
    const router = new HaproxyRouter({ runtimeApi: haproxy.runtimeApi, backend: 'app', stableServer: 'stable', canaryServer: 'canary' });
    const started = Date.now();
    assert.equal(await router.setCanaryWeight(100), 100);
    assert.ok(Date.now() - started < 8000);
    assert.deepEqual(await weights(), { canary: 100, stable: 0 });
  });

  it('does not wait for a drained server to no end: it is not usable either', async () => {
    await setUp();
    canary = await startHttpServerOn(canaryPort, 'canary');
    await waitForState(haproxy.runtimeApi, 'canary', true);
    const api = parseRuntimeApiAddress(haproxy.runtimeApi);
    assert.equal((await runRuntimeApiCommand(api, 'set server app/canary state drain')).trim(), '');
    const router = new HaproxyRouter({
      runtimeApi: haproxy.runtimeApi,
      backend: 'app',
      stableServer: 'stable',
      canaryServer: 'canary',
      serverUpTimeoutMs: 600,
    });
    await assert.rejects(router.setCanaryWeight(100), (e: Error) => e.name === 'TrafficServerDownError' && /DRAIN/.test(e.message));
    assert.deepEqual(await weights(), { canary: 0, stable: 100 });
    assert.equal((await runRuntimeApiCommand(api, 'set server app/canary state ready')).trim(), '');
    assert.equal(await router.setCanaryWeight(100), 100);
  });

  it('rolls back onto a DOWN stable: fails within serverUpTimeoutMs with weights unchanged; force moves anyway', async (t) => {
    await setUp(); // stable UP at 100, canary DOWN at 0
    canary = await startHttpServerOn(canaryPort, 'canary');
    await waitForState(haproxy.runtimeApi, 'canary', true);
    const lines: string[] = [];
    const recording = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const activities = createActivities({ logger: recording, registry: new Registry() });
    const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
    const move = (weight: number, extra: { serverUpTimeoutMs?: number; force?: boolean } = {}) =>
      env.run(activities.setCanaryWeight, { rolloutId: 'rollout-checkout', spec: specFor(haproxy.runtimeApi), weight, ...extra });
    assert.deepEqual(withoutAppliedAt(await move(100)), { weight: 100 });
    await stable.stop();
    await waitForState(haproxy.runtimeApi, 'stable', false);

    // Without the override the router would wait its default 20 s.
    const started = Date.now();
    const failure = await expectFailure(move(0, { serverUpTimeoutMs: 1000 }), 'TrafficServerDownError', false);
    const elapsed = Date.now() - started;
    t.diagnostic(`setCanaryWeight(0, serverUpTimeoutMs 1000) onto a DOWN stable failed after ${elapsed} ms`);
    assert.match(failure.message, /app\/stable DOWN after \d+ ms/);
    assert.ok(elapsed >= 850 && elapsed < 3000, `gave up after ${elapsed} ms`);
    assert.deepEqual(await weights(), { canary: 100, stable: 0 });
    assert.equal(lines.filter((l) => l.includes('forced')).length, 0);

    const forcedAt = Date.now();
    assert.deepEqual(withoutAppliedAt(await move(0, { force: true })), { weight: 0 });
    assert.ok(Date.now() - forcedAt < 2000, `forced move took ${Date.now() - forcedAt} ms`);
    assert.deepEqual(await weights(), { canary: 0, stable: 100 });
    const warnings = lines.map((l) => JSON.parse(l) as { level: number; msg: string; state?: string; reason?: string });
    const routerWarning = warnings.find((w) => w.msg === 'forced: moving all traffic to a server HAProxy does not report UP');
    assert.ok(routerWarning, lines.join(''));
    assert.equal(routerWarning.level, 40);
    assert.equal(routerWarning.state, 'DOWN');
    assert.match(routerWarning.reason ?? '', /abort --force/);
  });

  it('moves traffic without waiting when the other server is down too (nothing healthy to protect)', async () => {
    await setUp();
    await stable.stop();
    await waitForState(haproxy.runtimeApi, 'stable', false);
    const router = new HaproxyRouter({
      runtimeApi: haproxy.runtimeApi,
      backend: 'app',
      stableServer: 'stable',
      canaryServer: 'canary',
      serverUpTimeoutMs: 5000,
    });
    const started = Date.now();
    assert.equal(await router.setCanaryWeight(100), 100);
    assert.ok(Date.now() - started < 4000, `waited ${Date.now() - started} ms`);
  });
});

/** `show servers state app` answers captured from HAProxy 2.6. */
const REAL_STATE = [
  '1',
  STATE_HEADER,
  '3 app 1 stable 127.0.0.1 0 0 100 100 2 8 2 0 6 0 0 0 - 1 - 0 0 - - 0',
  '3 app 2 canary 127.0.0.1 2 0 0 0 2 1 0 2 0 0 0 0 - 2 - 0 0 - - 0',
  '3 app 3 third 127.0.0.1 0 5 0 0 2 1 0 0 14 0 0 0 - 3 - 0 0 - - 0',
  '3 app 4 drained 127.0.0.1 2 8 0 0 0 1 0 0 0 0 0 0 - 2 - 0 0 - - 0',
  '',
  '',
].join('\n');

describe('show servers state parsing', () => {
  const parse = (answer: string) => parseServersStateAnswer('show servers state app', 'app', answer);

  it('reads op and admin states by column name and classifies them like HAProxy', () => {
    const states = parse(REAL_STATE);
    const describe = (name: string) => describeServerState(states.get(name)!);
    const usable = (name: string) => isServerUsable(states.get(name)!);
    assert.deepEqual([...states.keys()], ['stable', 'canary', 'third', 'drained']);
    assert.deepEqual(states.get('stable'), { server: 'stable', opState: 0, adminState: 0, weight: 100 });
    assert.equal(states.get('canary')?.weight, 0);
    assert.equal(describe('stable'), 'DOWN');
    assert.equal(usable('stable'), false);
    assert.equal(describe('canary'), 'UP'); // "no check": always UP
    assert.equal(usable('canary'), true);
    assert.equal(describe('third'), 'DOWN, MAINT (admin_state 5)');
    assert.equal(usable('third'), false);
    assert.equal(describe('drained'), 'UP, DRAIN (admin_state 8)');
    assert.equal(usable('drained'), false);
    assert.equal(isServerUsable({ server: 's', opState: 1, adminState: 0 }), true, 'slow-start still takes traffic');
    assert.equal(isServerUsable({ server: 's', opState: 3, adminState: 0 }), false);
  });

  it('finds columns by name when a later HAProxy adds some', () => {
    const answer = ['1', `${STATE_HEADER} srv_extra`, `${stateRow(2, 'canary', 2)} x`, ''].join('\n');
    assert.equal(parse(answer).get('canary')?.opState, 2);
  });

  it('rejects anything else, naming the problem', () => {
    assert.throws(() => parse("Can't find backend.\n\n"), { name: 'TrafficTargetNotFoundError' });
    assert.throws(() => parse('Permission denied\n\n'), (e: Error & { nonRetryable?: boolean }) => e.nonRetryable === true);
    assert.throws(() => parse(''), { name: 'TrafficProtocolError' });
    assert.throws(() => parse(REAL_STATE.replace(/^1\n/, '2\n')), /format version 1/);
    assert.throws(() => parse(REAL_STATE.replace('# be_id', 'be_id')), /missing column header/);
    assert.throws(() => parse(REAL_STATE.replace(' srv_op_state', ' srv_opstate')), /no srv_op_state column/);
    assert.throws(() => parse(REAL_STATE.replace(' 0 0 100 100 2 8', ' 0 100 100 2 8')), /a row has 24 fields, the header 25/);
    assert.throws(() => parse(REAL_STATE.replace('stable 127.0.0.1 0 0', 'stable 127.0.0.1 x 0')), /bad state of server stable/);
    assert.throws(() => parse(REAL_STATE.replace('stable 127.0.0.1 0 0', 'stable 127.0.0.1 7 0')), /bad state of server stable/);
    assert.throws(() => parse(REAL_STATE.replace('3 app 1', '3 web 1')), /row of backend web/);
  });

  it('rejects non-positive wait settings naming the field', () => {
    assert.throws(
      () => new HaproxyRouter({ runtimeApi: '127.0.0.1:1', backend: 'a', stableServer: 's', canaryServer: 'c', serverUpTimeoutMs: 0 }),
      /traffic\.serverUpTimeoutMs/,
    );
    assert.throws(
      () => new HaproxyRouter({ runtimeApi: '127.0.0.1:1', backend: 'a', stableServer: 's', canaryServer: 'c', serverUpPollMs: NaN }),
      /traffic\.serverUpPollMs/,
    );
  });
});
