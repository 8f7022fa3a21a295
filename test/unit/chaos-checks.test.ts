/**
 * The chaos run's verdicts (scripts/chaos/checks.ts) and its HAProxy config and parser: a skipped,
 * repeated or unrequested step, a wrong outcome, a canary left running or stale weights are each
 * reported; a clean promotion or rollback (drift re-applications included) is not. The config
 * passes `haproxy -c`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { checkRollout, reloadStats, type RolloutObservation } from '../../scripts/chaos/checks';
import { chaosHaproxyConfig, parseAllServerWeights } from '../../scripts/chaos/haproxy';
import { createRng } from '../../scripts/chaos/rng';
import type { WeightChange } from '../../workflows/contract';

const PLAN = [0, 10, 30, 65, 100];
const at = '2026-01-01T00:00:00.000Z';
const step = (weight: number, reason: string): WeightChange => ({ at, weight, phase: 'p', reason });
const forward = (weights: number[]) => weights.map((w) => step(w, `phase at ${w}`));

function promoted(overrides: Partial<RolloutObservation> = {}): RolloutObservation {
  const timeline = [...forward(PLAN), step(0, 'promoted: stable now runs v2')];
  return {
    service: 'chaos-01',
    expected: 'promoted',
    result: { outcome: 'promoted', reason: 'plan complete', finalWeight: 0, timeline, checks: [], continuedAsNew: 0 },
    plan: PLAN,
    historyWeights: [...PLAN, 100, 0],
    canaryPidLeft: undefined,
    canaryPortListening: false,
    finalWeights: { stable: 100, canary: 0 },
    stableServes: 'v2',
    stableVersion: 'v1',
    canaryVersion: 'v2',
    ...overrides,
  };
}

function rolledBack(timeline: WeightChange[], historyWeights: number[], faultAt = 30): RolloutObservation {
  return promoted({
    expected: 'rolled_back',
    faultInjectedAtWeight: faultAt,
    result: { outcome: 'rolled_back', reason: 'error_rate', finalWeight: 0, timeline, checks: [], continuedAsNew: 0 },
    historyWeights,
    stableServes: 'v1',
  });
}

describe('chaos checks', () => {
  test('a clean promotion, with a drift re-application, has no anomaly', () => {
    const timeline = [...forward([0, 10, 30]), step(30, 'drift re-applied (router had canary 0)'), ...forward([65, 100]), step(0, 'promoted: x')];
    const o = promoted({ historyWeights: [0, 10, 30, 30, 65, 100, 100, 0] });
    o.result = { ...o.result, timeline };
    assert.deepEqual(checkRollout(o), []);
  });

  test('a clean immediate rollback has no anomaly', () => {
    assert.deepEqual(checkRollout(rolledBack([...forward([0, 10, 30]), step(0, 'immediate rollback: error_rate')], [0, 10, 30, 0])), []);
  });

  test('a skipped step is reported', () => {
    const o = promoted({ historyWeights: [0, 10, 65, 100, 0] });
    o.result = { ...o.result, timeline: [...forward([0, 10, 65, 100]), step(0, 'promoted: x')] };
    assert.match(checkRollout(o).join('\n'), /timeline 0→10→65→100→0, planned 0→10→30→65→100→0/);
  });

  test('a repeated step before a rollback is reported', () => {
    const found = checkRollout(rolledBack([...forward([0, 10, 10, 30]), step(0, 'immediate rollback: x')], [0, 10, 10, 30, 0]));
    assert.match(found.join('\n'), /not the start of the plan/);
  });

  test('a weight the history asked for but the timeline lacks is reported', () => {
    assert.match(checkRollout(promoted({ historyWeights: [0, 10, 30, 50, 65, 100, 0] })).join('\n'), /history requested/);
  });

  test('a rollback that went up again, or that ended before the fault, is reported', () => {
    const up = checkRollout(rolledBack([...forward([0, 10, 30]), step(10, 'gradual rollback: x'), step(30, 'gradual rollback: x'), step(0, 'gradual rollback: x')], [0, 10, 30, 10, 30, 0]));
    assert.match(up.join('\n'), /went up again/);
    const early = checkRollout(rolledBack([...forward([0, 10]), step(0, 'immediate rollback: x')], [0, 10, 0]));
    assert.match(early.join('\n'), /before reaching 30%/);
  });

  test('wrong outcome, canary left, stale weights and the wrong stable version are reported', () => {
    const o = promoted({ expected: 'rolled_back', canaryPidLeft: 4242, finalWeights: { stable: 70, canary: 30 }, stableServes: 'v1' });
    const found = checkRollout(o).join('\n');
    assert.match(found, /outcome promoted, expected rolled_back/);
    assert.match(found, /canary process 4242 still running/);
    assert.match(found, /stable 70 \/ canary 30/);
    assert.match(found, /serves v1, expected v2/);
  });

  test('an untracked process on the canary port is reported', () => {
    assert.match(checkRollout(promoted({ canaryPortListening: true })).join('\n'), /does not track still listens on the canary port/);
  });
});

describe('chaos HAProxy reload accounting', () => {
  test('the first timeline entry after a reload says whether an analysis re-applied the weight', () => {
    const t = (s: number, weight: number, reason: string): WeightChange => ({ at: new Date(s * 1000).toISOString(), weight, phase: 'p', reason });
    const rollouts = new Map([
      ['a', { timeline: [t(1, 10, 'phase x'), t(14, 10, 'drift re-applied (router had canary 0)'), t(30, 30, 'phase y')], analyses: [9_000, 13_500] }],
      ['b', { timeline: [t(1, 10, 'phase x'), t(20, 30, 'phase y')], analyses: [] }],
    ]);
    const stats = reloadStats([{ atMs: 10_000, carrying: [['a', 10], ['b', 10]] }], rollouts);
    assert.deepEqual({ ...stats, details: stats.details.length }, { lost: 2, reapplied: 1, superseded: 1, slowestS: 4, details: 2, anomalies: [] });
  });

  test('three analyses after a reload that leave the weight at 0 are an anomaly', () => {
    const t = (s: number, weight: number, reason: string): WeightChange => ({ at: new Date(s * 1000).toISOString(), weight, phase: 'p', reason });
    const rollouts = new Map([['a', { timeline: [t(1, 10, 'phase x'), t(40, 10, 'drift re-applied (x)')], analyses: [14_000, 15_000, 16_000] }]]);
    const stats = reloadStats([{ atMs: 10_000, carrying: [['a', 10]] }], rollouts);
    assert.match(stats.anomalies.join('\n'), /a: 3 analyses ran after an HAProxy reload/);
  });
});

describe('chaos HAProxy config and weights', () => {
  const backends = [
    { backend: 'chaos-01', frontendPort: 20001, stablePort: 20002, canaryPort: 20003 },
    { backend: 'chaos-02', frontendPort: 20004, stablePort: 20005, canaryPort: 20006 },
  ];

  test('the config is valid for haproxy -c', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'phoenix-chaos-cfg-'));
    try {
      const file = path.join(dir, 'haproxy.cfg');
      await writeFile(file, chaosHaproxyConfig(29999, backends));
      const haproxy = process.env.HAPROXY_BIN ?? '/usr/sbin/haproxy';
      await promisify(execFile)(haproxy, ['-c', '-f', file]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('show servers state is read per backend and server', () => {
    const answer = [
      '1',
      '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight',
      '3 chaos-01 1 stable 127.0.0.1 2 0 90 100 0',
      '3 chaos-01 2 canary 127.0.0.1 2 0 10 0 0',
      '4 chaos-02 1 stable 127.0.0.1 2 0 100 100 0',
      '4 chaos-02 2 canary 127.0.0.1 0 0 0 0 0',
    ].join('\n');
    const w = parseAllServerWeights(answer);
    assert.deepEqual(w.get('chaos-01'), { stable: 90, canary: 10 });
    assert.deepEqual(w.get('chaos-02'), { stable: 100, canary: 0 });
  });

  test('the seeded generator replays its sequence', () => {
    const a = createRng(42);
    const b = createRng(42);
    assert.deepEqual([a.next(), a.int(1, 6), a.shuffle([1, 2, 3, 4])], [b.next(), b.int(1, 6), b.shuffle([1, 2, 3, 4])]);
    assert.notEqual(createRng(1).next(), createRng(2).next());
  });
});
