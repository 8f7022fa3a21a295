/** The shared "poll until healthy" loop of every platform, and the waits it is made of. */
import type { HealthResult } from '../types';
import type { PlatformCall } from './platform';

/** One probe: healthy or not, with a reason. `final` stops polling early (e.g. the process died). */
export interface ProbeResult extends HealthResult {
  final?: boolean;
}

/**
 * How often a waiting activity heartbeats (ms). The worker throttles heartbeats to at most one per
 * `maxHeartbeatThrottleInterval` (1 s), and a cancellation reaches the activity only with the
 * answer to a heartbeat, so this keeps an abort's delay to about a second.
 */
export const WAIT_HEARTBEAT_MS = 500;

/**
 * Runs `probe` every `intervalMs` until it reports healthy, reports a final failure, or the call's
 * deadline passes; heartbeats after every probe and at least every {@link WAIT_HEARTBEAT_MS} while
 * waiting for the next one. Cancellation rejects with the signal's reason.
 */
export async function pollHealth(
  call: PlatformCall,
  probe: () => Promise<ProbeResult>,
  intervalMs = 500,
): Promise<HealthResult> {
  let attempts = 0;
  for (;;) {
    call.signal.throwIfAborted();
    attempts++;
    const result = await probe();
    call.signal.throwIfAborted();
    const progress = { attempts, detail: result.detail };
    call.heartbeat(progress);
    if (result.healthy || result.final) return { healthy: result.healthy, detail: result.detail };
    if (Date.now() + intervalMs >= call.deadline) {
      return { healthy: false, detail: `not healthy after ${attempts} checks: ${result.detail}` };
    }
    call.logger.debug(progress, 'canary not healthy yet');
    await heartbeatingDelay(intervalMs, call, progress);
  }
}

/**
 * Sleeps `ms` in slices of at most {@link WAIT_HEARTBEAT_MS}, heartbeating `details` after each;
 * rejects with the signal's reason as soon as the call is cancelled.
 */
export async function heartbeatingDelay(
  ms: number,
  call: Pick<PlatformCall, 'signal' | 'heartbeat'>,
  details?: unknown,
): Promise<void> {
  const until = Date.now() + ms;
  for (let left = ms; left > 0; left = until - Date.now()) {
    await delay(Math.min(left, WAIT_HEARTBEAT_MS), call.signal);
    call.heartbeat(details);
  }
}

/** Sleeps `ms`, rejecting with the signal's reason if it is aborted first. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
