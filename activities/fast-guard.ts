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
import type { TrafficTarget } from '../rollout-spec/types';
import { enabledFastGuard } from '../rollout-spec/fast-guard';
import { ConfigError } from './errors';
import { GuardWindow, parseShowStatCounters, sumServerCounters, type GuardSample, type GuardVerdict } from './fast-guard-window';
import type { PlatformCall } from './platform';
import { delay } from './platform/poll-health';
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

/** How the canary servers are named in the spec: one server, a list, or a name prefix. */
type CanarySelector = { names: string[] } | { prefix: string };

/**
 * The canary servers of an HAProxy traffic target. Read structurally: `canaryServers` (a pool, by
 * names or `{prefix}`) arrives with the instance-pool work, and this works with or without it.
 */
export function canarySelector(traffic: TrafficTarget): CanarySelector {
  const t = traffic as { kind: string; canaryServer?: unknown; canaryServers?: unknown };
  if (t.kind !== 'haproxy') {
    throw new ConfigError(`fastGuard needs traffic.kind: haproxy, got ${JSON.stringify(t.kind)}`, 'traffic.kind');
  }
  if (typeof t.canaryServer === 'string') return { names: [t.canaryServer] };
  const pool = t.canaryServers;
  if (Array.isArray(pool) && pool.length > 0 && pool.every((n) => typeof n === 'string')) return { names: pool };
  if (pool && typeof pool === 'object' && typeof (pool as { prefix?: unknown }).prefix === 'string') {
    return { prefix: (pool as { prefix: string }).prefix };
  }
  throw new ConfigError('traffic.canaryServer (or traffic.canaryServers) must name the canary server(s)', 'traffic.canaryServer');
}

/** The member names a selector picks among the servers HAProxy reports. */
function members(selector: CanarySelector, reported: Iterable<string>): string[] {
  if ('names' in selector) return selector.names;
  return [...reported].filter((name) => name.startsWith(selector.prefix)).sort();
}

/** Runs the guard loop for one activity attempt. */
export async function guardCanaryLoop(call: PlatformCall, deps: GuardDeps = {}): Promise<GuardCanaryResult> {
  const guard = enabledFastGuard(call.spec);
  if (!guard) throw new ConfigError('guardCanary called for a spec whose fastGuard is not enabled', 'fastGuard.enabled');
  const { traffic } = call.spec;
  if (traffic.kind !== 'haproxy') throw new ConfigError(`fastGuard needs traffic.kind: haproxy, got ${JSON.stringify(traffic.kind)}`, 'traffic.kind');
  const now = deps.now ?? Date.now;
  const selector = canarySelector(traffic);
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
    const names = members(selector, counters.keys());
    if (names.length === 0) {
      throw new ConfigError(`no server of backend ${traffic.backend} matches the canary pool prefix`, 'traffic.canaryServers');
    }
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
