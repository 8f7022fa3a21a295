/**
 * Turns the `context` the workflow passes on `setCanaryWeight` and `queryMetrics` into the
 * per-rollout app metrics: the current phase, the phase deadline, rollbacks and the time from a
 * rollback's decision to stable. The workflow cannot write prom-client metrics itself (no I/O in
 * workflow code), so the worker keeps them from what each activity call reports.
 */
import type { Logger } from 'pino';
import type { AppMetrics } from './app-metrics';
import type { RolloutContext } from './types';

const ROLLBACK_ACTIONS = new Set(['immediate_rollback', 'gradual_rollback']);

/** A context whose fields were checked; an invalid field is dropped (and logged), never fatal. */
interface CheckedContext {
  phase: string | null;
  phaseEndsAtMs: number | null;
  rollbackStartedAtMs: number | null;
  rollbackStartedAt: string | null;
  rollbackAction: string | null;
}

/** What the worker last published for one rollout, so stale label sets can be removed. */
interface Published {
  service: string;
  phase?: string;
  deadlinePhase?: string;
}

/**
 * Checks a context from an activity input. Metrics must never block a traffic move (a failed
 * `setCanaryWeight` during a rollback keeps users on a bad canary), so bad fields are logged with
 * their name and ignored rather than failing the activity.
 */
export function checkContext(context: unknown, logger: Logger): CheckedContext | null {
  if (context === undefined || context === null) return null;
  const ignore = (field: string, value: unknown): null => {
    logger.warn({ field: `context.${field}`, value }, `ignored invalid context.${field} (metrics only)`);
    return null;
  };
  if (typeof context !== 'object') return ignore('', context);
  const c = context as Partial<Record<keyof RolloutContext, unknown>>;
  const time = (field: 'phaseEndsAt' | 'rollbackStartedAt'): { iso: string | null; ms: number | null } => {
    const v = c[field];
    if (v === undefined || v === null) return { iso: null, ms: null };
    const ms = typeof v === 'string' ? Date.parse(v) : Number.NaN;
    if (!Number.isFinite(ms)) return { iso: ignore(field, v), ms: null };
    return { iso: v as string, ms };
  };
  const phase = typeof c.phase === 'string' && c.phase.trim() !== '' ? c.phase : ignore('phase', c.phase);
  const ends = time('phaseEndsAt');
  const started = time('rollbackStartedAt');
  let action: string | null = null;
  if (c.rollbackAction !== undefined && c.rollbackAction !== null) {
    const valid = typeof c.rollbackAction === 'string' && ROLLBACK_ACTIONS.has(c.rollbackAction);
    action = valid ? (c.rollbackAction as string) : ignore('rollbackAction', c.rollbackAction);
  }
  return {
    phase,
    phaseEndsAtMs: ends.ms,
    rollbackStartedAtMs: started.ms,
    rollbackStartedAt: started.iso,
    rollbackAction: action,
  };
}

/** Per-rollout metric state of one worker. */
export class RolloutContextMetrics {
  private readonly published = new Map<string, Published>();
  /** The last rollback counted per rollout: a retried or repeated call for the same rollback is not counted again. */
  private readonly countedRollback = new Map<string, string>();

  constructor(
    private readonly metrics: AppMetrics,
    private readonly now: () => number,
  ) {}

  /** Publishes the phase gauge and the phase deadline (or removes it) from a checked context. */
  update(rolloutId: string, service: string, ctx: CheckedContext | null): void {
    if (!ctx || ctx.phase === null) return;
    const prev = this.published.get(rolloutId) ?? { service };
    const labels = (phase: string) => ({ service: prev.service, rollout_id: rolloutId, phase });
    if (prev.service !== service) {
      // Same rollout id, other service: cannot happen with `rollout-<service>` ids; start clean anyway.
      this.clear(rolloutId);
      return this.update(rolloutId, service, ctx);
    }
    if (prev.phase !== undefined && prev.phase !== ctx.phase) this.metrics.rolloutPhase.remove(labels(prev.phase));
    this.metrics.rolloutPhase.set(labels(ctx.phase), 1);
    prev.phase = ctx.phase;

    if (prev.deadlinePhase !== undefined && (ctx.phaseEndsAtMs === null || prev.deadlinePhase !== ctx.phase)) {
      this.metrics.phaseDeadline.remove(labels(prev.deadlinePhase));
      prev.deadlinePhase = undefined;
    }
    if (ctx.phaseEndsAtMs !== null) {
      this.metrics.phaseDeadline.set(labels(ctx.phase), ctx.phaseEndsAtMs / 1000);
      prev.deadlinePhase = ctx.phase;
    }
    this.published.set(rolloutId, prev);
  }

  /**
   * After `setCanaryWeight` applied `weight`: a weight of 0 during a rollback is the rollback
   * reaching stable. Counted once per rollback, keyed by its start time (or by the workflow run
   * when the workflow gave none, e.g. a cancelled rollout), so activity retries do not double count.
   */
  weightApplied(rolloutId: string, service: string, weight: number, ctx: CheckedContext | null, runId: string): void {
    if (weight !== 0 || !ctx?.rollbackAction) return;
    const key = ctx.rollbackStartedAt ?? `run:${runId}`;
    if (this.countedRollback.get(rolloutId) === key) return;
    this.countedRollback.set(rolloutId, key);
    this.metrics.rollbacks.inc({ service, action: ctx.rollbackAction });
    if (ctx.rollbackStartedAtMs !== null) {
      // Worker and workflow clocks differ slightly; a rollback never takes negative time.
      const seconds = Math.max(0, (this.now() - ctx.rollbackStartedAtMs) / 1000);
      this.metrics.triggerToStable.observe({ service, action: ctx.rollbackAction }, seconds);
    }
  }

  /** Removes the rollout's deadline (promoted: no more phases to hold). */
  clearDeadline(rolloutId: string): void {
    const prev = this.published.get(rolloutId);
    if (prev?.deadlinePhase === undefined) return;
    this.metrics.phaseDeadline.remove({ service: prev.service, rollout_id: rolloutId, phase: prev.deadlinePhase });
    prev.deadlinePhase = undefined;
  }

  /** Removes every per-rollout series of the rollout (it ended: canary terminated). */
  clear(rolloutId: string): void {
    this.clearDeadline(rolloutId);
    const prev = this.published.get(rolloutId);
    if (prev?.phase !== undefined) {
      this.metrics.rolloutPhase.remove({ service: prev.service, rollout_id: rolloutId, phase: prev.phase });
    }
    this.published.delete(rolloutId);
  }
}
