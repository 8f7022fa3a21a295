import type { ReloadStats } from './checks';

/** The one table a chaos run prints: faults by kind, rollouts, outcomes, anomalies, wall time. */

/** One fault as injected. */
export interface FaultRecord {
  kind: 'worker_kill' | 'temporal_restart' | 'haproxy_reload' | 'prometheus_outage';
  /** Seconds since the first rollout started. */
  atS: number;
  detail: string;
  /** worker_kill: aimed at a worker that had just started setCanaryWeight. */
  duringWeightChange?: boolean;
  /** worker_kill: the killed process and, for an aimed kill, the rollout whose weight change it hit. */
  pid?: number;
  workflowId?: string;
  /** Aimed kill: the killed worker never reported the activity's result (it ran again elsewhere). */
  resultLost?: boolean;
  /** How long the fault lasted (s): the outage, the restart, the reload until the new worker answered. */
  durationS?: number;
}

/** One rollout's line. */
export interface RolloutRow {
  service: string;
  expected: string;
  outcome: string;
  timeline: string;
  driftReapplied: number;
  /** setCanaryWeight attempts beyond the first (a killed worker's lost weight change). */
  weightRetries: number;
  anomalies: number;
  /** Faulty canaries: from the fault injection to the rollback's weight 0 in the timeline (s). */
  faultToZeroS?: number;
}

/** What a run measured. */
export interface ChaosReport {
  seed: number;
  temporal: string;
  workers: number;
  faults: FaultRecord[];
  rollouts: RolloutRow[];
  /** How the canary weights the HAProxy reloads reset came back. */
  reloads: ReloadStats;
  anomalies: string[];
  wallS: number;
}

const fmt = (s: number) => `${Math.floor(s / 60)}m ${String(Math.round(s % 60)).padStart(2, '0')}s`;

function faultToZero(rows: readonly RolloutRow[]): string {
  const s = rows.flatMap((x) => (x.faultToZeroS === undefined ? [] : [x.faultToZeroS])).sort((a, b) => a - b);
  if (s.length === 0) return 'n/a';
  return `${s.map((x) => `${x.toFixed(1)} s`).join(', ')} (fault injected → rollback recorded)`;
}

/** Renders the table (and the per-rollout lines under it). */
export function renderReport(r: ChaosReport): string {
  const count = (kind: FaultRecord['kind']) => r.faults.filter((f) => f.kind === kind);
  const kills = count('worker_kill');
  const aimed = kills.filter((k) => k.duringWeightChange);
  const lost = aimed.filter((k) => k.resultLost).length;
  const retries = r.rollouts.reduce((n, x) => n + x.weightRetries, 0);
  const restarts = count('temporal_restart');
  const reloads = count('haproxy_reload');
  const outages = count('prometheus_outage');
  const maxDur = (fs: FaultRecord[]) => Math.max(0, ...fs.map((f) => f.durationS ?? 0)).toFixed(1);
  const rl = r.reloads;
  const reapplied =
    `${rl.lost} canary weights reset: ${rl.reapplied} re-applied by an analysis (slowest ${rl.slowestS.toFixed(1)} s after the reload), ` +
    `${rl.superseded} set by the next step first`;
  const outcomes = new Map<string, { got: number; want: number }>();
  for (const row of r.rollouts) {
    const o = outcomes.get(row.outcome) ?? { got: 0, want: 0 };
    o.got++;
    outcomes.set(row.outcome, o);
    const e = outcomes.get(row.expected) ?? { got: 0, want: 0 };
    e.want++;
    outcomes.set(row.expected, e);
  }
  const rows: [string, string][] = [
    ['seed', String(r.seed)],
    ['Temporal server', `${r.temporal}, ${r.workers} workers on one task queue`],
    ['worker SIGKILLs', `${kills.length} (${aimed.length} during a weight change, ${lost} of them before its result was reported; ${retries} setCanaryWeight retries in all)`],
    ['Temporal server restarts', `${restarts.length} (longest ${maxDur(restarts)} s down)`],
    ['HAProxy reloads', `${reloads.length} (${reapplied})`],
    ['Prometheus outages', `${outages.length} (${maxDur(outages)} s each)`],
    ['rollouts', String(r.rollouts.length)],
    ['faulty canary → weight 0', faultToZero(r.rollouts)],
    ['outcomes', [...outcomes].map(([k, v]) => `${k} ${v.got} (expected ${v.want})`).join(', ')],
    ['anomalies', String(r.anomalies.length)],
    ['wall time', fmt(r.wallS)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const table = [
    `| ${'what'.padEnd(width)} | measured |`,
    `| ${'-'.repeat(width)} | -------- |`,
    ...rows.map(([k, v]) => `| ${k.padEnd(width)} | ${v} |`),
  ];
  const per = r.rollouts.map(
    (x) =>
      `  ${x.service.padEnd(10)} expected ${x.expected.padEnd(11)} got ${x.outcome.padEnd(11)} ${x.timeline}` +
      `${x.driftReapplied ? ` (drift re-applied ×${x.driftReapplied})` : ''}${x.weightRetries ? ` (weight retries ${x.weightRetries})` : ''}` +
      `${x.faultToZeroS !== undefined ? ` (fault → 0 in ${x.faultToZeroS.toFixed(1)} s)` : ''}` +
      `${x.anomalies ? `  ANOMALIES ${x.anomalies}` : ''}`,
  );
  const faults = r.faults.map(
    (f) =>
      `  ${f.atS.toFixed(1).padStart(6)} s  ${f.kind.padEnd(17)} ${f.detail}` +
      `${f.resultLost === undefined ? '' : f.resultLost ? ' (result lost: ran again)' : ' (result reported just before)'}`,
  );
  return [
    ...table,
    '',
    'rollouts:',
    ...per,
    '',
    'faults, in order:',
    ...faults,
    ...(r.reloads.details.length ? ['', 'after the HAProxy reloads (from the timelines):', ...r.reloads.details.map((d) => `  ${d}`)] : []),
    ...(r.anomalies.length ? ['', 'anomalies:', ...r.anomalies.map((a) => `  - ${a}`)] : []),
  ].join('\n');
}
