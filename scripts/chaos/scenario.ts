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
import { defaultPayloadConverter } from '@temporalio/common';
import { bundleWorkflowCode } from '@temporalio/worker';
import { loadClientConfig } from '../../client/config';
import { RolloutClient } from '../../client/rollouts';
import type { RolloutSpec } from '../../rollout-spec/types';
import type { RolloutResult, RolloutStatus } from '../../workflows/contract';
import { buildPlan } from '../../workflows/plan';
import { ensureStackBinaries } from '../stack/binaries';
import { DEMO_ADMIN_TOKEN_ENV } from '../stack/demo-spec';
import { freePorts } from '../temporal-server';
import { checkRollout, plannedTimeline, reloadStats, type ReloadEvent } from './checks';
import { startChaosHaproxy, type ChaosHaproxy } from './haproxy';
import type { ChaosSize } from './presets';
import { chaosPrometheus, type ChaosPrometheus } from './prometheus';
import { renderReport, type ChaosReport, type FaultRecord, type RolloutRow } from './report';
import { createRng, type Rng } from './rng';
import {
  CANARY_VERSION,
  chaosSpec,
  injectErrors,
  runningCanaryPid,
  servedVersion,
  STABLE_VERSION,
  startLoad,
  startStable,
  stopAllInstances,
  waitHealthy,
  type ChaosService,
} from './services';
import { startChaosTemporal, type ChaosTemporal, type ChaosTemporalKind } from './temporal';
import { createWorkerPool, type WorkerPool, type WorkerSlot } from './workers';

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
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One rollout as the run tracks it. */
interface Tracked {
  service: ChaosService;
  spec: RolloutSpec;
  rolloutId: string;
  last?: RolloutStatus;
  result?: RolloutResult;
  faultInjectedAtWeight?: number;
}

/** Thrown when the run's hard deadline passes. */
export class ChaosDeadlineError extends Error {
  override readonly name = 'ChaosDeadlineError';
}

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
    const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: quietLogger });
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
    cleanups.push(() => stopAllInstances(stateDir, services.map((s) => s.name)));
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
    const tracked: Tracked[] = services.map((s) => {
      const spec = chaosSpec(s, { runtimeApi: haproxy.runtimeApi, prometheusUrl: promUrl, stateDir }, size.plan);
      return { service: s, spec, rolloutId: '' };
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
    const injector = injectFaults({ size, rng, pool, temporal, haproxy, prometheus, faults, anomalies, reloadEvents, tracked, log, sinceT0, allDone, deadline });

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
      });
    }

    const report: ChaosReport = {
      seed: opts.seed,
      temporal: opts.temporal === 'postgres' ? 'temporal server on PostgreSQL' : 'temporal server start-dev (SQLite file)',
      workers: WORKERS,
      faults: faults.sort((a, b) => a.atS - b.atS),
      rollouts: rows,
      reloads: reloadStats(reloadEvents, new Map(tracked.map((t) => [t.service.name, t.result?.timeline ?? []]))),
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

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** Retries `fn` (a server may be restarting) until it works or the deadline passes. */
async function retry<T>(fn: () => Promise<T>, deadline: number): Promise<T> {
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(500);
    }
  }
}

/** Weights setCanaryWeight was asked for (in scheduling order) and its attempts beyond the first. */
async function historyStats(
  raw: Client,
  rolloutId: string,
): Promise<{ weights: number[]; weightRetries: number; completedByPids: Set<number> }> {
  const history = await raw.workflow.getHandle(rolloutId).fetchHistory();
  const weights: number[] = [];
  const weightActivities = new Set<string>();
  let weightRetries = 0;
  const completedByPids = new Set<number>();
  for (const e of history.events ?? []) {
    const completed = e.activityTaskCompletedEventAttributes;
    if (completed && weightActivities.has(String(completed.scheduledEventId))) {
      // The SDK's default identity is pid@host.
      const pid = Number(/^(\d+)@/.exec(completed.identity ?? '')?.[1]);
      if (Number.isInteger(pid)) completedByPids.add(pid);
    }
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled?.activityType?.name === 'setCanaryWeight') {
      weightActivities.add(String(e.eventId));
      const input = scheduled.input?.payloads?.[0];
      const decoded = input ? defaultPayloadConverter.fromPayload<{ weight?: number }>(input) : undefined;
      if (typeof decoded?.weight === 'number') weights.push(decoded.weight);
    }
    const started = e.activityTaskStartedEventAttributes;
    if (started && weightActivities.has(String(started.scheduledEventId)) && (started.attempt ?? 1) > 1) {
      weightRetries += (started.attempt ?? 1) - 1;
    }
  }
  return { weights, weightRetries, completedByPids };
}

