/**
 * The chaos scenario: N concurrent rollouts on real HAProxy, Prometheus, Temporal and two real
 * workers, while worker SIGKILLs (some aimed at a weight change in flight), Temporal server
 * restarts, HAProxy reloads and a Prometheus outage are injected on a seeded schedule. Afterwards
 * every rollout is checked (scripts/chaos/checks.ts) and one report is returned. Shared by
 * `npm run chaos` and test/e2e/chaos.test.ts; everything listens on 127.0.0.1 only and the whole
 * run is bounded by a hard deadline.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { buildWorkflowBundle } from '../../worker/workflow-bundle';
import { loadClientConfig } from '../../client/config';
import { RolloutClient } from '../../client/rollouts';
import type { RolloutResult } from '../../workflows/contract';
import { buildPlan } from '../../workflows/plan';
import { ensureStackBinaries } from '../stack/binaries';
import { DEMO_ADMIN_TOKEN_ENV } from '../stack/demo-spec';
import { freePorts } from '../temporal-server';
import { checkRollout, plannedTimeline, reloadStats, type ReloadEvent } from './checks';
import { ChaosDeadlineError, retry, sleep, type Tracked } from './common';
import { injectFaults } from './faults';
import { startChaosHaproxy, type ChaosHaproxy } from './haproxy';
import { historyStats } from './history';
import { monitorRollouts } from './monitor';
import type { ChaosSize } from './presets';
import { chaosPrometheus, type ChaosPrometheus } from './prometheus';
import { renderReport, type ChaosReport, type FaultRecord, type RolloutRow } from './report';
import { createRng } from './rng';
import {
  CANARY_VERSION,
  chaosSpec,
  runningCanaryPid,
  servedVersion,
  STABLE_VERSION,
  startLoad,
  startStable,
  stopAllInstances,
  listening,
  waitHealthy,
  type ChaosService,
} from './services';
import { startChaosTemporal, type ChaosTemporal, type ChaosTemporalKind } from './temporal';
import { createWorkerPool, type WorkerPool } from './workers';
import { waitForScrapes } from '../stack/prometheus-scraped';

/** Options of one run. */
export interface ChaosOptions {
  seed: number;
  temporal: ChaosTemporalKind;
  size: ChaosSize;
  /** Progress lines (set-up steps, each fault as it is injected). */
  log: (line: string) => void;
  /** Keep the run's temp dir (logs, configs) after it ends. */
  keepDir?: boolean;
}

/** A run's report and where its files were. */
export interface ChaosOutcome {
  report: ChaosReport;
  /** renderReport(report). */
  table: string;
  dir: string;
}

const WORKERS = 2;

