/**
 * Pools of servers behind a real HAProxy: the split computation alone (every share 0-100 for pool
 * sizes up to 6 × 6 lands within 0.5 pp using weights 0-256), then the pool router through the
 * runtime API: 3 stable + 2 canary servers, the weights read back, the requests HAProxy really
 * sends each pool, a DOWN canary server left out and the split recomputed on the survivor, drift
 * found by `checkSplit`, and a pool with no usable server never given traffic.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createActivities } from '../../activities';
import type { SetWeightResult } from '../../activities/types';
import { HaproxyPoolRouter, poolMembers, splitPools } from '../../activities/traffic';
import { runRuntimeApiCommand, parseRuntimeApiAddress } from '../../activities/traffic/haproxy-runtime-api';
import { formatIssues, parseRolloutSpec } from '../../rollout-spec';
import { startHaproxy, type HaproxyHandle } from '../helpers/haproxy';
import { startHttpServer, type TestHttpServer } from '../helpers/http-servers';
import { rolloutSpec } from '../helpers/rollout-spec';

const logger = pino({ level: 'silent' });

describe('splitPools', () => {
  it('gives every whole share within 0.5 pp, with weights 0-256, for pools of 1-6 servers each', () => {
    let worst = 0;
    for (let canary = 1; canary <= 6; canary++) {
      for (let stable = 1; stable <= 6; stable++) {
        for (let percent = 0; percent <= 100; percent++) {
          const split = splitPools(percent, canary, stable);
          const weights = [...split.canary, ...split.stable];
          assert.ok(weights.every((w) => Number.isInteger(w) && w >= 0 && w <= 256), `${percent}% ${canary}+${stable}: ${weights.join(",")}`);
          const c = split.canary.reduce((a, b) => a + b, 0);
          const s = split.stable.reduce((a, b) => a + b, 0);
          const share = (100 * c) / (c + s);
          assert.ok(Math.abs(share - split.share) < 1e-9, 'the reported share is what the weights give');
          worst = Math.max(worst, Math.abs(share - percent));
        }
      }
    }
    assert.ok(worst <= 0.5, `worst error ${worst} pp`);
  });

  it('keeps one stable and one canary server at weight and 100 - weight, and spreads pools evenly', () => {
    assert.deepEqual(splitPools(20, 1, 1), { canary: [20], stable: [80], share: 20 });
    assert.deepEqual(splitPools(5, 2, 3), { canary: [3, 3], stable: [38, 38, 38], share: 5 });
    assert.deepEqual(splitPools(0, 2, 3).canary, [0, 0]);
    assert.deepEqual(splitPools(100, 2, 3).stable, [0, 0, 0]);
  });

  it('refuses to give traffic to a side without a server', () => {
    assert.throws(() => splitPools(5, 0, 3), /needs a usable canary server/);
    assert.throws(() => splitPools(50, 2, 0), /needs a usable stable server/);
    assert.deepEqual(splitPools(0, 0, 3).stable, [100, 100, 100]);
  });
});

describe('pool members', () => {
  const servers = ['stable-1', 'stable-2', 'stable-3', 'canary-1', 'canary-2'];
  it('selects by prefix in backend order, or by the names listed', () => {
    assert.deepEqual(poolMembers({ prefix: 'canary-' }, servers, 'app'), ['canary-1', 'canary-2']);
    assert.deepEqual(poolMembers({ names: ['stable-3', 'stable-1'] }, servers, 'app'), ['stable-3', 'stable-1']);
  });
  it('names what is missing', () => {
    assert.throws(() => poolMembers({ names: ['stable-9'] }, servers, 'app'), /app\/stable-9: no such server/);
    assert.throws(() => poolMembers({ prefix: 'blue-' }, servers, 'app'), /no server whose name starts with "blue-"/);
  });
  it('the spec takes a list or a prefix, rejects a server in both pools and both forms at once', () => {
    const problems = (traffic: Record<string, unknown>) => {
      const result = parseRolloutSpec({
        service: 'checkout',
        stable: 'v1',
        canary: 'v2',
        traffic: { kind: 'haproxy', runtimeApi: '127.0.0.1:9999', backend: 'app', ...traffic },
        platform: { kind: 'command', deploy: ['true'], healthCheck: ['true'], promote: ['true'], terminate: ['true'] },
      });
      return result.success ? '' : formatIssues(result.issues);
    };
    assert.equal(problems({ stableServers: { prefix: 'stable-' }, canaryServers: ['canary-1', 'canary-2'] }), '');
    assert.match(problems({ stableServers: ['a', 'b'], canaryServers: ['b'] }), /traffic\.canaryServers: must differ from the stable servers \(both name b\)/);
    assert.match(problems({ stableServer: 'a', stableServers: ['a'], canaryServer: 'c' }), /traffic\.stableServers: give either stableServer or stableServers/);
    assert.match(problems({ stableServers: { prefix: 'web' }, canaryServers: { prefix: 'web-canary' } }), /pools select the same server names/);
    assert.match(problems({ stableServers: [], canaryServer: 'c' }), /traffic\.stableServers.*at least one server/);
  });
});

describe('HaproxyPoolRouter with a real HAProxy: 3 stable + 2 canary servers', () => {
  const names = ['stable-1', 'stable-2', 'stable-3', 'canary-1', 'canary-2'];
  const servers = new Map<string, TestHttpServer>();
  let haproxy: HaproxyHandle;
  let router: HaproxyPoolRouter;

  before(async () => {
    for (const name of names) servers.set(name, await startHttpServer(name));
    haproxy = await startHaproxy({
      servers: names.map((name) => ({
        name,
        address: `127.0.0.1:${servers.get(name)!.port}`,
        weight: name.startsWith('stable') ? 100 : 0,
        options: 'check inter 200ms fall 1 rise 1',
      })),
    });
    router = new HaproxyPoolRouter(
      { runtimeApi: haproxy.runtimeApi, backend: 'app', stable: { prefix: 'stable-' }, canary: { names: ['canary-1', 'canary-2'] }, serverUpTimeoutMs: 3_000 },
      logger,
    );
    await waitFor('every server UP', async () => (await serverStates()).every((s) => s.op === 2));
  });

  after(async () => {
    await haproxy?.stop();
    for (const s of servers.values()) await s.stop();
  });

  async function serverStates(): Promise<{ name: string; op: number; weight: number }[]> {
    const answer = await runRuntimeApiCommand(parseRuntimeApiAddress(haproxy.runtimeApi), 'show servers state app');
    return answer
      .split('\n')
      .slice(2)
      .filter((l) => l.trim())
      .map((l) => l.trim().split(/\s+/))
      .map((f) => ({ name: f[3]!, op: Number(f[5]), weight: Number(f[7]) }));
  }

  /** Sends `count` requests through HAProxy, 10 at a time, and counts the answers per pool. */
  async function measure(count: number): Promise<{ canary: number; stable: number }> {
    const tally = { canary: 0, stable: 0 };
    let sent = 0;
    const lane = async (): Promise<void> => {
      while (sent < count) {
        sent++;
        const res = await fetch(haproxy.url);
        assert.equal(res.status, 200);
        tally[(await res.text()).startsWith('canary') ? 'canary' : 'stable']++;
      }
    };
    await Promise.all(Array.from({ length: 10 }, lane));
    return tally;
  }

  it('gives the canary pool its share at every step: weights read back, requests split as planned', async () => {
    const measuredSteps: number[] = [];
    for (const weight of [5, 20, 40, 60, 80, 100, 0]) {
      const applied = await router.applySplit(weight);
      assert.equal(applied.weight, weight);
      assert.ok(Math.abs(applied.share - weight) <= 0.5, `${weight}%: share ${applied.share}`);
      const states = await serverStates();
      for (const s of states) assert.equal(s.weight, applied.servers[s.name], `${s.name} read back`);
      assert.equal((await router.checkSplit(weight)).drifted, false);
      // HAProxy's weighted round robin re-inserts a server whose weight changed at a position of
      // its own, so the first round after a change is uneven: it is sent, not counted. A round is
      // the sum of the weights; two counted rounds follow.
      const round = Object.values(applied.servers).reduce((a, b) => a + b, 0);
      if (round > 250) continue; // the e2e test measures every step; here the cheap ones suffice
      measuredSteps.push(weight);
      await measure(round);
      const rounds = 2 * round;
      const tally = await measure(rounds);
      const measured = (100 * tally.canary) / rounds;
      assert.ok(Math.abs(measured - weight) <= 1, `${weight}%: ${JSON.stringify(tally)} over ${rounds} requests = ${measured}%`);
    }
    assert.ok(measuredSteps.length >= 3, `requests counted at ${measuredSteps.join(", ")}`);
  });

  it('leaves a DOWN canary server out and gives the pool share to the survivor; drift is found and reapplied', async () => {
    await router.applySplit(20);
    await servers.get('canary-2')!.stop();
    await waitFor('canary-2 DOWN', async () => (await serverStates()).find((s) => s.name === 'canary-2')!.op === 0);
    const check = await router.checkSplit(20);
    assert.equal(check.drifted, true, check.detail);
    assert.match(check.detail, /canary-2=\d+→0/);
    const applied = await router.applySplit(20);
    assert.deepEqual(Object.keys(applied.leftOut), ['canary-2']);
    assert.equal(applied.servers['canary-2'], 0);
    assert.ok(applied.servers['canary-1']! > 0);
    assert.ok(Math.abs(applied.share - 20) <= 0.5);
    const round = Object.values(applied.servers).reduce((a, b) => a + b, 0);
    await measure(round);
    const rounds = 2 * round;
    const tally = await measure(rounds);
    assert.ok(Math.abs((100 * tally.canary) / rounds - 20) <= 1, `the survivor takes the whole canary share: ${JSON.stringify(tally)}`);
    assert.equal((await router.checkSplit(20)).drifted, false);
  });

  it('never gives traffic to a pool with no usable server: fails retryably with the weights unchanged', async () => {
    await router.applySplit(20);
    const before = await serverStates();
    await servers.get('canary-1')!.stop();
    await waitFor('canary-1 DOWN', async () => (await serverStates()).find((s) => s.name === 'canary-1')!.op === 0);
    await assert.rejects(router.applySplit(40), (err: Error) => err.name === 'TrafficServerDownError' && /no usable canary server/.test(err.message));
    assert.deepEqual((await serverStates()).map((s) => s.weight), before.map((s) => s.weight));
    assert.equal((await router.checkSplit(40)).drifted, false, 'nothing better to apply is not drift');
    // Back to stable works: stable is usable.
    const drained = await router.applySplit(0);
    assert.equal(drained.share, 0);
    const tally = await measure(30);
    assert.equal(tally.canary, 0);
  });

  it('the setCanaryWeight activity reports the share and the per-server weights', async () => {
    const activities = createActivities({ logger, registry: new Registry() });
    const spec = rolloutSpec({
      traffic: { kind: 'haproxy', runtimeApi: haproxy.runtimeApi, backend: 'app', stableServers: { prefix: 'stable-' }, canaryServers: { prefix: 'canary-' } },
    });
    const env = new MockActivityEnvironment();
    const result: SetWeightResult = await env.run(activities.setCanaryWeight, { rolloutId: 'r-pools', spec, weight: 0 });
    assert.equal(result.weight, 0);
    assert.equal(result.share, 0);
    assert.deepEqual(Object.keys(result.leftOut ?? {}).sort(), ['canary-1', 'canary-2']);
    assert.equal(result.servers?.['stable-1'], 100);
  });
});

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
