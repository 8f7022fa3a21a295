/** The scale bench's table: one row per figure, one column per N, as docs/scaling.md lays it out. */
import type { ScaleRunReport } from './run';

const s = (ms: number | null | undefined): string => (ms === null || ms === undefined ? '-' : `${(ms / 1000).toFixed(2)} s`);
const mib = (v: number | undefined): string => (v === undefined ? '-' : v >= 1024 ? `${(v / 1024).toFixed(2)} GiB` : `${Math.round(v)} MiB`);
const pct = (v: number | undefined): string => (v === undefined ? '-' : `${Math.round(v)}%`);

/** The rows, each a label and one cell per report. */
export function scaleRows(): [string, (r: ScaleRunReport) => string][] {
  return [
    ['activities / interval / plan', (r) => `${r.activities} / ${r.intervalMs / 1000} s / ${Math.round(r.planMs / 1000)} s`],
    ['time to start all', (r) => `${s(r.startAllMs)}${r.rampMs ? ` (spread over ${s(r.rampMs)})` : ''}${r.startFailures ? ` (${r.startFailures} failed)` : ''}`],
    ['outcomes', (r) => Object.entries(r.outcomes).sort().map(([k, v]) => `${k} ${v}`).join(', ') || '-'],
    ['still running at deadline', (r) => `${r.stillRunningAtDeadline}${r.deadlineReached ? ` (deadline ${Math.round(r.deadlineMs / 1000)} s)` : ''}`],
    [
      'analyses/s achieved of N/interval (plan allows; at cadence)',
      (r) => {
        const a = r.analysesPerSecond;
        return `${a.achieved ?? '-'} of ${a.expected} (${a.expectedByPlan}; ${a.atCadence ?? '-'})${a.steady ? '' : ' (no steady window)'}`;
      },
    ],
    ['analysis lateness p50 / p99 / max', (r) => `${s(r.analysisLatenessMs.p50)} / ${s(r.analysisLatenessMs.p99)} / ${s(r.analysisLatenessMs.max)}`],
    [
      'analysis lateness p50 / p99 / max, all N analysing',
      (r) => {
        const l = r.analysisLatenessAllRunningMs;
        return l.count ? `${s(l.p50)} / ${s(l.p99)} / ${s(l.max)} (${l.count} analyses in ${s(l.windowMs)})` : '- (no window of three intervals)';
      },
    ],
    ['analysis gap − interval p50 / p99', (r) => `${s(r.analysisGapExcessMs.p50)} / ${s(r.analysisGapExcessMs.p99)}`],
    ['WFT schedule-to-start p50 / p99', (r) => `${s(r.wftScheduleToStartMs.p50)} / ${s(r.wftScheduleToStartMs.p99)}${r.wftScheduleToStartMs.inTopBucket ? ' (≥, top bucket)' : ''}`],
    ['WFT execution p50 / p99', (r) => `${s(r.wftExecutionMs.p50)} / ${s(r.wftExecutionMs.p99)}`],
    ['WFT timeouts (sample → all N)', (r) => `${r.history.workflowTaskTimeouts} of ${r.history.sampled} → ~${r.history.workflowTaskTimeoutsEstimate ?? '-'}`],
    ['WFT execution failures', (r) => `${r.wftExecutionFailed ?? '-'}`],
    ['history events / rollout (mean, min–max)', (r) => (r.history.eventsPerRollout ? `${r.history.eventsPerRollout.mean} (${r.history.eventsPerRollout.min}–${r.history.eventsPerRollout.max})` : '-')],
    ['history events / analysis round (median; all / analyses)', (r) => `${r.history.eventsPerAnalysisRound ?? '-'} (${r.history.eventsPerAnalysis ?? '-'})`],
    ['runs / rollout (continue-as-new)', (r) => `${r.history.runsPerRollout ?? '-'}`],
    ['worker RSS peak / end', (r) => `${mib(r.worker?.peakRssMiB)} / ${mib(r.worker?.endRssMiB)}`],
    ['worker CPU avg / busiest 10 s', (r) => `${pct(r.worker?.cpuPercent)} / ${pct(r.worker?.peakCpuPercent10s)}`],
    ['dev server RSS peak / end', (r) => `${mib(r.server?.peakRssMiB)} / ${mib(r.server?.endRssMiB)}`],
    ['dev server CPU avg / busiest 10 s', (r) => `${pct(r.server?.cpuPercent)} / ${pct(r.server?.peakCpuPercent10s)}`],
    ['first error', (r) => (r.firstError ? `at ${s(r.firstError.atMs)}: ${r.firstError.what.replace(/\|/g, '/').slice(0, 200)}` : 'none')],
  ];
}

/** A markdown table of the reports (CPU: 100% = one core). */
export function formatScaleTable(reports: ScaleRunReport[]): string {
  const head = `| N | ${reports.map((r) => String(r.n)).join(' | ')} |`;
  const rule = `| --- | ${reports.map(() => '---').join(' | ')} |`;
  const rows = scaleRows().map(([label, cell]) => `| ${label} | ${reports.map(cell).join(' | ')} |`);
  return [head, rule, ...rows].join('\n');
}
