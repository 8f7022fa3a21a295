/**
 * The fault lanes of a chaos run, drawn from the seed up front and run concurrently: worker
 * SIGKILLs (some aimed at a weight change in flight, each worker restarted as a supervisor would),
 * Temporal server restarts, HAProxy reloads (recorded with the canaries they reset, for
 * checks.ts reloadStats) and Prometheus outages.
 */
import type { ReloadEvent } from './checks';
import { sleep } from './common';
import type { ChaosHaproxy } from './haproxy';
import type { ChaosSize } from './presets';
import type { ChaosPrometheus } from './prometheus';
import type { FaultRecord } from './report';
import type { Rng } from './rng';
import type { ChaosTemporal } from './temporal';
import type { WorkerPool, WorkerSlot } from './workers';

/** Evenly spread random moments in [from, to): one in each of `n` equal slices. */
function spread(rng: Rng, n: number, [from, to]: [number, number]): number[] {
  const slice = (to - from) / Math.max(n, 1);
  return Array.from({ length: n }, (_, i) => from + slice * i + rng.between(0.1, 0.9) * slice);
}

/** The fault lanes (kills, Temporal restarts, HAProxy reloads, Prometheus outages), concurrently. */
export async function injectFaults(ctx: {
  size: ChaosSize;
  rng: Rng;
  pool: WorkerPool;
  temporal: ChaosTemporal;
  haproxy: ChaosHaproxy;
  prometheus: ChaosPrometheus;
  faults: FaultRecord[];
  anomalies: string[];
  reloadEvents: ReloadEvent[];
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
      // Judged from the timelines once the rollouts ended (checks.ts reloadStats).
      ctx.reloadEvents.push({ atMs: reloadedAt, carrying: carrying.map(([b, w]) => [b, w.canary]) });
    }
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
