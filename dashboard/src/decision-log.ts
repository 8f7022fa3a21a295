/**
 * The rollout's decision log: weight changes, check outcomes that were not a pass (warnings,
 * breaches, critical values, no data), the rollback and why, a stuck rollback, the judge's
 * verdicts and every operator action with who sent it, newest first. Pure: built from the status
 * and the check history.
 */
import type { CheckPoint, DashboardStatus } from './api';
import { metricValue } from './format';

/** One line of the log. */
export interface LogEntry {
  at: string;
  kind: 'weight' | 'operator' | 'refused' | 'warning' | 'breach' | 'critical' | 'no_data' | 'recovered' | 'rollback' | 'stuck' | 'judge';
  text: string;
  by: string | null;
}

const NOT_PASS = new Set(['warning', 'breach', 'critical', 'no_data', 'insufficient_samples']);

/** Builds the log; `labels` names each check as the page does. */
export function decisionLog(status: DashboardStatus, history: Record<string, CheckPoint[]>, labels: Record<string, string>): LogEntry[] {
  const entries: LogEntry[] = [];
  for (const w of status.timeline) {
    entries.push({ at: w.at, kind: w.phase === 'rollback' ? 'rollback' : 'weight', text: `weight ${w.weight}% (${w.phase}): ${w.reason}`, by: null });
  }
  for (const e of status.operatorEvents) {
    const reason = e.reason ? ` (reason: ${e.reason})` : '';
    entries.push({
      at: e.at,
      kind: e.accepted ? 'operator' : 'refused',
      text: `${e.action} ${e.accepted ? 'accepted' : 'refused'}: ${e.message}${reason}`,
      by: e.by,
    });
  }
  const metricOf = Object.fromEntries(status.checks.map((c) => [c.check, c.metric]));
  for (const [name, points] of Object.entries(history)) {
    let previous = 'pass';
    for (const p of points) {
      if (p.outcome !== previous && (NOT_PASS.has(p.outcome) || NOT_PASS.has(previous))) {
        const metric = metricOf[name] ?? name;
        const values = `${metricValue(metric, p.value)} against ${metricValue(metric, p.threshold)}`;
        const kind: LogEntry['kind'] = p.outcome === 'pass' ? 'recovered' : p.outcome === 'insufficient_samples' ? 'no_data' : (p.outcome as LogEntry['kind']);
        entries.push({ at: p.at, kind, text: `${labels[name] ?? name}: ${p.outcome.replace(/_/g, ' ')} (${values})`, by: null });
      }
      previous = p.outcome;
    }
  }
  if (status.rollbackReason) {
    const start = status.timeline.find((w) => w.phase === 'rollback')?.at ?? status.lastAnalysisAt ?? status.startedAt;
    entries.push({ at: start, kind: 'rollback', text: `${(status.rollbackAction ?? 'rollback').replace(/_/g, ' ')}: ${status.rollbackReason}`, by: null });
  }
  if (status.stuckReason) entries.push({ at: status.lastAnalysisAt ?? status.startedAt, kind: 'stuck', text: `stuck: ${status.stuckReason}`, by: null });
  let verdict: string | null = null;
  for (const h of status.judge?.history ?? []) {
    if (h.verdict !== verdict) entries.push({ at: h.at, kind: 'judge', text: `judge: ${h.verdict} (score ${Math.round(h.score)})`, by: null });
    verdict = h.verdict;
  }
  return entries.sort((a, b) => b.at.localeCompare(a.at));
}
