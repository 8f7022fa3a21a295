/**
 * What the scenario's parts share: the rollouts as the run tracks them, the deadline error, and
 * retrying a call while a server restarts.
 */
import type { RolloutSpec } from '../../rollout-spec/types';
import type { RolloutResult, RolloutStatus } from '../../workflows/contract';
import type { ChaosService } from './services';

/** Sleeps `ms`. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One rollout as the run tracks it. */
export interface Tracked {
  service: ChaosService;
  spec: RolloutSpec;
  rolloutId: string;
  last?: RolloutStatus;
  result?: RolloutResult;
  faultInjectedAtWeight?: number;
  /** Distinct analysis times (epoch ms) the status showed, in order: a lower bound, polled each second. */
  analyses: number[];
  /** When the faulty canary started answering 5xx (epoch ms). */
  faultInjectedAt?: number;
}

/** Thrown when the run's hard deadline passes. */
export class ChaosDeadlineError extends Error {
  override readonly name = 'ChaosDeadlineError';
}

/** Retries `fn` (a server may be restarting) until it works or the deadline passes. */
export async function retry<T>(fn: () => Promise<T>, deadline: number): Promise<T> {
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(500);
    }
  }
}

