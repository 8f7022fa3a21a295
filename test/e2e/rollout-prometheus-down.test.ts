/**
 * Scenario 5: Prometheus stops while the canary carries traffic. On the real stack (real
 * Prometheus, HAProxy, Temporal dev server, worker): while Prometheus is down no check passes
 * (the status query shows `no_data` for every check), and the rollout follows its no-data policy:
 * `rollback` rolls back after `consecutiveLimit` inconclusive analyses with a reason naming the
 * missing data; `hold` keeps the weight where it is until Prometheus is back (restarted on the
 * same config and data dir), then carries on to promotion.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { CheckStatus, RolloutStatus } from '../../workflows/contract';
import { buildPlan } from '../../workflows/plan';
import { portClosed, startStack, type SpecOverrides, type Stack } from '../helpers/stack';

/** Grace after Prometheus is confirmed dead: an analysis recorded later queried a dead server. */
const GRACE_MS = 1_500;

function planOverrides(firstPhase: string, noData: { action: string; consecutiveLimit: number }): SpecOverrides {
  return {
    warmup: { duration: '2s' },
    analysisInterval: '1s',
    trafficControl: {
      phases: [
        // Gates a loaded 2-core CI box meets; the scenario is about missing data, not latency.
        { name: 'initial_canary', percentage: 5, duration: firstPhase, errorThreshold: '0.5%', latencyThreshold: '300ms' },
        { name: 'expanded_canary', percentage: 20, duration: '6s', errorThreshold: '0.5%', latencyThreshold: '300ms' },
        { name: 'full_rollout', incrementSize: 40, intervalSeconds: 4, maxErrorRate: '1%' },
      ],
    },
    noData,
  };
}

/** Polls the status and keeps every analysis (distinct lastAnalysisAt) it sees. */
class AnalysisRecorder {
  readonly analyses = new Map<string, CheckStatus[]>();
  last: RolloutStatus | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly stack: Stack) {}

  start(): void {
    const tick = async (): Promise<void> => {
      try {
        const s = await this.stack.status();
        this.last = s;
        if (s.lastAnalysisAt && s.checks.length > 0) this.analyses.set(s.lastAnalysisAt, s.checks);
      } catch {
        // A status read can fail transiently; the next tick tries again.
      }
      if (this.timer) this.timer = setTimeout(() => void tick(), 250);
    };
    this.timer = setTimeout(() => void tick(), 0);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Analyses recorded strictly after `fromMs` and (optionally) before `toMs`. */
  between(fromMs: number, toMs = Infinity): [string, CheckStatus[]][] {
    return [...this.analyses].filter(([at]) => Date.parse(at) > fromMs && Date.parse(at) < toMs);
  }
}

/** Waits until the canary is in its first phase at 5% and one analysis passed every check. */
async function waitForPassingAnalysis(stack: Stack): Promise<RolloutStatus> {
  return stack.waitForStatus(
    'an analysis at 5% in which every check passed',
    (s) => s.weight === 5 && s.checks.length > 0 && s.checks.every((c) => c.outcome === 'pass'),
    90_000,
  );
}

/** Stops Prometheus and returns when its port no longer answers. */
async function stopPrometheus(stack: Stack): Promise<number> {
  await stack.stopPart('prometheus');
  const port = stack.endpoints.ports.prometheus;
  await stack.waitFor('Prometheus port closed', async () => portClosed(port), 15_000, 100);
  return Date.now();
}

function assertNoCheckPasses(analyses: [string, CheckStatus[]][]): void {
  for (const [at, checks] of analyses) {
    const passing = checks.filter((c) => c.outcome !== 'no_data');
    assert.deepEqual(
      passing.map((c) => `${c.check}=${c.outcome}`),
      [],
      `analysis at ${at} ran while Prometheus was down, yet these checks were not no_data`,
    );
    for (const c of checks) assert.equal(c.value, null, `${c.check} at ${at} has a value without Prometheus`);
  }
}

