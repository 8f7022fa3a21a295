/**
 * Live status for the dashboard's server-sent events: one poller per watched rollout, shared by
 * all its subscribers. A poller asks the rollout's status every `intervalMs` (one query at a time),
 * pushes it to every subscriber when it changed, stops polling once the rollout has ended, and is
 * gone when its last subscriber leaves. The number of watched rollouts and of subscribers per
 * rollout are bounded, so browsers cannot make the API query Temporal without limit.
 */
import type { Logger } from 'pino';
import { ENDED_STATES, type RolloutState, type RolloutStatus } from '../../../workflows/contract';

/** What a subscriber is told. */
export type WatchEvent = { type: 'status'; status: RolloutStatus } | { type: 'error'; message: string };
export type WatchListener = (event: WatchEvent) => void;

/** Thrown by {@link WatchHub.subscribe} when a bound is reached (the route answers 503). */
export class WatchLimitError extends Error {
  override readonly name = 'WatchLimitError';
}

/** Settings of a {@link WatchHub}. */
export interface WatchHubOptions {
  status: (rolloutId: string) => Promise<RolloutStatus>;
  /** Time between two status queries of one rollout (default 250 ms: a change shows within a second). */
  intervalMs?: number;
  /** Time between queries while they fail (default 2 s). */
  errorIntervalMs?: number;
  /** Rollouts watched at once (default 50). */
  maxRollouts?: number;
  /** Subscribers per rollout (default 20). */
  maxSubscribers?: number;
  /** Called with every status polled (the check history records it). */
  onStatus?: (status: RolloutStatus) => void;
  logger?: Logger;
}

interface Watch {
  listeners: Set<WatchListener>;
  last: WatchEvent | undefined;
  lastKey: string | undefined;
  timer: NodeJS.Timeout | undefined;
  stopped: boolean;
  /** Queries started, and the latest of them whose answer was used (answers may overtake each other). */
  started: number;
  answered: number;
  /** A refresh query is under way. */
  refreshing: boolean;
  /** Asked to refresh while one was under way: refresh again once it answers. */
  again: boolean;
}

/**
 * What makes two statuses different for a viewer. The time left in a phase runs down on its own
 * while unpaused; the page counts it down itself, so it alone does not cause a push.
 */
export function statusChangeKey(status: RolloutStatus): string {
  return JSON.stringify({ ...status, phaseRemainingMs: status.paused ? status.phaseRemainingMs : undefined });
}

function ended(status: RolloutStatus): boolean {
  return (ENDED_STATES as readonly RolloutState[]).includes(status.state);
}

/** The shared pollers. */
export class WatchHub {
  private readonly watches = new Map<string, Watch>();
  private readonly intervalMs: number;
  private readonly errorIntervalMs: number;
  private readonly maxRollouts: number;
  private readonly maxSubscribers: number;

  constructor(private readonly options: WatchHubOptions) {
    this.intervalMs = options.intervalMs ?? 250;
    this.errorIntervalMs = options.errorIntervalMs ?? 2000;
    this.maxRollouts = options.maxRollouts ?? 50;
    this.maxSubscribers = options.maxSubscribers ?? 20;
  }

  /** Rollouts with a poller now. */
  watched(): string[] {
    return [...this.watches.keys()];
  }

  /** Subscribers of one rollout. */
  subscribers(rolloutId: string): number {
    return this.watches.get(rolloutId)?.listeners.size ?? 0;
  }

  /**
   * Starts receiving a rollout's status: the latest known at once (if any), then every change.
   * Returns the unsubscribe function. Throws {@link WatchLimitError} when a bound is reached.
   */
  subscribe(rolloutId: string, listener: WatchListener): () => void {
    let watch = this.watches.get(rolloutId);
    if (!watch) {
      if (this.watches.size >= this.maxRollouts) throw new WatchLimitError(`at most ${this.maxRollouts} rollouts can be watched at once`);
      watch = { listeners: new Set(), last: undefined, lastKey: undefined, timer: undefined, stopped: false, started: 0, answered: 0, refreshing: false, again: false };
      this.watches.set(rolloutId, watch);
      void this.poll(rolloutId, watch);
    } else if (watch.listeners.size >= this.maxSubscribers) {
      throw new WatchLimitError(`at most ${this.maxSubscribers} viewers per rollout`);
    }
    watch.listeners.add(listener);
    if (watch.last) listener(watch.last);
    const current = watch;
    return () => {
      current.listeners.delete(listener);
      if (current.listeners.size === 0) this.stop(rolloutId, current);
    };
  }

  /**
   * Queries a watched rollout now, beside its regular poll (an operator action was just accepted,
   * so its viewers see the effect as soon as the workflow reports it, not after a query that
   * started before the action). At most one such extra query is under way per rollout.
   */
  refresh(rolloutId: string): void {
    const watch = this.watches.get(rolloutId);
    if (!watch || watch.stopped) return;
    if (watch.refreshing) {
      watch.again = true;
      return;
    }
    watch.refreshing = true;
    void this.query(rolloutId, watch).finally(() => {
      watch.refreshing = false;
      if (watch.again) {
        watch.again = false;
        this.refresh(rolloutId);
      }
    });
  }

  /** Stops every poller (the server is closing). */
  close(): void {
    for (const [id, watch] of this.watches) this.stop(id, watch);
  }

  private stop(rolloutId: string, watch: Watch): void {
    watch.stopped = true;
    clearTimeout(watch.timer);
    if (this.watches.get(rolloutId) === watch) this.watches.delete(rolloutId);
  }

  /** The regular poll: a query, then the next one after `intervalMs`, until the rollout ends. */
  private async poll(rolloutId: string, watch: Watch): Promise<void> {
    if (watch.stopped) return;
    const outcome = await this.query(rolloutId, watch);
    if (watch.stopped || outcome === 'ended') return;
    watch.timer = setTimeout(() => void this.poll(rolloutId, watch), outcome === 'failed' ? this.errorIntervalMs : this.intervalMs);
  }

  /**
   * One status query; its answer is pushed when it changed, unless a query started later has
   * already answered (answers may arrive out of order when a refresh runs beside the poll).
   */
  private async query(rolloutId: string, watch: Watch): Promise<'ok' | 'ended' | 'failed'> {
    const seq = ++watch.started;
    try {
      const status = await this.options.status(rolloutId);
      // A stale answer is dropped; even an ended one must not stop the poll, since what its
      // viewers were shown is the newer answer: the next poll fetches the end and pushes it.
      if (watch.stopped || seq < watch.answered) return 'ok';
      watch.answered = seq;
      this.options.onStatus?.(status);
      const key = statusChangeKey(status);
      if (key !== watch.lastKey) {
        watch.lastKey = key;
        this.emit(watch, { type: 'status', status });
      }
      // An ended rollout does not change any more; its viewers keep the last status.
      return ended(status) ? 'ended' : 'ok';
    } catch (err) {
      if (watch.stopped || seq < watch.answered) return 'failed';
      const message = err instanceof Error ? err.message : String(err);
      this.options.logger?.warn({ rolloutId, err }, 'dashboard: status poll failed');
      if (watch.last?.type !== 'error' || watch.last.message !== message) {
        watch.lastKey = undefined;
        this.emit(watch, { type: 'error', message });
      }
      return 'failed';
    }
  }

  private emit(watch: Watch, event: WatchEvent): void {
    watch.last = event;
    for (const listener of watch.listeners) listener(event);
  }
}
