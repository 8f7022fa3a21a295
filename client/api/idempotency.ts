/**
 * In-memory memory of responses to `POST /v1/rollouts` by `Idempotency-Key`. It makes retries
 * cheap and consistent within one API process; the durable guarantee across restarts comes from
 * the key stored in the workflow memo (see `RolloutClient.start`).
 */

/** A response as remembered for replay. */
export interface StoredResponse {
  statusCode: number;
  body: unknown;
}

/** `fresh`: executed now; `replay`: an earlier response; `mismatch`: key reused with another body. */
export type IdempotencyOutcome =
  | { kind: 'replay'; response: StoredResponse }
  | { kind: 'mismatch' }
  | { kind: 'fresh'; response: StoredResponse };

interface Entry {
  fingerprint: string;
  expiresAt: number;
  /** Settles with the response; concurrent duplicates wait on the same promise. */
  response: Promise<StoredResponse>;
}

/**
 * Responses worth remembering: those of a start that happened (2xx) or met a running rollout
 * (409). A refused request (400, 401, 403, 422) started nothing, so a pipeline that fixes its body
 * and retries with the same key is judged afresh instead of getting 422 for a day.
 */
function isFinal(response: StoredResponse): boolean {
  return (response.statusCode >= 200 && response.statusCode < 300) || response.statusCode === 409;
}

/** TTL cache keyed by idempotency key; entries expire `ttlMs` after they were created. */
export class IdempotencyCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxEntries = 10_000,
  ) {}

  /**
   * Runs `execute` once per key. The same key with the same fingerprint gets the first response
   * (waiting for it if it is still being produced); with another fingerprint it gets `mismatch`.
   * Only started (2xx) and conflicting (409) answers are remembered; after any other answer or a
   * thrown error a retry executes again.
   */
  async run(key: string, fingerprint: string, execute: () => Promise<StoredResponse>): Promise<IdempotencyOutcome> {
    this.sweep();
    const existing = this.entries.get(key);
    if (existing) {
      if (existing.fingerprint !== fingerprint) return { kind: 'mismatch' };
      return { kind: 'replay', response: await existing.response };
    }
    const response = execute();
    const entry: Entry = { fingerprint, expiresAt: this.now() + this.ttlMs, response };
    this.entries.set(key, entry);
    try {
      const settled = await response;
      if (!isFinal(settled) && this.entries.get(key) === entry) this.entries.delete(key);
      return { kind: 'fresh', response: settled };
    } catch (err) {
      if (this.entries.get(key) === entry) this.entries.delete(key);
      throw err;
    }
  }

  /** Number of remembered keys (expired ones are dropped first). */
  get size(): number {
    this.sweep();
    return this.entries.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
    // Map iteration is insertion order, so this drops the oldest keys first.
    for (const key of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(key);
    }
  }
}
