/**
 * The `guardCanary` activity: the load balancer as the fastest sensor. It samples the canary
 * servers' response counters through the HAProxy runtime API (`show stat`) every
 * `fastGuard.intervalMs`, keeps a sliding window (./fast-guard-window) and returns as soon as the
 * 5xx ratio over the window reaches `fastGuard.maxErrorRate` with at least `fastGuard.minRequests`
 * responses behind it. Otherwise it runs until cancelled, heartbeating every sample.
 *
 * Crash behaviour: the heartbeat carries the window's samples; a retried attempt resumes from
 * them, minus those older than the window (with the usual heartbeat timeout of a few seconds
 * against a 2 s window that means a fresh window: the first sample after the restart is the
 * baseline). HAProxy's counters are cumulative, so nothing is lost but the crash's own seconds.
 */
import { Context } from '@temporalio/activity';
import { enabledFastGuard } from '../rollout-spec/fast-guard';
import { ConfigError } from './errors';
import { GuardWindow, parseShowStatCounters, sumServerCounters, type GuardSample, type GuardVerdict } from './fast-guard-window';
import type { PlatformCall } from './platform';
import { delay } from './platform/poll-health';
import { poolMembers, poolSelector } from './traffic/haproxy-pools';
import { parseRuntimeApiAddress, runRuntimeApiCommand } from './traffic/haproxy-runtime-api';
import type { GuardCanaryResult } from './types';

/** What one heartbeat of the guard says: the window to resume from and the latest judgement. */
export interface GuardHeartbeat {
  samples: GuardSample[];
  servers: string[];
  last: Pick<GuardVerdict, 'requests' | 'errors' | 'errorRate' | 'spanMs' | 'detail'> & { at: string };
}

/** What the guard needs besides the call. */
export interface GuardDeps {
  /** Timeout of one `show stat` (ms); below the heartbeat timeout so a hung HAProxy fails the attempt. */
  sampleTimeoutMs?: number;
  now?: () => number;
  /** The previous attempt's last heartbeat (default: from the activity context). */
  resumeFrom?: unknown;
}

/** Runs the guard loop for one activity attempt. */
export async function guardCanaryLoop(call: PlatformCall, deps: GuardDeps = {}): Promise<GuardCanaryResult> {
  const guard = enabledFastGuard(call.spec);
  if (!guard) throw new ConfigError('guardCanary called for a spec whose fastGuard is not enabled', 'fastGuard.enabled');
  const { traffic } = call.spec;
  if (traffic.kind !== 'haproxy') throw new ConfigError(`fastGuard needs traffic.kind: haproxy, got ${JSON.stringify(traffic.kind)}`, 'traffic.kind');
  const now = deps.now ?? Date.now;
  // One canary server, or a pool (names or a prefix): the guard sums the members' counters.
  const selector = poolSelector(traffic, 'canary');
  const address = parseRuntimeApiAddress(traffic.runtimeApi);
  const command = `show stat ${traffic.backend} 4 -1`;
  const sampleTimeoutMs = deps.sampleTimeoutMs ?? 1_000;
  const resumed = resumable(deps.resumeFrom === undefined ? previousHeartbeat() : deps.resumeFrom);
  const window = new GuardWindow(guard, resumed?.samples ?? []);
  let servers = resumed?.servers ?? [];
  let taken = 0;
  call.logger.info(
    { intervalMs: guard.intervalMs, windowMs: guard.windowMs, maxErrorRate: guard.maxErrorRate, minRequests: guard.minRequests, resumedSamples: resumed?.samples.length ?? 0 },
    'fast guard started',
  );
  for (;;) {
    call.signal.throwIfAborted();
    const started = now();
    if (started + guard.intervalMs >= call.deadline) {
      // The attempt's time is up: return so the workflow starts a fresh one, rather than time out.
      return { breached: false, errorRate: null, requests: 0, errors: 0, windowMs: guard.windowMs, spanMs: 0, samples: taken, detail: 'attempt deadline reached; restart' };
    }
    const answer = await runRuntimeApiCommand(address, command, { timeoutMs: sampleTimeoutMs, signal: call.signal });
    const counters = parseShowStatCounters(command, traffic.backend, answer);
    const names = poolMembers(selector, counters.keys(), traffic.backend);
    if (names.join(',') !== servers.join(',')) {
      // A pool that changed members has a different sum: the old samples are not comparable.
      if (servers.length > 0) call.logger.info({ from: servers, to: names }, 'canary pool changed: guard window restarted');
      servers = names;
      window.restart();
    }
    const verdict = window.add({ atMs: started, ...sumServerCounters(counters, traffic.backend, names) });
    taken += 1;
    const beat: GuardHeartbeat = {
      samples: window.kept,
      servers,
      last: { requests: verdict.requests, errors: verdict.errors, errorRate: verdict.errorRate, spanMs: verdict.spanMs, detail: verdict.detail, at: new Date(started).toISOString() },
    };
    call.heartbeat(beat);
    if (verdict.breached) {
      call.logger.warn({ ...beat.last, servers }, 'fast guard breached');
      return { breached: true, errorRate: verdict.errorRate, requests: verdict.requests, errors: verdict.errors, windowMs: guard.windowMs, spanMs: verdict.spanMs, samples: taken, detail: verdict.detail };
    }
    const wait = guard.intervalMs - (now() - started);
    if (wait > 0) await delay(wait, call.signal);
  }
}

/** The last heartbeat of the previous attempt of this activity, if any. */
function previousHeartbeat(): unknown {
  try {
    return Context.current().info.heartbeatDetails;
  } catch {
    return undefined; // not inside an activity (direct tests)
  }
}

function resumable(details: unknown): { samples: GuardSample[]; servers: string[] } | null {
  const d = details as Partial<GuardHeartbeat> | null | undefined;
  if (!d || !Array.isArray(d.samples) || !Array.isArray(d.servers) || !d.servers.every((s) => typeof s === 'string')) return null;
  return { samples: d.samples, servers: d.servers };
}