/** Runs the scenario; never leaves a process behind, whatever fails. */
export async function runChaos(opts: ChaosOptions): Promise<ChaosOutcome> {
  const { size, log } = opts;
  const rng = createRng(opts.seed);
  const wallStart = Date.now();
  const deadline = wallStart + size.deadlineS * 1000;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'phoenix-chaos-'));
  const stateDir = path.join(dir, 'platform');
  await fs.mkdir(stateDir, { recursive: true });
  const cleanups: (() => Promise<unknown>)[] = [];
  let clean = false;
  const anomalies: string[] = [];
  const faults: FaultRecord[] = [];
  // Each HAProxy reload and the canaries it reset (filled by the reload lane).
  const reloadEvents: ReloadEvent[] = [];
  log(`chaos: seed ${opts.seed}, ${size.rollouts} rollouts (${size.faulty} faulty), Temporal ${opts.temporal}, dir ${dir}`);

  try {
    const binaries = ensureStackBinaries(process.env, log);
    const ports = await freePorts(size.rollouts * 3 + 2);
    const take = () => ports.shift() as number;
    const faultyIdx = new Set(rng.shuffle([...Array(size.rollouts).keys()]).slice(0, size.faulty));
    const services: ChaosService[] = Array.from({ length: size.rollouts }, (_, i) => {
      const name = `chaos-${String(i + 1).padStart(2, '0')}`;
      const faultAt = faultyIdx.has(i) ? rng.pick([size.plan.phases[0].percentage, size.plan.phases[1].percentage]) : undefined;
      return {
        name,
        backend: name,
        frontendPort: take(),
        stablePort: take(),
        canaryPort: take(),
        ...(faultAt !== undefined ? { faultAtWeight: faultAt } : {}),
      };
    });
    const runtimeApiPort = take();
    const prometheusPort = take();

    log('chaos: starting Temporal');
    const temporal: ChaosTemporal = await startChaosTemporal(opts.temporal);
    cleanups.push(() => temporal.stop());

    await fs.mkdir(path.join(dir, 'prometheus'), { recursive: true });
    const prometheus: ChaosPrometheus = await chaosPrometheus({
      binary: binaries.prometheus,
      dir: path.join(dir, 'prometheus'),
      port: prometheusPort,
      targets: services.flatMap((s) => [`127.0.0.1:${s.stablePort}`, `127.0.0.1:${s.canaryPort}`]),
    });
    await prometheus.start();
    cleanups.push(() => prometheus.stop());

    const bundlePath = path.join(dir, 'workflow-bundle.js');
    log('chaos: bundling the workflow code once (both workers load it, so a restart takes seconds)');
    const { code } = await buildWorkflowBundle();
    await fs.writeFile(bundlePath, code);

    const workerEnv: NodeJS.ProcessEnv = {
      ...process.env,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: temporal.namespace,
      PHOENIX_METRICS_ADDR: 'off',
      PHOENIX_SDK_METRICS_ADDR: 'off',
      PHOENIX_ALLOW_INLINE_TARGETS: 'true',
      PHOENIX_WORKFLOW_BUNDLE: bundlePath,
      // Debug: the SDK's "Activity started" lines are what a kill during a weight change waits for.
      LOG_LEVEL: 'debug',
      [DEMO_ADMIN_TOKEN_ENV]: randomBytes(16).toString('hex'),
    };

    log('chaos: starting the stable instances');
    cleanups.push(() => stopAllInstances(stateDir));
    await Promise.all(services.map((s) => startStable(s, stateDir, workerEnv)));
    await waitHealthy(services.map((s) => s.stablePort), 60_000);

    const haproxy: ChaosHaproxy = await startChaosHaproxy({ binary: binaries.haproxy, dir, runtimeApiPort, backends: services });
    cleanups.push(() => haproxy.stop());
    const load = startLoad(services, size.loadRate);
    cleanups.push(() => Promise.all(load.map((l) => l.stop(1_000))));

    const pool: WorkerPool = createWorkerPool({ count: WORKERS, env: workerEnv, logDir: dir });
    cleanups.push(() => pool.stopAll());
    log('chaos: starting two workers');
    await Promise.all(pool.slots.map((s) => s.start()));

    const clientConfig = loadClientConfig({ TEMPORAL_ADDRESS: temporal.address, TEMPORAL_NAMESPACE: temporal.namespace });
    const rollouts = await RolloutClient.connect(clientConfig);
    cleanups.push(() => rollouts.close());
    const connection = await Connection.connect({ address: temporal.address });
    cleanups.push(() => connection.close());
    const raw = new Client({ connection, namespace: temporal.namespace });

    // Rollouts start spread out, so their weight changes do not line up.
    const promUrl = prometheus.url;
    await waitForScrapes(promUrl, '{job="demo"}');
    const tracked: Tracked[] = services.map((s) => {
      const spec = chaosSpec(s, { runtimeApi: haproxy.runtimeApi, prometheusUrl: promUrl, stateDir }, size.plan);
      return { service: s, spec, rolloutId: '', analyses: [] };
    });
    const offsets = tracked.map(() => rng.between(0, size.startSpreadS)).sort((a, b) => a - b);
    offsets[0] = 0;
    const t0 = Date.now();
    const sinceT0 = () => (Date.now() - t0) / 1000;
    const checkDeadline = () => {
      if (Date.now() > deadline) throw new ChaosDeadlineError(`hard deadline of ${size.deadlineS} s passed`);
    };

    const starting = tracked.map(async (t, i) => {
      await sleep((offsets[i] as number) * 1000);
      const started = await retry(() => rollouts.start(t.spec), deadline);
      t.rolloutId = started.rolloutId;
      log(`chaos: ${sinceT0().toFixed(1)} s  started ${t.rolloutId}${t.service.faultAtWeight !== undefined ? ` (faulty at ${t.service.faultAtWeight}%)` : ''}`);
    });

    const allDone = () => tracked.every((t) => t.result !== undefined);
    const monitor = monitorRollouts({ tracked, rollouts, raw, workerEnv, log, sinceT0, allDone, deadline });
    const injector = injectFaults({ size, rng, pool, temporal, haproxy, prometheus, faults, anomalies, reloadEvents, log, sinceT0, allDone, deadline });

    await Promise.all(starting);
    await Promise.all([monitor, injector]);
    checkDeadline();
    if (faults.length < size.kills + size.temporalRestarts + size.haproxyReloads + size.prometheusOutages) {
      anomalies.push(`only ${faults.length} faults were injected before every rollout ended: the run proves less than planned`);
    }

    // Checks, after the last fault: the platform has had its say, nothing more will change.
    const finalWeights = await retry(() => haproxy.weights(), deadline);
    const rows: RolloutRow[] = [];
    for (const t of tracked) {
      const result = t.result as RolloutResult;
      const history = await retry(() => historyStats(raw, t.rolloutId), deadline);
      // An aimed kill lost the weight change's result unless the killed worker reported it first.
      for (const f of faults) {
        if (f.kind === 'worker_kill' && f.duringWeightChange && f.workflowId === t.rolloutId && f.pid !== undefined) {
          f.resultLost = !history.completedByPids.has(f.pid);
        }
      }
      // A canary being stopped right now is not "left running": give its exit a moment.
      let canaryPidLeft = await runningCanaryPid(t.service.name, stateDir);
      for (let i = 0; i < 20 && canaryPidLeft !== undefined; i++) {
        await sleep(250);
        canaryPidLeft = await runningCanaryPid(t.service.name, stateDir);
      }
      const found = checkRollout({
        service: t.service.name,
        expected: t.service.faultAtWeight === undefined ? 'promoted' : 'rolled_back',
        ...(t.faultInjectedAtWeight !== undefined ? { faultInjectedAtWeight: t.faultInjectedAtWeight } : {}),
        result,
        plan: buildPlan(t.spec).map((s) => s.weight),
        historyWeights: history.weights,
        canaryPidLeft,
        canaryPortListening: await listening(t.service.canaryPort),
        finalWeights: finalWeights.get(t.service.backend),
        stableServes: await servedVersion(t.service.stablePort, workerEnv),
        stableVersion: STABLE_VERSION,
        canaryVersion: CANARY_VERSION,
      });
      anomalies.push(...found);
      rows.push({
        service: t.service.name,
        expected: t.service.faultAtWeight === undefined ? 'promoted' : 'rolled_back',
        outcome: result.outcome,
        timeline: result.timeline.map((c) => c.weight).join('→'),
        driftReapplied: result.timeline.length - plannedTimeline(result.timeline).length,
        weightRetries: history.weightRetries,
        anomalies: found.length,
        ...faultToZero(t, result),
      });
    }

    const reloads = reloadStats(
      reloadEvents,
      new Map(tracked.map((t) => [t.service.name, { timeline: t.result?.timeline ?? [], analyses: t.analyses }])),
    );
    anomalies.push(...reloads.anomalies);
    const report: ChaosReport = {
      seed: opts.seed,
      temporal: opts.temporal === 'postgres' ? 'temporal server on PostgreSQL' : 'temporal server start-dev (SQLite file)',
      workers: WORKERS,
      faults: faults.sort((a, b) => a.atS - b.atS),
      rollouts: rows,
      reloads,
      anomalies,
      wallS: (Date.now() - wallStart) / 1000,
    };
    clean = anomalies.length === 0;
    return { report, table: renderReport(report), dir };
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((err: unknown) => log(`chaos: cleanup: ${(err as Error).message}`));
    // A run that found something keeps its logs (worker logs, configs) for the report.
    if (!opts.keepDir && clean) await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
/** From the fault injection to the first rollback entry of the timeline. */
function faultToZero(t: Tracked, result: RolloutResult): { faultToZeroS?: number } {
  const back = result.timeline.find((c) => c.weight === 0 && /rollback/.test(c.reason));
  if (t.faultInjectedAt === undefined || !back) return {};
  return { faultToZeroS: (Date.parse(back.at) - t.faultInjectedAt) / 1000 };
}

export { ChaosDeadlineError, renderReport };
