/**
 * The short chaos run (issue 10 §4) inside npm test: 3 concurrent rollouts (1 faulty canary) on
 * real HAProxy, Prometheus and Temporal with two real workers, while 4 worker SIGKILLs (one aimed
 * at a weight change in flight), 1 Temporal server restart, 1 HAProxy reload and 1 Prometheus
 * outage hit them. The same scenario code as `npm run chaos` (scripts/chaos/); every rollout must
 * end as expected with each planned weight applied in order, no canary left running and HAProxy's
 * final weights matching the outcome. Temporal is the PostgreSQL-backed server (two workers on one
 * task queue). PHOENIX_CHAOS_SEED replays a schedule.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { SHORT_RUN } from '../../scripts/chaos/presets';
import { randomSeed } from '../../scripts/chaos/rng';
import { runChaos } from '../../scripts/chaos/scenario';
import type { ChaosTemporalKind } from '../../scripts/chaos/temporal';

// The PostgreSQL-backed server, as issue 10 §4 asks; PHOENIX_CHAOS_TEMPORAL=dev runs it on the dev server.
const TEMPORAL: ChaosTemporalKind = process.env.PHOENIX_CHAOS_TEMPORAL === 'dev' ? 'dev' : 'postgres';

describe('chaos with nothing lost (short run)', { timeout: SHORT_RUN.deadlineS * 1000 + 60_000 }, () => {
  test('every rollout survives kills, a server restart, an HAProxy reload and a Prometheus outage', async (t: TestContext) => {
    const seed = process.env.PHOENIX_CHAOS_SEED ? Number(process.env.PHOENIX_CHAOS_SEED) : randomSeed();
    const lines: string[] = [];
    const { report, table } = await runChaos({ seed, temporal: TEMPORAL, size: SHORT_RUN, log: (l) => lines.push(l) });
    t.diagnostic(`seed ${seed} (replay: PHOENIX_CHAOS_SEED=${seed})\n${table}`);
    const count = (kind: string) => report.faults.filter((f) => f.kind === kind).length;
    assert.deepEqual(report.anomalies, [], `${table}\n--- progress ---\n${lines.join('\n')}`);
    assert.equal(count('worker_kill'), SHORT_RUN.kills);
    assert.equal(count('temporal_restart'), SHORT_RUN.temporalRestarts);
    assert.equal(count('haproxy_reload'), SHORT_RUN.haproxyReloads);
    assert.equal(count('prometheus_outage'), SHORT_RUN.prometheusOutages);
    assert.equal(report.rollouts.length, SHORT_RUN.rollouts);
    assert.equal(report.rollouts.filter((r) => r.outcome === 'rolled_back').length, SHORT_RUN.faulty);
  });
});
