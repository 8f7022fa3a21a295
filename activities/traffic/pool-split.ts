/**
 * Per-server weights for a canary pool and a stable pool behind one HAProxy backend. HAProxy
 * balances by weight over the servers it sees usable, so the canary pool's share is
 * canaryTotal / (canaryTotal + stableTotal); every weight must be an integer 0-256. Pure.
 */

/** HAProxy's largest server weight (`set weight` refuses more). */
export const MAX_SERVER_WEIGHT = 256;

/** How far (pp) a split may miss its share to keep each pool's servers at equal weights. */
const EVEN_TOLERANCE = 0.1;

/** Per-server weights of one split, in the order of the servers given. */
export interface PoolSplit {
  canary: number[];
  stable: number[];
  /** The canary pool's share of traffic these weights give (percent, unrounded). */
  share: number;
}

/**
 * The weights that give `percent` (an integer 0-100) to `canaryCount` canary servers against
 * `stableCount` stable servers, all usable. Among the exact (or closest) splits it takes the one
 * that spreads each pool's total evenly over its servers (if that costs at most 0.1 pp), then the
 * closest, then the one with totals nearest
 * 100, so one server on each side gets `percent` and `100 - percent`.
 *
 * @throws RangeError when a side that must carry traffic has no server, or on a bad percent.
 */
export function splitPools(percent: number, canaryCount: number, stableCount: number): PoolSplit {
  if (!Number.isInteger(percent) || percent < 0 || percent > 100) throw new RangeError(`percent must be an integer 0-100, got ${percent}`);
  for (const [name, count] of [['canaryCount', canaryCount], ['stableCount', stableCount]] as const) {
    if (!Number.isInteger(count) || count < 0) throw new RangeError(`${name} must be a whole number, got ${count}`);
  }
  if (percent > 0 && canaryCount === 0) throw new RangeError(`${percent}% for the canary needs a usable canary server`);
  if (percent < 100 && stableCount === 0) throw new RangeError(`${100 - percent}% for stable needs a usable stable server`);
  if (percent === 0) return { canary: spread(0, canaryCount), stable: spread(100 * stableCount, stableCount), share: 0 };
  if (percent === 100) return { canary: spread(100 * canaryCount, canaryCount), stable: spread(0, stableCount), share: 100 };

  let best: { canary: number; stable: number; score: number[] } | undefined;
  for (let canary = 1; canary <= MAX_SERVER_WEIGHT * canaryCount; canary++) {
    const ideal = (canary * (100 - percent)) / percent;
    for (const stable of new Set([Math.floor(ideal), Math.ceil(ideal)])) {
      if (stable < 1 || stable > MAX_SERVER_WEIGHT * stableCount) continue;
      const error = Math.abs((100 * canary) / (canary + stable) - percent);
      const uneven = (canary % canaryCount === 0 ? 0 : 1) + (stable % stableCount === 0 ? 0 : 1);
      // Within EVEN_TOLERANCE an even spread wins over a closer share; errors are compared
      // rounded, since two exact splits differ only by floating-point noise.
      const score = [error > EVEN_TOLERANCE ? error : 0, uneven, Math.round(error * 1e9), Math.abs(canary + stable - 100)];
      if (!best || less(score, best.score)) best = { canary, stable, score };
    }
  }
  if (!best) throw new RangeError(`no weights give ${percent}%`); // unreachable: canary=percent, stable=100-percent fits
  return {
    canary: spread(best.canary, canaryCount),
    stable: spread(best.stable, stableCount),
    share: (100 * best.canary) / (best.canary + best.stable),
  };
}

/** The canary share (percent) that per-server weights give, counting only usable servers. */
export function shareOf(canaryWeights: readonly number[], stableWeights: readonly number[]): number | null {
  const canary = canaryWeights.reduce((a, b) => a + b, 0);
  const stable = stableWeights.reduce((a, b) => a + b, 0);
  return canary + stable === 0 ? null : (100 * canary) / (canary + stable);
}

/** `total` over `count` servers as evenly as integers allow (the first ones get the remainder). */
function spread(total: number, count: number): number[] {
  const base = Math.floor(total / count);
  const extra = total - base * count;
  return Array.from({ length: count }, (_, i) => base + (i < extra ? 1 : 0));
}

function less(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return (a[i] as number) < (b[i] as number);
  }
  return false;
}
