/**
 * Which HAProxy servers make up the stable and the canary pool of a `haproxy` traffic target:
 * one named server, a list of names, or every server of the backend whose name has a prefix.
 */
import type { TrafficTarget } from '../../rollout-spec/types';
import { ConfigError, TrafficTargetNotFoundError } from '../errors';

type HaproxyTarget = Extract<TrafficTarget, { kind: 'haproxy' }>;

/** How a pool is selected. */
export type PoolSelector = { names: readonly string[] } | { prefix: string };

/** A traffic target's stable or canary pool selector. */
export function poolSelector(traffic: HaproxyTarget, slot: 'stable' | 'canary'): PoolSelector {
  const one = slot === 'stable' ? traffic.stableServer : traffic.canaryServer;
  const pool = slot === 'stable' ? traffic.stableServers : traffic.canaryServers;
  if (one !== undefined) return { names: [one] };
  if (Array.isArray(pool)) return { names: pool };
  if (pool !== undefined) return { prefix: pool.prefix };
  throw new ConfigError(`traffic.${slot}Server or traffic.${slot}Servers is required`, `traffic.${slot}Servers`);
}

/** True when the target names pools (lists or prefixes) rather than one server per version. */
export function usesPools(traffic: HaproxyTarget): boolean {
  return traffic.stableServers !== undefined || traffic.canaryServers !== undefined;
}

/** `selector` for messages: `stable-1, stable-2` or `stable-*`. */
export function describeSelector(selector: PoolSelector): string {
  return 'prefix' in selector ? `${selector.prefix}*` : selector.names.join(', ');
}

/**
 * The members of a pool among the backend's servers, in the backend's order for a prefix and in
 * the listed order for names.
 * @throws TrafficTargetNotFoundError when a listed server is absent or a prefix matches none.
 */
export function poolMembers(selector: PoolSelector, servers: Iterable<string>, backend: string): string[] {
  const known = [...servers];
  if ('prefix' in selector) {
    const members = known.filter((name) => name.startsWith(selector.prefix));
    if (members.length === 0) {
      throw new TrafficTargetNotFoundError(
        `HAProxy backend ${backend} has no server whose name starts with "${selector.prefix}" (servers: ${known.join(', ') || 'none'})`,
        `${backend}/${selector.prefix}*`,
        '',
      );
    }
    return members;
  }
  const missing = selector.names.filter((name) => !known.includes(name));
  if (missing.length > 0) {
    throw new TrafficTargetNotFoundError(
      `HAProxy does not know ${missing.map((n) => `${backend}/${n}`).join(', ')}: no such server (servers: ${known.join(', ') || 'none'})`,
      `${backend}/${missing[0]}`,
      '',
    );
  }
  return [...selector.names];
}