/** Polls every rollout once a second; injects the faulty canaries' errors; collects results. */
async function monitorRollouts(ctx: {
  tracked: Tracked[];
  rollouts: RolloutClient;
  raw: Client;
  workerEnv: NodeJS.ProcessEnv;
  log: (line: string) => void;
  sinceT0: () => number;
  allDone: () => boolean;
  deadline: number;
}): Promise<void> {
  while (!ctx.allDone()) {
    if (Date.now() > ctx.deadline) {
      const open = ctx.tracked.filter((t) => !t.result).map((t) => `${t.service.name} (${t.last?.state ?? '?'} at ${t.last?.weight ?? '?'}%)`);
      throw new ChaosDeadlineError(`hard deadline passed with rollouts still open: ${open.join(', ')}`);
    }
    await Promise.all(
      ctx.tracked
        .filter((t) => t.rolloutId && !t.result)
        .map(async (t) => {
          const description = await ctx.raw.workflow.getHandle(t.rolloutId).describe().catch(() => undefined);
          if (description && description.status.name !== 'RUNNING') {
            t.result = await ctx.rollouts.result(t.rolloutId).catch(() => undefined);
            if (t.result) ctx.log(`chaos: ${ctx.sinceT0().toFixed(1)} s  ${t.rolloutId} ended ${t.result.outcome}: ${t.result.reason}`);
            return;
          }
          const status = await ctx.rollouts.status(t.rolloutId).catch(() => undefined);
          if (!status) return;
          t.last = status;
          const at = t.service.faultAtWeight;
          if (at !== undefined && t.faultInjectedAtWeight === undefined && status.state === 'progressing' && status.weight >= at) {
            await injectErrors(t.service.canaryPort, 0.5, ctx.workerEnv).then(
              () => {
                t.faultInjectedAtWeight = status.weight;
                ctx.log(`chaos: ${ctx.sinceT0().toFixed(1)} s  ${t.service.name}: canary answers 50% 5xx from now (at ${status.weight}%)`);
              },
              (err: unknown) => ctx.log(`chaos: fault injection on ${t.service.name} failed, retrying: ${(err as Error).message}`),
            );
          }
        }),
    );
    await sleep(1_000);
  }
}

/** Evenly spread random moments in [from, to): one in each of `n` equal slices. */
function spread(rng: Rng, n: number, [from, to]: [number, number]): number[] {
  const slice = (to - from) / Math.max(n, 1);
  return Array.from({ length: n }, (_, i) => from + slice * i + rng.between(0.1, 0.9) * slice);
}

