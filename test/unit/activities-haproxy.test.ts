/**
 * setCanaryWeight against a real HAProxy: weights are applied and read back, traffic really
 * splits, and failures are classified (unknown backend → non-retryable, socket down → retryable).
 * A fake runtime API checks the command order that keeps both weights from being 0 at once.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createActivities } from '../../activities';
import { HaproxyRouter, parseGetWeightAnswer, runRuntimeApiCommand } from '../../activities/traffic';
import { parseRuntimeApiAddress } from '../../activities/traffic/haproxy-runtime-api';
import { freePort } from '../helpers/free-port';
import { startHaproxy, type HaproxyHandle } from '../helpers/haproxy';
import { startHttpServer, type TestHttpServer } from '../helpers/http-servers';
import { rolloutSpec } from '../helpers/rollout-spec';

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
  let stable: TestHttpServer;
  let canary: TestHttpServer;
  let haproxy: HaproxyHandle;
  const registry = new Registry();
  const activities = createActivities({ logger, registry });
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });

  before(async () => {
    stable = await startHttpServer('stable');
    canary = await startHttpServer('canary');
    haproxy = await startHaproxy({
      servers: [
        { name: 'stable', address: `127.0.0.1:${stable.port}`, weight: 100 },
        { name: 'canary', address: `127.0.0.1:${canary.port}`, weight: 0 },
      ],
    });
  });
  after(async () => {
    await haproxy?.stop();
    await stable?.stop();
    await canary?.stop();
  });

  it('sets both weights, reads them back and splits real traffic', async () => {
    const spec = specFor(haproxy.runtimeApi);
    const result = await env.run(activities.setCanaryWeight, { rolloutId: 'rollout-checkout', spec, weight: 30 });
    assert.deepEqual(result, { weight: 30 });
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

/** A fake runtime API that records commands and answers like HAProxy (optionally ignoring sets). */
async function fakeRuntimeApi(opts: { ignoreSets?: boolean } = {}) {
  const weights: Record<string, number> = { 'app/stable': 100, 'app/canary': 0 };
  const commands: string[] = [];
  const bothZeroSeen: string[] = [];
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
