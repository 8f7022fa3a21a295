/**
 * One scale run: a fresh dev server and one worker, N rollouts started as fast as the client can,
 * watched until all ended or the deadline, then measured (processes, SDK metrics, recorded
 * analyses, a sample of histories) and torn down. Everything it starts it stops, also on failure.
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { RolloutClient, describeCause } from '../../../client/rollouts';
import { WORKFLOW_TYPE, stateSearchAttribute, type RolloutResult } from '../../../workflows/contract';
import { freePort } from '../../temporal-server';
import { startDevServer, type TestDevServer } from '../../../test/helpers/temporal';
import { doublesWorld } from './doubles-world';
import { evenSample, readRolloutHistory, type RolloutHistory } from './histories';
import { allAnalysingWindow, analysesPerSecond, analysisLateness, quantile, type TimedEvent } from './lateness';
import { ProcSampler, type ProcSummary } from './proc-stats';
import { histogramOf, histogramQuantile, parsePromText, sumOf, type PromSample } from './prom-text';
import { realWorld } from './real-world';
import { idealAnalysesPerSecond, scalePlan, scaleService, scaleSpec } from './spec';
import type { ScaleWorld } from './world';
import type { WorkerProcess } from './worker-process';

/** Options of one run. */
export interface ScaleRunOptions {
  n: number;
  intervalMs: number;
  planMs: number;
  activities: 'doubles' | 'real';
  /** The dev server's SQLite: in memory (its default) or a file in the run's temp dir (fsync per commit). */
  serverDb: 'memory' | 'file';
  /** Hard limit from the first start to giving up on the rollouts still running. */
  deadlineMs: number;
  /** Histories read at the end (spread over the rollouts). */
  histories: number;
  /** Starts in flight at once. */
  startConcurrency: number;
  /** Spread the starts evenly over this long (0: all at once, as fast as the client can). */
  rampMs: number;
  bundlePath: string;
  /** Aborted: stop starting and waiting, measure what there is, tear down. */
  signal: AbortSignal;
  progress: (line: string) => void;
}

/** A quantile pair in ms; null when nothing was observed. */
export interface P50P99 {
  p50: number | null;
  p99: number | null;
  max?: number | null;
  count: number;
}

/** Everything one run reports. */
export interface ScaleRunReport {
  n: number;
  activities: 'doubles' | 'real';
  intervalMs: number;
  planMs: number;
  deadlineMs: number;
  startAllMs: number | null;
  /** The starts were spread over this long (0: all at once). */
  rampMs: number;
  startFailures: number;
  elapsedMs: number;
  deadlineReached: boolean;
  /** Final states: outcomes of finished rollouts, `running:<state>` for those still running at the deadline. */
  outcomes: Record<string, number>;
  stillRunningAtDeadline: number;
  worker: ProcSummary | null;
  server: ProcSummary | null;
  wftScheduleToStartMs: P50P99 & { inTopBucket: boolean };
  wftExecutionMs: P50P99;
  wftExecutionFailed: number | null;
  analysisLatenessMs: P50P99 & { source: 'activity doubles' | 'sampled histories' };
  /** Lateness of the analyses run while every rollout was analysing (none when that window was under three intervals). */
  analysisLatenessAllRunningMs: { p50: number | null; p99: number | null; max: number | null; count: number; windowMs: number };
  analysisGapExcessMs: P50P99;
  /**
   * achieved: analyses/s over the window all rollouts were analysing; expected: N / interval;
   * expectedByPlan: what the plan's steps allow with no lateness; atCadence: N / mean gap between
   * consecutive analyses of one step.
   */
  analysesPerSecond: {
    achieved: number | null;
    expected: number;
    expectedByPlan: number;
    atCadence: number | null;
    windowMs: number;
    steady: boolean;
  };
  history: {
    sampled: number;
    eventsPerRollout: { mean: number; min: number; max: number } | null;
    /** All events of the sample over its analyses (deploy, warm-up and promotion included). */
    eventsPerAnalysis: number | null;
    /** Median events from one analysis to the next within a step: the marginal cost of a round. */
    eventsPerAnalysisRound: number | null;
    runsPerRollout: number | null;
    workflowTaskTimeouts: number;
    /** Timeouts in the sample scaled to all N rollouts. */
    workflowTaskTimeoutsEstimate: number | null;
  };
  /** The first thing that went wrong, and when (ms since the first start). */
  firstError: { atMs: number; what: string } | null;
}

