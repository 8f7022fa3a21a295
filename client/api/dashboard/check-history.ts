/**
 * Every check's values over time, as the API saw them. The status query shows only each check's
 * latest evaluation, and the workflow history holds the raw samples, not the judged checks (which
 * depend on the phase's gate, the weight and the time since deploy at each round), so instead of
 * re-judging history the API keeps what the status showed: each poll of a watched rollout, and
 * each page load, adds the checks whose evaluation time is new. Bounded in rollouts and in points
 * per check; a new rollout of the same service (another start time) starts afresh.
 */
import type { CheckOutcome, RolloutStatus } from '../../../workflows/contract';

/** One evaluation of one check. */
export interface CheckPoint {
  at: string;
  value: number | null;
  threshold: number;
  outcome: CheckOutcome;
}

/** Points per check name, oldest first. */
export type CheckSeries = Record<string, CheckPoint[]>;

interface RolloutHistory {
  startedAt: string;
  series: Map<string, CheckPoint[]>;
}

/** Bounds of a {@link CheckHistory}. */
export interface CheckHistoryLimits {
  /** Rollouts remembered; the least recently recorded is dropped first (default 200). */
  maxRollouts?: number;
  /** Points kept per check; the oldest go first (default 720: an hour at one analysis per 5 s). */
  maxPoints?: number;
}

/** The in-memory store of check points, per rollout. */
export class CheckHistory {
  private readonly rollouts = new Map<string, RolloutHistory>();
  private readonly maxRollouts: number;
  private readonly maxPoints: number;

  constructor(limits: CheckHistoryLimits = {}) {
    this.maxRollouts = limits.maxRollouts ?? 200;
    this.maxPoints = limits.maxPoints ?? 720;
  }

  /** Adds the status's check evaluations that are newer than the last point of their check. */
  record(status: RolloutStatus): void {
    let history = this.rollouts.get(status.rolloutId);
    if (!history || history.startedAt !== status.startedAt) history = { startedAt: status.startedAt, series: new Map() };
    // Re-inserted so that Map order is least recently recorded first.
    this.rollouts.delete(status.rolloutId);
    this.rollouts.set(status.rolloutId, history);
    for (const check of status.checks) {
      const points = history.series.get(check.check) ?? [];
      const last = points[points.length - 1];
      if (last && last.at >= check.at) continue;
      points.push({ at: check.at, value: check.value, threshold: check.threshold, outcome: check.outcome });
      if (points.length > this.maxPoints) points.splice(0, points.length - this.maxPoints);
      history.series.set(check.check, points);
    }
    while (this.rollouts.size > this.maxRollouts) {
      const oldest = this.rollouts.keys().next().value as string;
      this.rollouts.delete(oldest);
    }
  }

  /** The points recorded for a rollout (empty when none). */
  series(rolloutId: string): CheckSeries {
    const history = this.rollouts.get(rolloutId);
    return history ? Object.fromEntries([...history.series].map(([name, points]) => [name, [...points]])) : {};
  }
}
