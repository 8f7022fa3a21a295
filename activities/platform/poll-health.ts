/** The shared "poll until healthy" loop of every platform. */
import type { HealthResult } from '../types';
import type { PlatformCall } from './platform';

/** One probe: healthy or not, with a reason. `final` stops polling early (e.g. the process died). */
export interface ProbeResult extends HealthResult {
  final?: boolean;
}

/**
 * Runs `probe` every `intervalMs` until it reports healthy, reports a final failure, or the call's
 * deadline passes; heartbeats after every probe. Cancellation rejects with the signal's reason.
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
    call.heartbeat({ attempts, detail: result.detail });
    if (result.healthy || result.final) return { healthy: result.healthy, detail: result.detail };
    if (Date.now() + intervalMs >= call.deadline) {
      return { healthy: false, detail: `not healthy after ${attempts} checks: ${result.detail}` };
    }
    call.logger.debug({ attempts, detail: result.detail }, 'canary not healthy yet');
    await delay(intervalMs, call.signal);
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
