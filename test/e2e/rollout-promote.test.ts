/**
 * Scenario 1 on the real local stack: a healthy canary is promoted. In every phase (5, 20, 40,
 * 60, 80, 100%) the share of requests that reached the canary — counted by the demo instances
 * themselves over a window inside the phase — is within ±2 pp of the phase's weight. After the
 * promotion HAProxy sends everything to the stable slot, which now answers as v2, and the canary
 * process is gone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pidAlive, portClosed, startStack, type Stack } from '../helpers/stack';
import type { RolloutResult, RolloutStatus } from '../../workflows/contract';

/** Load generator rate; with the window below each measurement counts well over 2000 requests. */
const LOAD_RATE = 200;
const PHASE_S = 17;
/** Kept clear of each phase's edges: the weight change lands, in-flight requests drain. */
const EDGE_MS = 2_000;
const MIN_REQUESTS = 2_000;
const WEIGHTS = [5, 20, 40, 60, 80, 100];

interface Measurement {
  weight: number;
  phase: string;
  windowMs: number;
  canary: number;
  stable: number;
  share: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('rollout to promotion on the real stack', { timeout: 420_000 }, () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack({ loadRate: LOAD_RATE });
  });

  after(async () => {
    await stack?.teardown();
  });

  test('each phase splits real traffic at its weight (±2 pp); promotion moves v2 onto the stable slot', { timeout: 360_000 }, async () => {
    const spec = stack.spec({
      trafficControl: {
        phases: [
          { name: 'initial_canary', percentage: 5, duration: `${PHASE_S}s`, errorThreshold: '0.1%', latencyThreshold: '100ms' },
          { name: 'expanded_canary', percentage: 20, duration: `${PHASE_S}s`, errorThreshold: '0.5%', latencyThreshold: '200ms' },
          { name: 'full_rollout', incrementSize: 20, intervalSeconds: PHASE_S, maxErrorRate: '1%' },
        ],
      },
    });
    await stack.client.start(spec);

    const measured = new Map<number, Measurement>();
    let canaryPid: number | undefined;
    let status: RolloutStatus = await stack.status();
    const deadline = Date.now() + 300_000;
    while (!['promoted', 'rolled_back', 'aborted', 'failed'].includes(status.state) && Date.now() < deadline) {
      canaryPid ??= await stack.pid('canary');
      const w = status.weight;
      const changedAt = Date.parse(status.timeline[status.timeline.length - 1]?.at ?? '');
      // The query's clock is the workflow's (last activation), so the phase end is taken from the
      // time the weight was applied plus the phase duration, not from phaseRemainingMs.
      const from = Math.max(Date.now(), changedAt + EDGE_MS);
      const to = changedAt + status.phaseDurationMs - EDGE_MS;
      const inPhase = status.state === 'progressing' && !status.paused && WEIGHTS.includes(w) && !measured.has(w);
      if (inPhase && Number.isFinite(changedAt) && to - from >= 8_000) {
        await sleep(from - Date.now());
        const [c0, s0] = await Promise.all([stack.stats('canary'), stack.stats('stable')]);
        const t0 = Date.now();
        await sleep(Math.max(0, to - Date.now()));
        const [c1, s1] = await Promise.all([stack.stats('canary'), stack.stats('stable')]);
        const t1 = Date.now();
        const later = await stack.status();
        // Only a window that lay wholly inside the phase counts.
        if (later.weight === w && later.step === status.step) {
          const canary = c1.total - c0.total;
          const stable = s1.total - s0.total;
          measured.set(w, { weight: w, phase: status.phase, windowMs: t1 - t0, canary, stable, share: canary / (canary + stable) });
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
        ? `${String(w).padStart(6)}% | ${(m.share * 100).toFixed(2).padStart(8)}% | ${String(m.canary).padStart(6)} | ${String(m.stable).padStart(6)} | ${(m.windowMs / 1000).toFixed(1)}s  ${m.phase}`
        : `${String(w).padStart(6)}% | (not measured)`;
    });
    console.log(['', ' weight | observed  | canary | stable | window', ...table, ''].join('\n'));

    assert.equal(result.outcome, 'promoted', `rollout ended ${result.outcome}: ${result.reason}\n${await stack.logTail('worker')}`);
    assert.deepEqual(result.timeline.map((t) => t.weight), [0, ...WEIGHTS, 0]);
    for (const w of WEIGHTS) {
      const m = measured.get(w);
      assert.ok(m, `phase at ${w}% was never measured`);
      assert.ok(m.canary + m.stable >= MIN_REQUESTS, `only ${m.canary + m.stable} requests in the ${w}% window (need ${MIN_REQUESTS})`);
      assert.ok(Math.abs(m.share * 100 - w) <= 2, `canary share ${(m.share * 100).toFixed(2)}% at weight ${w}%`);
    }

    // After promotion: all traffic on the stable slot, which now runs v2; the canary is gone.
    assert.deepEqual(await stack.haproxyWeights(), { stable: 100, canary: 0 });
    const stable = await stack.stats('stable');
    assert.equal(stable.version, 'v2');
    const versions: Record<string, number> = {};
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${stack.endpoints.haproxyFrontend}/`);
      const body = (await res.json()) as { version?: string };
      versions[`${res.status} ${body.version}`] = (versions[`${res.status} ${body.version}`] ?? 0) + 1;
    }
    assert.deepEqual(versions, { '200 v2': 50 });
    assert.ok(canaryPid, 'the canary process was never seen running');
    assert.equal(pidAlive(canaryPid), false, `canary pid ${canaryPid} still alive after promotion`);
    assert.equal(await stack.pid('canary'), undefined);
    assert.ok(await portClosed(stack.config.ports.canary), 'canary port still accepts connections');
  });
});
