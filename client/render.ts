/** Text rendering of rollout status for the CLI: pure functions from data to lines. */
import type { TargetSource } from '../catalog/types';
import { checkLabel, checkRole, checkStatement } from '../workflows/check-wording';
import type { CheckStatus, OperatorEvent, RolloutStatus } from '../workflows/contract';
import { formatDuration } from './plan';
import type { RolloutSummary } from './rollouts';

/** A fixed-width progress bar, e.g. `[######------] 50%`. */
export function progressBar(fraction: number, width = 24): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const filled = Math.round(f * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.round(f * 100)}%`;
}

/** Fraction of the current phase already held (0 when the phase has no duration). */
export function phaseProgress(status: RolloutStatus): number {
  if (status.phaseDurationMs <= 0) return 0;
  return 1 - status.phaseRemainingMs / status.phaseDurationMs;
}

/** The check's label, from the workflow or (older workflows) worded here. */
export function labelOf(check: CheckStatus): string {
  return check.label ?? checkLabel(check);
}

/** The check's statement, from the workflow or (older workflows) worded here. */
export function statementOf(check: CheckStatus): string {
  return check.statement ?? checkStatement(check);
}

/** What a non-passing outcome does, with its streak: `critical`, `breach ×3`. */
function outcomeNote(check: CheckStatus): string {
  if (check.outcome === 'pass') return '';
  const streak = check.streak > 1 ? ` ×${check.streak}` : '';
  const name = check.outcome === 'no_data' || check.outcome === 'insufficient_samples' ? '' : check.outcome;
  const note = `${name}${streak}`.trim();
  return note ? ` ${note}` : '';
}

/** `error_rate > 1% over 5m: 0.2% ≤ 1% ✓`, `p95_latency > 500 ms over 5m: 620 ms > 500 ms ✗ breach ×2` */
export function formatCheck(check: CheckStatus, labelWidth = 0): string {
  return `${`${labelOf(check)}:`.padEnd(labelWidth)} ${statementOf(check)}${outcomeNote(check)}`;
}

/** The header line: id, service and versions, state. */
export function formatHeadline(status: RolloutStatus): string {
  const paused = status.paused && status.state !== 'paused' ? ' (paused)' : '';
  return `${status.rolloutId} ${status.stableVersion} → ${status.canaryVersion}: ${status.state}${paused}`;
}

/** How many of the latest operator actions `formatStatus` shows. */
export const OPERATOR_EVENTS_SHOWN = 5;

/** `2026-01-01T00:00:00Z pause by cli:alice: accepted: paused (reason: lunch)` */
export function formatOperatorEvent(event: OperatorEvent): string {
  const verdict = event.accepted ? 'accepted' : 'refused';
  const reason = event.reason ? ` (reason: ${event.reason})` : '';
  return `${event.at} ${event.action} by ${event.by ?? 'unknown'}: ${verdict}: ${event.message}${reason}`;
}

/**
 * `targets: catalog checkout@3f2a9c1e0b4d7a21 (router demo-haproxy, platform demo-processes, ...)`,
 * `targets: inline spec`, or nothing for rollouts started before the catalog.
 */
export function formatTargets(targets: TargetSource | null | undefined): string | null {
  if (!targets) return null;
  if (targets.kind === 'inline') return 'targets: inline spec (named by the spec, allowed on this worker)';
  const receiver = targets.alertReceiver ? `, alerts ${targets.alertReceiver}` : '';
  return (
    `targets: catalog ${targets.service}@${targets.revision} ` +
    `(router ${targets.router}, platform ${targets.platform}, metrics ${targets.metricSource}${receiver})`
  );
}

/** Pools: the canary pool's share the servers' weights gave at the last weight change, when it is not the weight itself. */
function formatShare(status: RolloutStatus): string {
  const last = status.timeline[status.timeline.length - 1];
  if (last?.baseline !== undefined && last.baseline > 0 && last.weight === status.weight) return ` (fresh baseline ${last.baseline}%)`;
  if (last?.share === undefined || last.weight !== status.weight || last.share === last.weight) return '';
  return ` (pool share ${Math.round(last.share * 100) / 100}%)`;
}

/** The fast guard's line of a status; '' for rollouts without the guard. */
export function formatFastGuard(guard: RolloutStatus['fastGuard']): string {
  if (!guard) return '';
  const state = guard.running ? 'sampling HAProxy' : 'not sampling';
  const failing = guard.failures > 0 ? `; ${guard.failures} failed attempt(s) in a row: ${guard.lastError ?? '?'}` : '';
  const last = guard.lastResult ? `; last: ${guard.lastResult}` : '';
  return `fast guard: ${state} (${guard.starts} start(s))${failing}${last}`;
}

/**
 * `judge.freshBaseline`: `judge baseline: fresh v1 instance (running), 20% of traffic; stable 60%`,
 * or '' when the judge compares with the running stable.
 */
export function formatFreshBaseline(status: Pick<RolloutStatus, 'freshBaseline' | 'weight'>): string {
  const b = status.freshBaseline;
  if (!b) return '';
  const share = b.state === 'running' ? `, ${b.weight}% of traffic; stable ${100 - status.weight - b.weight}%` : '';
  return `judge baseline: fresh ${b.version} instance (${b.state})${share}`;
}

/** How many of the latest judge scores `formatJudge` lists. */
export const JUDGE_SCORES_SHOWN = 10;

/**
 * The statistical judge's lines of a status; [] for rollouts without a judge:
 * `judge: score 40 (fail: < marginal 75; pass ≥ 95) at …; latest scores: 100 100 40`, then per
 * metric `p95_latency [latency, critical]: high  p 1.2e-9  ×1.16  canary 60 / baseline 60 samples  (reason)`.
 */
export function formatJudge(judge: RolloutStatus['judge']): string[] {
  if (!judge) return [];
  const score = (n: number) => String(Math.round(n * 10) / 10);
  const where =
    judge.verdict === 'pass'
      ? `≥ pass ${judge.passThreshold}`
      : judge.verdict === 'marginal'
        ? `< pass ${judge.passThreshold}, ≥ marginal ${judge.marginalThreshold}: phase holds`
        : judge.verdict === 'fail'
          ? `< marginal ${judge.marginalThreshold}`
          : 'no data: never a pass';
  const latest = judge.history.slice(-JUDGE_SCORES_SHOWN).map((h) => (h.verdict === 'nodata' ? '–' : score(h.score)));
  const lines = [`judge: score ${score(judge.score)} (${judge.verdict}: ${where}) at ${judge.at}; latest scores: ${latest.join(' ')}`];
  const names = judge.metrics.map((m) => {
    const tags = [m.group, m.critical ? 'critical' : null, m.weight !== 1 ? `weight ${m.weight}` : null].filter(Boolean);
    return tags.length > 0 ? `${m.metric} [${tags.join(', ')}]` : m.metric;
  });
  const width = Math.max(0, ...names.map((n) => n.length + 1));
  judge.metrics.forEach((m, i) => {
    const p = m.pValue === null ? 'p –' : `p ${m.pValue >= 1e-4 ? Number(m.pValue.toPrecision(2)) : m.pValue.toExponential(1)}`;
    const ratio = m.effectSize === null ? '×–' : `×${m.effectSize.toFixed(2)}`;
    lines.push(
      `  ${`${names[i]}:`.padEnd(width)} ${m.classification.padEnd(6)} ${p.padEnd(9)} ${ratio.padEnd(6)} ` +
        `canary ${m.canarySamples} / baseline ${m.baselineSamples} samples  (${m.reason})`,
    );
  });
  return lines;
}

/** Multi-line human view of a status, as printed by `phoenix status` and `phoenix watch`. */
export function formatStatus(status: RolloutStatus): string[] {
  const lines = [
    formatHeadline(status),
    `phase: ${status.phase} (step ${status.step})  weight: ${status.weight}%${formatShare(status)}`,
  ];
  const targets = formatTargets(status.targets);
  if (targets) lines.push(targets);
  if (status.phaseDurationMs > 0) {
    lines.push(
      `${progressBar(phaseProgress(status))}  ${formatDuration(status.phaseRemainingMs)} left of ${formatDuration(status.phaseDurationMs)}`,
    );
  }
  if (status.rollbackReason) lines.push(`reason: ${status.rollbackReason}`);
  // A status from a workflow older than the contract has neither field.
  const stuckReason = status.stuckReason as string | null | undefined;
  if (stuckReason) lines.push(`stuck: ${stuckReason}`);
  const guard = formatFastGuard(status.fastGuard);
  if (guard) lines.push(guard);
  const freshBaseline = formatFreshBaseline(status);
  if (freshBaseline) lines.push(freshBaseline);
  lines.push(...formatJudge(status.judge));
  if (status.checks.length > 0) {
    lines.push('checks:');
    const labelWidth = Math.max(...status.checks.map((c) => labelOf(c).length + 1));
    const rows = status.checks.map((c) => formatCheck(c, labelWidth));
    // What a failure does, in a column of its own: two checks may share a rule, not a role.
    const rowWidth = Math.max(...rows.map((r) => r.length));
    status.checks.forEach((c, i) => {
      const role = checkRole(c);
      const row = rows[i] ?? '';
      lines.push(`  ${role ? `${row.padEnd(rowWidth)}   ${role}` : row}`);
    });
  }
  const events = (status.operatorEvents as OperatorEvent[] | undefined) ?? [];
  if (events.length > 0) {
    const shown = events.slice(-OPERATOR_EVENTS_SHOWN);
    const older = events.length - shown.length;
    lines.push(`operator actions${older > 0 ? ` (latest ${shown.length} of ${events.length})` : ''}:`);
    for (const event of shown) lines.push(`  ${formatOperatorEvent(event)}`);
  }
  return lines;
}

/** Columns a non-TTY status line may take by default: readable in a terminal or a log viewer. */
export const STATUS_LINE_WIDTH = 120;

/** `text` cut to `width` columns, ending in `…` when cut. */
export function truncate(text: string, width: number): string {
  const chars = [...text];
  return chars.length <= width ? text : `${chars.slice(0, Math.max(0, width - 1)).join('')}…`;
}

const SEVERITY: Readonly<Record<string, number>> = { critical: 0, breach: 1, warning: 2, no_data: 3, insufficient_samples: 4 };

/**
 * The checks as counts, then the ones that did not pass, most severe first, in as much detail as
 * fits `width` columns: `checks 11 ✓ 1 ✗ (p95_latency > 500 ms over 5m: 620 ms > 500 ms ✗)`,
 * else fewer of them (`; +2 more`), else `metric: statement`, else metric names, else the counts.
 */
export function formatCheckSummary(checks: CheckStatus[], width = Infinity): string {
  if (checks.length === 0) return '';
  const count = (...outcomes: string[]) => checks.filter((c) => outcomes.includes(c.outcome)).length;
  const failing = count('warning', 'breach', 'critical');
  const noData = count('no_data');
  const few = count('insufficient_samples');
  const counts = [
    `${checks.length - failing - noData - few} ✓`,
    failing ? `${failing} ✗` : '',
    noData ? `${noData} no data` : '',
    few ? `${few} few requests` : '',
  ].filter(Boolean);
  const head = `checks ${counts.join(' ')}`;
  const notPassed = checks
    .filter((c) => c.outcome !== 'pass')
    .sort((x, y) => (SEVERITY[x.outcome] ?? 9) - (SEVERITY[y.outcome] ?? 9));
  const forms = [
    (c: CheckStatus) => `${labelOf(c)}: ${statementOf(c)}`,
    (c: CheckStatus) => `${c.metric}: ${statementOf(c)}`,
    (c: CheckStatus) => c.metric,
  ];
  const fits = (line: string) => [...line].length <= width;
  for (const form of forms) {
    const items = [...new Set(notPassed.map(form))];
    for (let shown = items.length; shown > 0; shown--) {
      const more = shown < items.length ? `; +${items.length - shown} more` : '';
      const line = `${head} (${items.slice(0, shown).join('; ')}${more})`;
      if (fits(line)) return line;
    }
  }
  return fits(head) ? head : truncate(head, width);
}

/**
 * One line summarizing a status, for non-TTY watch output, at most `width` columns: checks are
 * counted and only those that did not pass are named (the full detail is in `status --json`).
 */
export function formatStatusLine(status: RolloutStatus, width = STATUS_LINE_WIDTH): string {
  const left = status.phaseDurationMs > 0 ? ` left=${formatDuration(status.phaseRemainingMs)}` : '';
  const stuckReason = status.stuckReason as string | null | undefined;
  const stuck = stuckReason ? ` stuck=${JSON.stringify(stuckReason)}` : '';
  const head = `state=${status.state}${status.paused ? ' paused' : ''} phase=${status.phase} weight=${status.weight}%${left}${stuck}`;
  const checks = formatCheckSummary(status.checks, width - [...head].length - 1);
  return truncate(checks ? `${head} ${checks}` : head, width);
}

/** Table of rollouts for `phoenix list`. */
export function formatSummaryTable(rows: RolloutSummary[]): string[] {
  const header = ['ROLLOUT', 'STATE', 'PHASE', 'WEIGHT', 'STARTED', 'CLOSED'];
  const body = rows.map((r) => [
    r.rolloutId,
    r.state ?? r.executionStatus.toLowerCase(),
    r.phase ?? '-',
    r.weight === null ? '-' : `${r.weight}%`,
    r.startedAt,
    r.closedAt ?? '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]?.length ?? 0)));
  return [header, ...body].map((row) => row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd());
}
