/**
 * Pools on the real local stack: 3 stable + 2 canary demo instances behind HAProxy, the process
 * platform running `replicas`, the HAProxy router computing per-server weights. At every step
 * (5, 20, 40, 60, 80, 100%) the canary pool's share of requests — counted by the five instances
 * themselves over a window inside the step — is within ±2 pp of the plan. In the 40% step one
 * canary instance is killed: the next analysis finds the split off plan, gives the survivor the
 * whole canary share, the rollout goes on, and no request through HAProxy fails meanwhile. The
 * promotion replaces all three stable instances with v2.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { readInstanceState, stateFileFor } from '../../activities/platform';
import { demoAdminFetch } from '../../scripts/stack-rollouts';
import type { DemoInstanceEndpoints } from '../../scripts/stack/endpoints';
import type { RolloutResult, RolloutStatus } from '../../workflows/contract';
import { pidAlive, startStack, type Stack } from '../helpers/stack';

const LOAD_RATE = 200;
const STEP_S = 16;
const EDGE_MS = 2_000;
const WEIGHTS = [5, 20, 40, 60, 80, 100];
/** The step in which a canary instance is killed. */
const KILL_AT = 40;

interface Measurement {
  weight: number;
  windowMs: number;
  canary: number;
  stable: number;
  share: number;
  /** Requests per instance in the window (stable-1..3, canary-1..2). */
  perInstance: number[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function served(instance: DemoInstanceEndpoints): Promise<number> {
  // A killed instance answers nothing: it counts as nothing from then on.
  const res = await demoAdminFetch(instance, '/stats', { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
  if (!res?.ok) return Number.NaN;
  return ((await res.json()) as { total: number }).total;
}

describe('pools: 3 stable + 2 canary instances behind HAProxy', { timeout: 420_000 }, () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack({ loadRate: LOAD_RATE, replicas: { stable: 3, canary: 2 } });
  });

  after(async () => {
    await stack?.teardown();
  });

  async function loadFailures(): Promise<{ ok: number; failed: number; at: number }> {
    const stats = JSON.parse(await fs.readFile(stack.endpoints.loadStats, 'utf8')) as { counts: Record<string, number>; updatedAt: string };
    const ok = stats.counts['200'] ?? 0;
    const total = Object.values(stats.counts).reduce((a, b) => a + b, 0);
    return { ok, failed: total - ok, at: Date.parse(stats.updatedAt) };
  }

  async function serverWeights(): Promise<Record<string, number>> {
    const answer = await stack.haproxy(`show servers state ${stack.endpoints.haproxyBackend.backend}`);
    const rows = answer.split('\n').slice(2).filter((l) => l.trim());
    return Object.fromEntries(rows.map((l) => l.trim().split(/\s+/)).map((f) => [f[3] as string, Number(f[7])]));
  }

  test('every step splits real traffic at its weight (±2 pp); a killed canary instance is rebalanced away with 0 failed requests', { timeout: 400_000 }, async () => {
    const pools = { stable: stack.endpoints.demo.stablePool, canary: stack.endpoints.demo.canaryPool };
    assert.equal(pools.stable.length, 3);
    assert.equal(pools.canary.length, 2);
    const spec = stack.spec({
      trafficControl: {
        phases: [
          { name: 'initial_canary', percentage: 5, duration: `${STEP_S}s`, errorThreshold: '1%', latencyThreshold: '200ms' },
          { name: 'expanded_canary', percentage: 20, duration: `${STEP_S}s`, errorThreshold: '1%', latencyThreshold: '200ms' },
          { name: 'full_rollout', incrementSize: 20, intervalSeconds: STEP_S, maxErrorRate: '1%' },
        ],
      },
    });
    assert.deepEqual(spec.platform.kind === 'process' && spec.platform.replicas, { stable: 3, canary: 2 });
    await stack.client.start(spec);

    const measured = new Map<number, Measurement>();
    let kill: { pid: number; failedDuring: number; okDuring: number; rebalancedMs: number; weights: Record<string, number> } | undefined;
    let status: RolloutStatus = await stack.status();
    const deadline = Date.now() + 330_000;
    while (!['promoted', 'rolled_back', 'aborted', 'failed'].includes(status.state) && Date.now() < deadline) {
      const w = status.weight;
      const changedAt = Date.parse(status.timeline[status.timeline.length - 1]?.at ?? '');
      const inStep = status.state === 'progressing' && !status.paused && WEIGHTS.includes(w) && !measured.has(w);
      if (inStep && w === KILL_AT && !kill) {
        // Kill canary instance 2 early in the step, then wait until the rollout has given its
        // share to canary instance 1 (HAProxy's weights read back), counting failed requests.
        const file = stateFileFor(spec.platform.kind === 'process' ? spec.platform.stateDir : '', stack.service, 'canary', 1);
        const victim = await readInstanceState(file);
        assert.ok(victim, `no canary instance 2 recorded in ${file}`);
        const before = await loadFailures();
        const killedAt = Date.now();
        process.kill(-victim.pid, 'SIGKILL');
        const weights = await stack.waitFor(
          'the split recomputed on the surviving canary instance',
          async () => {
            const now = await serverWeights();
            return now['canary-2'] === 0 && (now['canary-1'] ?? 0) > 0 ? now : undefined;
          },
          15_000,
          100,
        );
        const rebalancedMs = Date.now() - killedAt;
        // Stats written after the change (the generator rewrites them every second).
        const settledAt = Date.now();
        const afterStats = await stack.waitFor('load stats after the change', async () => {
          const s = await loadFailures();
          return s.at > settledAt + 500 ? s : undefined;
        });
        kill = {
          pid: victim.pid,
          failedDuring: afterStats.failed - before.failed,
          okDuring: afterStats.ok - before.ok,
          rebalancedMs,
          weights,
        };
      }
      const from = Math.max(Date.now(), changedAt + EDGE_MS);
      const to = changedAt + status.phaseDurationMs - EDGE_MS;
      if (inStep && Number.isFinite(changedAt) && to - from >= 6_000) {
        await sleep(from - Date.now());
        const all = [...pools.stable, ...pools.canary];
        const c0 = await Promise.all(all.map(served));
        const t0 = Date.now();
        await sleep(Math.max(0, to - Date.now()));
        const c1 = await Promise.all(all.map(served));
        const t1 = Date.now();
        const later = await stack.status();
        if (later.weight === w && later.step === status.step) {
          const perInstance = c1.map((n, i) => (Number.isNaN(n) || Number.isNaN(c0[i] as number) ? 0 : n - (c0[i] as number)));
          const stable = perInstance.slice(0, 3).reduce((a, b) => a + b, 0);
          const canary = perInstance.slice(3).reduce((a, b) => a + b, 0);
          measured.set(w, { weight: w, windowMs: t1 - t0, canary, stable, share: canary / (canary + stable), perInstance });
        }
        status = later;
        continue;
      }
      await sleep(200);
      status = await stack.status();
    }

    const result: RolloutResult = await stack.client.result(stack.service);
    const table = WEIGHTS.map((w) => {
      const m = measured.get(w);
      return m
        ? `${String(w).padStart(6)}% | ${(m.share * 100).toFixed(2).padStart(7)}% | ${m.perInstance.map((n) => String(n).padStart(5)).join(' ')} | ${(m.windowMs / 1000).toFixed(1)}s`
        : `${String(w).padStart(6)}% | (not measured)`;
    });
    console.log(['', '  plan  | measured | stable-1..3 canary-1..2 (requests) | window', ...table, ''].join('\n'));
    console.log(`kill at ${KILL_AT}%: ${JSON.stringify(kill)}`);

    assert.equal(result.outcome, 'promoted', `rollout ended ${result.outcome}: ${result.reason}\n${await stack.logTail('worker')}`);
    // The timeline keeps the share the pool router reported for each step, within 0.5 pp of the plan.
    for (const change of result.timeline) {
      assert.equal(typeof change.share, 'number', `no pool share recorded at ${change.weight}%`);
      assert.ok(Math.abs((change.share as number) - change.weight) <= 0.5, `share ${change.share} at ${change.weight}%`);
    }
    for (const w of WEIGHTS) {
      const m = measured.get(w);
      assert.ok(m, `step ${w}% was never measured`);
      assert.ok(m.canary + m.stable >= 1_000, `only ${m.canary + m.stable} requests in the ${w}% window`);
      assert.ok(Math.abs(m.share * 100 - w) <= 2, `canary pool share ${(m.share * 100).toFixed(2)}% at ${w}%`);
    }
    assert.ok(kill, 'the canary instance was never killed');
    assert.equal(kill.failedDuring, 0, `${kill.failedDuring} requests failed through HAProxy while the instance died and the split was recomputed`);
    assert.ok(kill.okDuring > 0);
    // After the kill only canary instance 1 serves the canary share.
    for (const w of WEIGHTS.filter((w) => w >= KILL_AT && w < 100)) {
      const m = measured.get(w) as Measurement;
      assert.equal(m.perInstance[4], 0, `the dead canary instance served nothing at ${w}%`);
      assert.ok((m.perInstance[3] ?? 0) > 0, `the surviving canary instance served at ${w}%`);
    }
    assert.equal(pidAlive(kill.pid), false);

    // Promoted: every stable instance serves v2, the canary pool is gone, and HAProxy spreads
    // the traffic over all three stable servers.
    for (const instance of pools.stable) {
      const res = await demoAdminFetch(instance, '/stats');
      assert.equal(((await res.json()) as { version: string }).version, 'v2');
    }
    const weights = await serverWeights();
    assert.deepEqual(
      [weights['stable-1'], weights['stable-2'], weights['stable-3'], weights['canary-1'], weights['canary-2']].map((x) => (x ?? 0) > 0),
      [true, true, true, false, false],
      JSON.stringify(weights),
    );
    assert.equal(await stack.pid('canary'), undefined);
  });
});