describe('scenario 5: Prometheus down during analysis (real stack)', { timeout: 300_000 }, () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack({ loadRate: 150 });
  });

  after(async () => {
    await stack?.teardown();
  });

  test('noData rollback (default): no check passes, rollback after consecutiveLimit analyses', async (t: TestContext) => {
    // Above the no-data streak a loaded box can show before the canary's first scrapes at 5%,
    // which would end the rollout before Prometheus is even stopped.
    const limit = 8;
    const spec = stack.spec(planOverrides('2m', { action: 'rollback', consecutiveLimit: limit }));
    assert.equal(spec.noData.action, 'rollback');
    const started = await stack.client.start(spec);
    const recorder = new AnalysisRecorder(stack);
    try {
      await waitForPassingAnalysis(stack);
      recorder.start();
      const downAt = await stopPrometheus(stack);
      const result = await stack.client.result(started.rolloutId);
      recorder.stop();

      const whileDown = recorder.between(downAt + GRACE_MS);
      t.diagnostic(`analyses seen while Prometheus was down: ${whileDown.length}; outcome ${result.outcome} after ${Date.now() - downAt} ms: ${result.reason}`);
      assert.ok(whileDown.length >= 2, `expected to observe analyses while Prometheus was down, saw ${whileDown.length}`);
      assertNoCheckPasses(whileDown);
      const detail = whileDown[0]?.[1][0]?.detail ?? '';
      assert.ok(detail.length > 0, "a no_data check says why there was no value");
      t.diagnostic(`no_data detail: ${detail}`);

      assert.equal(result.outcome, 'rolled_back');
      assert.match(result.reason, new RegExp(`no data for ${limit} consecutive analyses`));
      assert.ok(result.checks.every((c) => c.outcome === 'no_data'), 'the final analysis had no data either');
      assert.equal(result.finalWeight, 0);
      assert.deepEqual(await stack.haproxyWeights(), { stable: 100, canary: 0 });
      assert.ok(!result.timeline.some((c) => c.weight > 5), `weight never advanced: ${JSON.stringify(result.timeline)}`);
    } finally {
      recorder.stop();
      await stack.startPart('prometheus');
    }
  });

  test('noData hold: weight stays while Prometheus is down, then the rollout continues to promotion', async (t: TestContext) => {
    const firstPhaseMs = 6_000;
    const spec = stack.spec(planOverrides('6s', { action: 'hold', consecutiveLimit: 3 }));
    assert.equal(spec.noData.action, 'hold');
    const started = await stack.client.start(spec);
    const recorder = new AnalysisRecorder(stack);
    try {
      const inPhase = await waitForPassingAnalysis(stack);
      recorder.start();
      const downAt = await stopPrometheus(stack);
      // Hold well past the end of the 6s phase: without the hold it would have moved to 20%.
      const heldUntil = downAt + firstPhaseMs + 6_000;
      await stack.waitFor('phase time used up while Prometheus is down', () => Date.now() >= heldUntil || undefined, 30_000, 200);
      const during = await stack.status();
      const weights = await stack.haproxyWeights();
      const whileDown = recorder.between(downAt + GRACE_MS);

      t.diagnostic(
        `held ${Date.now() - downAt} ms at ${during.weight}% (phase ${during.phase}, ${during.phaseRemainingMs} ms left); ` +
          `${whileDown.length} analyses without data`,
      );
      assert.equal(during.state, 'progressing');
      assert.equal(during.phase, inPhase.phase);
      assert.equal(during.weight, 5);
      assert.equal(during.phaseRemainingMs, 0, 'the phase time ran out, only the missing data holds it');
      assert.deepEqual(weights, { stable: 95, canary: 5 });
      assert.ok(whileDown.length >= 4, `expected analyses while Prometheus was down, saw ${whileDown.length}`);
      assertNoCheckPasses(whileDown);

      const backAt = Date.now();
      await stack.startPart('prometheus');
      const result = await stack.client.result(started.rolloutId);
      recorder.stop();
      t.diagnostic(`Prometheus back after ${backAt - downAt} ms down; outcome ${result.outcome} ${Date.now() - backAt} ms later`);

      assert.equal(result.outcome, 'promoted', `${result.outcome}: ${result.reason}`);
      const after20 = result.timeline.find((c) => c.weight === 20);
      assert.ok(after20, `the rollout reached 20%: ${JSON.stringify(result.timeline)}`);
      assert.ok(Date.parse(after20.at) > backAt, 'the weight advanced only after Prometheus was back');
      // Each step of the plan once, then 0 when the promoted canary's traffic moves to the new stable.
      assert.deepEqual(result.timeline.map((c) => c.weight), [...buildPlan(spec).map((s) => s.weight), 0]);
    } finally {
      recorder.stop();
      if (await portClosed(stack.endpoints.ports.prometheus)) await stack.startPart('prometheus');
    }
  });
});
