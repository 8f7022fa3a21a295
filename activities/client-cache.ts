/**
 * A small bounded cache for per-config clients (routers, platforms): activities pick the backend
 * from each call's spec, and reusing the client keeps per-target state and avoids rebuilding it.
 */
export class ClientCache<T> {
  private readonly entries = new Map<string, T>();

  constructor(private readonly maxEntries = 256) {}

  /** Returns the cached client for `key`, creating it with `create` on a miss. */
  get(key: string, create: () => T): T {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      // Re-insert so the Map's insertion order doubles as recency order.
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const made = create();
    this.entries.set(key, made);
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    return made;
  }

  /** Number of cached clients. */
  get size(): number {
    return this.entries.size;
  }
}
