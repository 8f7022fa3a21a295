/**
 * The rows of the dashboard's rollouts list: what visibility knows (service, state, phase, weight
 * from the search attributes), completed with what only the status knows (versions, time in the
 * phase, the last verdict). Pure, so the row logic is tested without Temporal.
 */
import type { JudgeStatus } from '../../../activities/judge/types';
import { CHECK_OUTCOMES, type CheckOutcome, type RolloutStatus } from '../../../workflows/contract';
import type { RolloutSummary } from '../../rollouts';

/** The verdict of the latest analysis: its worst check outcome, and the judge's when there is one. */
export interface ListVerdict {
  outcome: CheckOutcome | null;
  at: string | null;
  judge: { score: number; verdict: string } | null;
}

/** One row of the list. */
export interface DashboardRow {
  rolloutId: string;
  service: string;
  stableVersion: string | null;
  canaryVersion: string | null;
  state: string | null;
  paused: boolean;
  phase: string | null;
  weight: number | null;
  startedAt: string;
  closedAt: string | null;
  /** Milliseconds since the current phase began (null once ended or when unknown). */
  timeInPhaseMs: number | null;
  lastVerdict: ListVerdict | null;
  /** Why the status could not be read (the row then shows visibility's fields only). */
  statusError: string | null;
  /** The service's latest rollout (the one its page shows); older ones are listed from visibility only. */
  latest: boolean;
}

/** Outcomes from best to worst; the worst of the latest checks is the verdict. */
const SEVERITY: Record<CheckOutcome, number> = {
  pass: 0,
  no_data: 1,
  insufficient_samples: 2,
  warning: 3,
  breach: 4,
  critical: 5,
};

/** The worst outcome among `outcomes` (null for none). */
export function worstOutcome(outcomes: readonly CheckOutcome[]): CheckOutcome | null {
  let worst: CheckOutcome | null = null;
  for (const o of outcomes) if (CHECK_OUTCOMES.includes(o) && (worst === null || SEVERITY[o] > SEVERITY[worst])) worst = o;
  return worst;
}

/** When the current phase began: the first weight change of the latest run of that phase in the timeline. */
export function phaseStartedAt(status: RolloutStatus): string | null {
  const timeline = status.timeline;
  let start: string | null = null;
  for (let i = timeline.length - 1; i >= 0; i--) {
    const entry = timeline[i]!;
    if (entry.phase !== status.phase) break;
    start = entry.at;
  }
  return start ?? (status.phase === 'deploy' ? status.startedAt : null);
}

/** Builds a row from the visibility summary and, when it could be read, the status. */
export function dashboardRow(
  summary: RolloutSummary,
  status: RolloutStatus | null,
  statusError: string | null,
  now: number,
  latest: boolean,
): DashboardRow {
  const running = summary.closedAt === null;
  const since = status && running ? phaseStartedAt(status) : null;
  // `judge` is optional in the status (rollouts without a judge, older workflows).
  const judge = (status as { judge?: JudgeStatus } | null)?.judge;
  return {
    rolloutId: summary.rolloutId,
    service: summary.service,
    stableVersion: status?.stableVersion || null,
    canaryVersion: status?.canaryVersion || null,
    state: status?.state ?? summary.state,
    paused: status?.paused ?? false,
    phase: status?.phase ?? summary.phase,
    weight: status?.weight ?? summary.weight,
    startedAt: summary.startedAt,
    closedAt: summary.closedAt,
    timeInPhaseMs: since === null ? null : Math.max(0, now - Date.parse(since)),
    lastVerdict: status
      ? {
          outcome: worstOutcome(status.checks.map((c) => c.outcome)),
          at: status.lastAnalysisAt ?? status.checks[0]?.at ?? null,
          judge: judge ? { score: judge.score, verdict: judge.verdict } : null,
        }
      : null,
    statusError,
    latest,
  };
}