/** The fault lanes (kills, Temporal restarts, HAProxy reloads, Prometheus outages), concurrently. */
async function injectFaults(ctx: {
  size: ChaosSize;
  rng: Rng;
  pool: WorkerPool;
  temporal: ChaosTemporal;
  haproxy: ChaosHaproxy;
  prometheus: ChaosPrometheus;
  faults: FaultRecord[];
  anomalies: string[];
  reloadEvents: ReloadEvent[];
  tracked: Tracked[];
  log: (line: string) => void;
  sinceT0: () => number;
  allDone: () => boolean;
  deadline: number;
}): Promise<void> {
  const { size, rng } = ctx;
  // The whole schedule is drawn up front, so a seed names the same schedule whatever happens.
  // Kills one in each slice of the window, so both workers get time to come back between them.
  const killTimes = spread(rng, size.kills, size.faultWindowS);
  const aimed = new Set(rng.shuffle([...killTimes.keys()]).slice(0, size.killsDuringWeightChange));
  const restartDelays = killTimes.map(() => rng.between(0.5, 2.5));
  const temporalTimes = spread(rng, size.temporalRestarts, size.faultWindowS);
  const reloadTimes = spread(rng, size.haproxyReloads, [size.faultWindowS[0] + 20, size.faultWindowS[1]]);
  const outageTimes = spread(rng, size.prometheusOutages, size.faultWindowS);
  const record = (f: FaultRecord) => {
    ctx.faults.push(f);
    ctx.log(`chaos: ${f.atS.toFixed(1)} s  ${f.kind} ${f.detail}`);
  };
  const waitUntil = async (atS: number) => {
    while (ctx.sinceT0() < atS && !ctx.allDone()) await sleep(100);
    return !ctx.allDone() && Date.now() < ctx.deadline;
  };
  const restarts: Promise<void>[] = [];

  const killLane = async () => {
    for (const [i, atS] of killTimes.entries()) {
      if (!(await waitUntil(atS))) return;
      const duringWeightChange = aimed.has(i);
      const victim = duringWeightChange ? await nextWeightChange(ctx.pool, 30_000) : undefined;
      let slot: WorkerSlot | undefined = victim?.slot;
      let pid: number;
      if (victim) {
        pid = victim.pid;
      } else {
        slot = await readySlot(ctx.pool, rng, 60_000);
        if (!slot) {
          ctx.anomalies.push(`no worker came up within 60 s to be killed (kill ${i + 1})`);
          return;
        }
        pid = await slot.kill();
      }
      if (victim) await victim.exited;
      const s = slot as WorkerSlot;
      record({
        kind: 'worker_kill',
        atS: ctx.sinceT0(),
        duringWeightChange: victim !== undefined,
        pid,
        ...(victim ? { workflowId: victim.workflowId } : {}),
        detail: `${s.name} pid ${pid}${victim ? ` right after it started setCanaryWeight for ${victim.workflowId}` : ''}${duringWeightChange && !victim ? ' (no weight change within 30 s: killed anyway)' : ''}`,
      });
      const delay = restartDelays[i] as number;
      restarts.push(
        (async () => {
          await sleep(delay * 1000);
          await startSupervised(s, ctx.deadline).catch((err: unknown) => ctx.anomalies.push(`${s.name} failed to restart: ${(err as Error).message}`));
        })(),
      );
    }
  };

  const temporalLane = async () => {
    for (const atS of temporalTimes) {
      if (!(await waitUntil(atS))) return;
      const from = Date.now();
      const startS = ctx.sinceT0();
      await ctx.temporal.restart();
      record({ kind: 'temporal_restart', atS: startS, durationS: (Date.now() - from) / 1000, detail: `${ctx.temporal.kind} server stopped and started on the same store` });
    }
  };

  const reloadLane = async () => {
    const watches: Promise<void>[] = [];
    for (const atS of reloadTimes) {
      if (!(await waitUntil(atS))) return;
      // A reload only tests something while some canary carries traffic.
      let before = await ctx.haproxy.weights();
      for (let i = 0; i < 300 && ![...before.values()].some((w) => w.canary > 0) && !ctx.allDone(); i++) {
        await sleep(100);
        before = await ctx.haproxy.weights();
      }
      const carrying = [...before].filter(([, w]) => w.canary > 0);
      const from = Date.now();
      const startS = ctx.sinceT0();
      await ctx.haproxy.reload();
      const reloadedAt = Date.now();
      record({
        kind: 'haproxy_reload',
        atS: startS,
        durationS: (reloadedAt - from) / 1000,
        detail: `weights back to the config file's; canaries carrying traffic before: ${carrying.map(([b, w]) => `${b}@${w.canary}`).join(', ') || 'none'}`,
      });
      ctx.reloadEvents.push({ atMs: reloadedAt, carrying: carrying.map(([b, w]) => [b, w.canary]) });
      // Watched in the background: the next reload need not wait for this one's rollouts.
      watches.push(watchReapply(ctx, carrying.map(([b, w]) => [b, w.canary]), reloadedAt));
    }
    await Promise.all(watches);
  };

  const outageLane = async () => {
    for (const atS of outageTimes) {
      if (!(await waitUntil(atS))) return;
      const from = Date.now();
      const startS = ctx.sinceT0();
      await ctx.prometheus.stop();
      await sleep(size.outageS * 1000);
      await ctx.prometheus.start();
      record({ kind: 'prometheus_outage', atS: startS, durationS: (Date.now() - from) / 1000, detail: `Prometheus stopped ${size.outageS} s, then started on the same data dir` });
    }
  };

  await Promise.all([killLane(), temporalLane(), reloadLane(), outageLane()]);
  await Promise.all(restarts);
}

