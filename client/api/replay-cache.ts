/**
 * Nonces of signed requests already seen, per key id, so a captured request cannot be sent again.
 *
 * A signed request is accepted only while its timestamp is within the skew window of now, so its
 * nonce has to be remembered until `timestamp + window` and no longer. The cache is bounded: when
 * a key id has `maxEntriesPerKey` live nonces, new signed requests of that key are refused (the
 * API answers 503) instead of forgetting nonces, which would reopen the door to replays.
 */

/** What {@link ReplayCache.record} decided. */
export type ReplayVerdict =
  | { kind: 'recorded' }
  | { kind: 'replayed' }
  /** No room: `retryAfterMs` is when the soonest nonce of this key expires. */
  | { kind: 'full'; retryAfterMs: number };

/** Settings of a {@link ReplayCache}. */
export interface ReplayCacheOptions {
  /** How long after its timestamp a nonce must be kept (the signature skew window). */
  windowMs: number;
  /** Live nonces kept per key id before new ones are refused (default 100 000). */
  maxEntriesPerKey?: number;
  now?: () => number;
}

/** Per-key-id set of nonces, each kept until its request could no longer be accepted. */
export class ReplayCache {
  private readonly keys = new Map<string, Map<string, number>>();
  private readonly windowMs: number;
  private readonly maxEntriesPerKey: number;
  private readonly now: () => number;
  private lastSweep = 0;

  constructor(options: ReplayCacheOptions) {
    this.windowMs = options.windowMs;
    this.maxEntriesPerKey = options.maxEntriesPerKey ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  /**
   * Records `nonce` of `keyId` for a request signed at `timestampMs`; `replayed` when it is
   * already there and still live, `full` when there is no room for it.
   */
  record(keyId: string, nonce: string, timestampMs: number): ReplayVerdict {
    const now = this.now();
    // Idle keys are swept now and then so their nonces do not linger; a full key is swept at once.
    if (now - this.lastSweep >= this.windowMs / 10) this.sweepAll(now);
    let nonces = this.keys.get(keyId);
    if (!nonces) {
      nonces = new Map();
      this.keys.set(keyId, nonces);
    }
    const seen = nonces.get(nonce);
    if (seen !== undefined && seen >= now) return { kind: 'replayed' };
    if (seen === undefined && nonces.size >= this.maxEntriesPerKey) {
      this.sweep(nonces, now);
      if (nonces.size >= this.maxEntriesPerKey) {
        let soonest = Infinity;
        for (const expiresAt of nonces.values()) soonest = Math.min(soonest, expiresAt);
        return { kind: 'full', retryAfterMs: Math.max(0, soonest - now) + 1 };
      }
    }
    nonces.set(nonce, timestampMs + this.windowMs);
    return { kind: 'recorded' };
  }

  /** Live nonces of `keyId`, or of all keys. */
  size(keyId?: string): number {
    const now = this.now();
    this.sweepAll(now);
    if (keyId !== undefined) return this.keys.get(keyId)?.size ?? 0;
    let total = 0;
    for (const nonces of this.keys.values()) total += nonces.size;
    return total;
  }

  private sweepAll(now: number): void {
    this.lastSweep = now;
    for (const [keyId, nonces] of this.keys) {
      this.sweep(nonces, now);
      if (nonces.size === 0) this.keys.delete(keyId);
    }
  }

  private sweep(nonces: Map<string, number>, now: number): void {
    for (const [nonce, expiresAt] of nonces) if (expiresAt < now) nonces.delete(nonce);
  }
}