const round = (v: number | null | undefined, digits = 0): number | null =>
  v === null || v === undefined ? null : Math.round(v * 10 ** digits) / 10 ** digits;

async function scrape(address: string): Promise<PromSample[] | null> {
  try {
    const res = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(10_000) });
    return res.ok ? parsePromText(await res.text()) : null;
  } catch {
    return null;
  }
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i] as T, i);
    }
  });
  await Promise.all(lanes);
}

/** One run of N rollouts; always tears down what it started. */
export async function runScale(o: ScaleRunOptions): Promise<ScaleRunReport> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `phoenix-scale-${o.n}-`));
  let server: TestDevServer | undefined;
  let world: ScaleWorld | undefined;
  let worker: WorkerProcess | undefined;
  let connection: Connection | undefined;
  const samplers: ProcSampler[] = [];
  try {
    o.progress(`N=${o.n}: dev server, ${o.activities} world, worker ...`);
    // An empty dbFile leaves out --db-filename: the dev server's own in-memory SQLite.
    server = await startDevServer({ logLevel: 'error', dbFile: o.serverDb === 'memory' ? '' : path.join(dir, 'temporal.sqlite') });
    world = o.activities === 'doubles' ? doublesWorld(dir) : await realWorld(dir, o.n, o.progress);
    const sdkMetricsAddress = `127.0.0.1:${await freePort()}`;
    worker = await world.startWorker({ temporalAddress: server.address, sdkMetricsAddress, bundlePath: o.bundlePath });
    const workerSampler = new ProcSampler(worker.pid);
    const serverSampler = new ProcSampler(server.pid);
    samplers.push(workerSampler, serverSampler);
    connection = await Connection.connect({ address: server.address });
    const temporal = new Client({ connection });
    const rollouts = new RolloutClient({ client: temporal, address: server.address });

    const plan = scalePlan(o.planMs, o.intervalMs);
    const services = Array.from({ length: o.n }, (_, i) => scaleService(i + 1));
    const specs = services.map((s) => scaleSpec(s, plan, o.intervalMs, (world as ScaleWorld).targets));
    let firstError: { atMs: number; what: string } | null = null;
    const t0 = Date.now();
    const fail = (what: string, at = Date.now()): void => {
      if (!firstError || at - t0 < firstError.atMs) firstError = { atMs: at - t0, what };
    };

    o.progress(`N=${o.n}: starting ${o.n} rollouts (plan ${Math.round(plan.totalMs / 1000)} s, analysis every ${o.intervalMs} ms) ...`);
    let startFailures = 0;
    await pool(specs, o.startConcurrency, async (spec, i) => {
      const startAt = t0 + (o.rampMs * i) / o.n;
      if (startAt > Date.now()) await new Promise((r) => setTimeout(r, startAt - Date.now()));
      if (o.signal.aborted) return;
      try {
        await rollouts.start(spec);
      } catch (err) {
        startFailures++;
        fail(`start ${spec.service}: ${describeCause(err)}`);
      }
    });
    const startAllMs = Date.now() - t0;
    o.progress(`N=${o.n}: ${o.n - startFailures} started in ${startAllMs} ms`);

    const query = `WorkflowType="${WORKFLOW_TYPE}" AND ExecutionStatus="Running"`;
    let running = o.n - startFailures;
    let lastProgress = Date.now();
    const deadline = t0 + o.deadlineMs;
    while (running > 0 && Date.now() < deadline && !worker.exited() && !o.signal.aborted) {
      await new Promise((r) => setTimeout(r, 2_000));
      try {
        running = (await temporal.workflow.count(query)).count;
      } catch (err) {
        fail(`visibility count: ${describeCause(err)}`);
      }
      if (Date.now() - lastProgress >= 30_000) {
        lastProgress = Date.now();
        o.progress(
          `N=${o.n}: ${Math.round((Date.now() - t0) / 1000)} s, ${running} running, worker ${Math.round(workerSampler.currentRssMiB() ?? 0)} MiB`,
        );
      }
    }
    const deadlineReached = running > 0 && !o.signal.aborted;
    const elapsedMs = Date.now() - t0;
    if (o.signal.aborted) fail(`interrupted with ${running} running`);
    if (worker.exited()) fail(`worker exited (${worker.exited()}): ${worker.stderrTail().slice(-500)}`);
    const wErr = worker.firstError();
    if (wErr) fail(`worker stderr: ${wErr.line}`, wErr.at);
    if (deadlineReached) fail(`deadline: ${running} of ${o.n} still running after ${Math.round(o.deadlineMs / 1000)} s`, deadline);

    // Before anything else adds load: the processes and the worker's own view of its tasks.
    workerSampler.stop();
    serverSampler.stop();
    const sdk = await scrape(sdkMetricsAddress);
    const s2s = sdk ? histogramQuantile(histogramOf(sdk, 'temporal_workflow_task_schedule_to_start_latency'), 0.99) : null;
    const s2sHist = sdk ? histogramOf(sdk, 'temporal_workflow_task_schedule_to_start_latency') : null;
    const execHist = sdk ? histogramOf(sdk, 'temporal_workflow_task_execution_latency') : null;

    // Outcomes; the ones still running are recorded with their state and terminated.
    const outcomes: Record<string, number> = {};
    const add = (k: string): void => void (outcomes[k] = (outcomes[k] ?? 0) + 1);
    const latest = new Map<string, { status: string; runId: string; state: string | undefined }>();
    for await (const wf of temporal.workflow.list({ query: `WorkflowType="${WORKFLOW_TYPE}"` })) {
      if (wf.status.name === 'CONTINUED_AS_NEW') continue;
      latest.set(wf.workflowId, { status: wf.status.name, runId: wf.runId, state: wf.typedSearchAttributes.get(stateSearchAttribute) });
    }
    let stillRunning = 0;
    await pool([...latest.entries()], 16, async ([id, info]) => {
      if (info.status === 'RUNNING') {
        stillRunning++;
        add(`running:${info.state ?? '?'}`);
        await temporal.workflow.getHandle(id).terminate('scale bench deadline').catch(() => undefined);
      } else if (info.status === 'COMPLETED') {
        try {
          add((await temporal.workflow.getHandle(id).result() as RolloutResult).outcome);
        } catch (err) {
          add('result unreadable');
          fail(`${id}: ${describeCause(err)}`);
        }
      } else {
        add(`workflow ${info.status.toLowerCase()}`);
        fail(`${id}: workflow ${info.status.toLowerCase()}`);
      }
    });

    // A sample of histories: events, timeouts, and (real I/O) the analysis times.
    const sampleIds = evenSample(services.filter((s) => latest.has(`rollout-${s}`)).map((s) => `rollout-${s}`), o.histories);
    const sampled: RolloutHistory[] = [];
    await pool(sampleIds, 8, async (id) => {
      try {
        const d = await temporal.workflow.getHandle(id).describe();
        sampled.push(await readRolloutHistory(temporal, id, d.raw.workflowExecutionInfo?.firstRunId || d.runId));
      } catch (err) {
        fail(`history of ${id}: ${describeCause(err)}`);
      }
    });
    const recorded = world.recordedEvents();
    const timed: TimedEvent[][] = recorded ? [...recorded.values()] : sampled.map((h) => h.timed);
    const late = analysisLateness(timed, o.intervalMs);
    // The same figures once every rollout had started and was analysing: the load N itself, not
    // the start-up burst of deploys, health checks and first weight changes.
    const window = allAnalysingWindow(timed, o.intervalMs);
    const steadyLate = window?.steady ? late.lateness.filter((_, i) => (late.latenessAt[i] as number) >= window.from && (late.latenessAt[i] as number) <= window.to) : [];
    const rate = analysesPerSecond(recorded ? services.map((s) => recorded.get(`rollout-${s}`) ?? []) : timed, o.intervalMs, o.n);
    const events = sampled.map((h) => h.events);
    const analysesInSample = sampled.reduce((a, h) => a + h.analyses, 0);
    const timeouts = sampled.reduce((a, h) => a + h.workflowTaskTimeouts, 0);
    const q = (h: typeof s2sHist, p: number): number | null => (h ? round(histogramQuantile(h, p)?.value ?? null, 1) : null);
    return {
      n: o.n,
      activities: o.activities,
      intervalMs: o.intervalMs,
      planMs: plan.totalMs,
      deadlineMs: o.deadlineMs,
      startAllMs,
      rampMs: o.rampMs,
      startFailures,
      elapsedMs,
      deadlineReached,
      outcomes,
      stillRunningAtDeadline: stillRunning,
      worker: workerSampler.summary(),
      server: serverSampler.summary(),
      wftScheduleToStartMs: { p50: q(s2sHist, 0.5), p99: q(s2sHist, 0.99), count: s2sHist?.count ?? 0, inTopBucket: s2s?.inTopBucket ?? false },
      wftExecutionMs: { p50: q(execHist, 0.5), p99: q(execHist, 0.99), count: execHist?.count ?? 0 },
      wftExecutionFailed: sdk ? sumOf(sdk, 'temporal_workflow_task_execution_failed') : null,
      analysisLatenessMs: {
        p50: quantile(late.lateness, 0.5),
        p99: quantile(late.lateness, 0.99),
        // reduce, not Math.max(...): 1,000 rollouts record far more analyses than a call takes arguments.
        max: late.lateness.length ? late.lateness.reduce((a, b) => (b > a ? b : a), -Infinity) : null,
        count: late.lateness.length,
        source: recorded ? 'activity doubles' : 'sampled histories',
      },
      analysisLatenessAllRunningMs: {
        p50: quantile(steadyLate, 0.5),
        p99: quantile(steadyLate, 0.99),
        max: steadyLate.length ? steadyLate.reduce((a, b) => (b > a ? b : a), -Infinity) : null,
        count: steadyLate.length,
        windowMs: window?.steady ? window.to - window.from : 0,
      },
      analysisGapExcessMs: { p50: quantile(late.gapExcess, 0.5), p99: quantile(late.gapExcess, 0.99), count: late.gapExcess.length },
      analysesPerSecond: {
        achieved: round(rate.perSecond, 1),
        expected: round(o.n / (o.intervalMs / 1000), 1) as number,
        expectedByPlan: round(o.n * idealAnalysesPerSecond(plan, o.intervalMs), 1) as number,
        atCadence: late.gapExcess.length
          ? round((o.n * 1000) / (o.intervalMs + late.gapExcess.reduce((a, b) => a + b, 0) / late.gapExcess.length), 1)
          : null,
        windowMs: rate.windowMs,
        steady: rate.steady,
      },
      history: {
        sampled: sampled.length,
        eventsPerRollout: events.length
          ? { mean: Math.round(events.reduce((a, b) => a + b, 0) / events.length), min: Math.min(...events), max: Math.max(...events) }
          : null,
        eventsPerAnalysis: analysesInSample ? round(events.reduce((a, b) => a + b, 0) / analysesInSample, 1) : null,
        eventsPerAnalysisRound: quantile(sampled.flatMap((h) => h.roundEvents), 0.5),
        runsPerRollout: sampled.length ? round(sampled.reduce((a, h) => a + h.runs, 0) / sampled.length, 2) : null,
        workflowTaskTimeouts: timeouts,
        workflowTaskTimeoutsEstimate: sampled.length ? Math.round((timeouts * o.n) / sampled.length) : null,
      },
      firstError,
    };
  } finally {
    for (const s of samplers) s.stop();
    await connection?.close().catch(() => undefined);
    await worker?.stop().catch(() => undefined);
    await world?.stop().catch(() => undefined);
    await server?.teardown().catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true });
  }
}