/**
 * Follows each backend that lost its canary weight in a reload until the weight is back, or its
 * rollout left that step or ended (the next step sets the weights anyway). Analyses compare the
 * read-back weights with the plan, so three analyses at that step that leave the weight at 0 are
 * an anomaly. Bounded by the run's deadline: while both workers are down nothing analyses.
 */
async function watchReapply(
  ctx: { haproxy: ChaosHaproxy; tracked: Tracked[]; anomalies: string[]; deadline: number },
  carrying: [string, number][],
  reloadedAt: number,
): Promise<void> {
  const pending = new Map(carrying.map(([b, w]) => [b, { weight: w, missedAnalyses: new Set<string>() }]));
  while (pending.size > 0 && Date.now() < ctx.deadline) {
    const now = await ctx.haproxy.weights().catch(() => undefined);
    for (const [b, p] of [...pending]) {
      const t = ctx.tracked.find((x) => x.service.backend === b);
      const last = t?.last;
      if ((now?.get(b)?.canary ?? 0) > 0 || !t || t.result || !last || last.state !== 'progressing' || last.weight !== p.weight) {
        pending.delete(b);
      } else if (now && last.lastAnalysisAt && Date.parse(last.lastAnalysisAt) > reloadedAt + 1_000 && Date.now() - Date.parse(last.lastAnalysisAt) > 2_000) {
        p.missedAnalyses.add(last.lastAnalysisAt);
        if (p.missedAnalyses.size >= 3) {
          ctx.anomalies.push(
            `${b}: ${p.missedAnalyses.size} analyses at ${p.weight}% after an HAProxy reload left the canary weight at 0 (last ${last.lastAnalysisAt})`,
          );
          pending.delete(b);
        }
      }
    }
    await sleep(200);
  }
}

/**
 * Starts a worker as a process supervisor would: a worker that exits at start-up (its Temporal
 * server is restarting, say) is started again after a second, until the deadline.
 */
async function startSupervised(slot: WorkerSlot, deadline: number): Promise<void> {
  for (;;) {
    try {
      await slot.start();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(1_000);
    }
  }
}

/** A ready worker picked at random, waiting (bounded) for one if none is. */
async function readySlot(pool: WorkerPool, rng: Rng, timeoutMs: number): Promise<WorkerSlot | undefined> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const ready = pool.slots.filter((s) => s.ready());
    if (ready.length > 0) return rng.pick(ready);
    await sleep(100);
  }
  return undefined;
}

/**
 * SIGKILLs the first ready worker that logs the start of a setCanaryWeight activity, from inside
 * the log listener, so the weight change is in flight (HAProxy told or about to be, the result not
 * yet reported). Undefined when no weight change starts within `timeoutMs`.
 */
function nextWeightChange(
  pool: WorkerPool,
  timeoutMs: number,
): Promise<{ slot: WorkerSlot; pid: number; workflowId: string; exited: Promise<number> } | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      off();
      resolve(undefined);
    }, timeoutMs);
    const off = pool.onLine((line, slot) => {
      if (line.msg !== 'Activity started' || line.activityType !== 'setCanaryWeight' || !slot.ready()) return;
      const pid = slot.pid as number;
      off();
      clearTimeout(timer);
      resolve({ slot, pid, workflowId: typeof line.workflowId === 'string' ? line.workflowId : '?', exited: slot.kill() });
    });
  });
}

export { renderReport };
