/**
 * One measured rollback on the real stack: start a rollout, wait until the canary serves traffic
 * in its first phase, inject an error fault on it, and time how long until HAProxy itself reports
 * the canary at weight 0 (polled through the runtime API every ~20 ms).
 */
import { performance } from 'node:perf_hooks';
import type { RolloutClient } from '../../client/rollouts';
import { OperatorActionRefusedError } from '../../client/errors';
import { ENDED_STATES } from '../../workflows/contract';
import type { RolloutSpec } from '../../rollout-spec/types';
import { rolloutWorkflowId, type RolloutStatus } from '../../workflows/contract';
import type { StackEndpoints } from '../stack/endpoints';
import { demoAdminFetch, haproxyCanaryWeight, pause, setCanaryFaults, type DemoFaults } from '../stack-rollouts';

/** What one run measured. */
export interface FaultRun {
  /** Fault acknowledged by the canary → HAProxy read back canary weight 0. */
  faultToStableMs: number;
  /** Fault acknowledged → the weight-0 entry of the workflow timeline (recorded once HAProxy took the change; the worker clock). */
  faultToRecordedMs: number | null;
  weightAtFault: number;
  outcome: string;
  reason: string;
  /** Canary requests served before the fault (proof that it carried traffic). */
  canaryServedBeforeFault: number;
  /**
   * Fault acknowledged → the canary's first 5xx (its own counter, polled with the weight): how long
   * the fault itself takes to show at this load and weight, which no sensor can beat. null if missed.
   */
  faultToFirstErrorMs: number | null;
}

/** Thrown when a run cannot be measured (the rollout did not reach the measured situation). */
export class BenchRunError extends Error {
  override readonly name = 'BenchRunError';
}

const POLL_MS = 20;
/** Canary requests served before the fault is injected: about 3 s at a 5% canary of 200 req/s. */
const SETTLED_REQUESTS = 30;

async function canaryStats(endpoints: StackEndpoints): Promise<{ total: number; errors: number }> {
  // /admin requires the stack's admin token (the instance answers 401 without it).
  const res = await demoAdminFetch(endpoints.demo.canary, '/stats', { signal: AbortSignal.timeout(1_000) });
  if (!res.ok) throw new Error(`${endpoints.demo.canary.admin}/stats answered ${res.status}`);
  const body = (await res.json()) as { total: number; served?: Record<string, number> };
  const errors = Object.entries(body.served ?? {})
    .filter(([status]) => status.startsWith('5'))
    .reduce((sum, [, n]) => sum + n, 0);
  return { total: body.total, errors };
}

async function canaryServed(endpoints: StackEndpoints): Promise<number> {
  return (await canaryStats(endpoints)).total;
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new BenchRunError(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${last})` : ''}`);
    await pause(intervalMs);
  }
}

/**
 * Runs one rollout of `spec` and measures fault injection → canary weight 0 in HAProxy. Any
 * rollout of the same service must have finished before (the bench runs them one at a time).
 */
export async function measureFaultToStable(
  client: RolloutClient,
  endpoints: StackEndpoints,
  spec: RolloutSpec,
  faults: DemoFaults,
): Promise<FaultRun> {
  const id = rolloutWorkflowId(spec.service);
  await client.start(spec);
  const firstPhase = spec.phases[0]?.name;
  const inPhase = await until('canary weight > 0 in the first phase', 120_000, async () => {
    const s = await client.status(id);
    if ((ENDED_STATES as readonly string[]).includes(s.state)) throw new BenchRunError(`rollout ended (${s.state}: ${s.rollbackReason ?? ''}) before the canary took traffic`);
    return s.weight > 0 && s.phase === firstPhase && (await haproxyCanaryWeight(endpoints)) > 0 ? s : undefined;
  });
  // Traffic really reaches the canary (HAProxy marks it up after its first health check), and has
  // for a few seconds: the fault appears mid-phase, when the sensors' windows hold data, as they
  // do for every fault but one in the first second of a phase.
  const served = await until(`canary served ${SETTLED_REQUESTS} requests`, 30_000, async () => {
    const n = await canaryServed(endpoints);
    return n >= SETTLED_REQUESTS ? n : undefined;
  });

  const errorsBefore = (await canaryStats(endpoints)).errors;
  await setCanaryFaults(endpoints, faults);
  const t0 = performance.now();
  const wall0 = Date.now();
  let t1: number | undefined;
  let firstError: number | undefined;
  const deadline = t0 + 120_000;
  while (performance.now() < deadline) {
    const [weight, stats] = await Promise.all([
      haproxyCanaryWeight(endpoints).catch(() => undefined),
      firstError === undefined ? canaryStats(endpoints).catch(() => undefined) : undefined,
    ]);
    if (firstError === undefined && stats && stats.errors > errorsBefore) firstError = performance.now();
    if (weight === 0) {
      t1 = performance.now();
      break;
    }
    await pause(POLL_MS);
  }
  if (t1 === undefined) throw new BenchRunError('HAProxy still sends traffic to the canary 120 s after the fault');

  const result = await client.result(id);
  const zero = result.timeline.find((c) => c.weight === 0 && Date.parse(c.at) >= wall0 - 1_000);
  return {
    faultToStableMs: Math.round(t1 - t0),
    faultToRecordedMs: zero ? Date.parse(zero.at) - wall0 : null,
    weightAtFault: inPhase.weight,
    outcome: result.outcome,
    reason: result.reason,
    canaryServedBeforeFault: served,
    faultToFirstErrorMs: firstError === undefined ? null : Math.round(firstError - t0),
  };
}

/** Waits until no rollout of `service` runs (a leftover from an interrupted bench is aborted). */
export async function ensureNoRollout(client: RolloutClient, service: string): Promise<void> {
  const id = rolloutWorkflowId(service);
  let status: RolloutStatus;
  try {
    status = await client.status(id);
  } catch {
    return; // never ran here
  }
  if ((ENDED_STATES as readonly string[]).includes(status.state)) return;
  try {
    await client.abort(id, 'bench: clearing a rollout left running', 'bench');
  } catch (err) {
    // Refused past the point of no return: that rollout finishes on its own.
    if (!(err instanceof OperatorActionRefusedError)) throw err;
  }
  await client.result(id);
}
