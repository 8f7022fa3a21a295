/**
 * On a real `temporal server start-dev`: the analysis-check counter the workflow emits through the
 * SDK's replay-safe `metricMeter` reaches the worker's SDK Prometheus exporter under the name the
 * dashboard queries, once per judged check (replays of the same history do not add to it).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { describe, it } from 'node:test';
import { freePort } from '../helpers/free-port';
import { readRecordedCalls, useDoubleWorkerWorld } from '../helpers/double-worker';
import { seedSpec } from '../workflows/spec-fixture';
import { canaryRollout } from '../../workflows';

/**
 * The name Core's Prometheus exporter gives the workflow's `phoenix_analysis_checks` counter:
 * as created, without the `temporal_` prefix of Core's own metrics and without a `_total` suffix.
 */
const ANALYSIS_CHECKS_METRIC = 'phoenix_analysis_checks';

const world = useDoubleWorkerWorld();

/** Starts the double worker with its SDK exporter on a free port; a port taken meanwhile is retried. */
async function startWorker(env: Record<string, string>): Promise<{ child: ChildProcess; metricsUrl: string }> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const address = `127.0.0.1:${await freePort()}`;
    try {
      const child = await world.startWorker({ ...env, SDK_METRICS_ADDR: address });
      return { child, metricsUrl: `http://${address}/metrics` };
    } catch (err) {
      lastError = err;
      if (!/address already in use|bind/i.test(String(err))) throw err;
    }
  }
  throw lastError;
}

/** `{labels → value}` of every sample of `name` in a Prometheus text exposition. */
function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!m || m[1] !== name) continue;
    const pairs = [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)];
    const labels = Object.fromEntries(pairs.map((x) => [x[1] as string, x[2] as string]));
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

describe('workflow metrics on the SDK exporter', () => {
  it('counts every analysis check by metric, check and outcome, once per analysis', async () => {
    const callsFile = world.newCallsFile();
    const taskQueue = 'workflow-metrics-test';
    // Error rate between the warning (0.5%) and critical (1%) levels: a warning, not a rollback.
    const { metricsUrl } = await startWorker({
      CALLS_FILE: callsFile,
      TASK_QUEUE: taskQueue,
      FAKE_METRICS: JSON.stringify({ error_rate: 0.007 }),
    });
    const spec = seedSpec({
      service: 'metered',
      warmup: { duration: '1s' },
      analysisInterval: '1s',
      trafficControl: {
        phases: [
          { name: 'initial_canary', percentage: 5, duration: '2s' },
          { name: 'expanded_canary', percentage: 20, duration: '2s' },
          { name: 'full_rollout', incrementSize: 40, intervalSeconds: 1 },
        ],
      },
    });
    const handle = await world.client.workflow.start(canaryRollout, { taskQueue, workflowId: 'rollout-metered', args: [{ spec }] });
    const result = await handle.result();
    assert.equal(result.outcome, 'promoted', result.reason);

    const analyses = readRecordedCalls(callsFile).filter((c) => c.activity === 'analyseCanary').length;
    assert.ok(analyses >= 3, `expected an analysis per traffic phase, got ${analyses}`);

    // The exporter reads the counter when scraped; the last workflow task may still be reporting.
    let text = '';
    let checks: ReturnType<typeof samples> = [];
    const deadline = Date.now() + 10_000;
    for (;;) {
      text = await (await fetch(metricsUrl)).text();
      checks = samples(text, ANALYSIS_CHECKS_METRIC).filter((s) => s.labels.service === 'metered');
      const warning = checks.find((s) => s.labels.check === 'error_rate.warning');
      if ((warning && warning.value >= analyses) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const related = text.split('\n').filter((l) => /analysis|phoenix/.test(l));
    assert.ok(checks.length > 0, `no ${ANALYSIS_CHECKS_METRIC} series for service metered in:\n${related.join('\n')}`);
    assert.match(text, new RegExp(`^# TYPE ${ANALYSIS_CHECKS_METRIC} counter$`, 'm'));

    const one = (check: string) => {
      const found = checks.filter((s) => s.labels.check === check);
      assert.equal(found.length, 1, `${check}: ${JSON.stringify(found)}`);
      return found[0] as (typeof checks)[number];
    };
    const warning = one('error_rate.warning');
    assert.deepEqual(
      { metric: warning.labels.metric, outcome: warning.labels.outcome, value: warning.value },
      { metric: 'error_rate', outcome: 'warning', value: analyses },
      'one warning per analysis: replays did not count again',
    );
    const critical = one('error_rate.critical');
    assert.deepEqual({ outcome: critical.labels.outcome, value: critical.value }, { outcome: 'pass', value: analyses });
    const p95 = one('p95_latency.threshold');
    assert.deepEqual(
      { metric: p95.labels.metric, outcome: p95.labels.outcome, value: p95.value },
      { metric: 'p95_latency', outcome: 'pass', value: analyses },
    );
    // The SDK adds its own tags to workflow metrics, in camelCase (unlike its `task_queue` on Core metrics).
    assert.equal(warning.labels.taskQueue, taskQueue);
    assert.equal(warning.labels.workflowType, 'canaryRollout');
    assert.equal(warning.labels.namespace, 'default');
  });
});
