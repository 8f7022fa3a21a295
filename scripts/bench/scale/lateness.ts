/**
 * Analysis lateness from the times analyses actually ran. The workflow plans the first analysis of
 * a step one interval after it set the step's weight, and each next one an interval after the
 * previous *planned* time (or an interval after now, once it fell a whole interval behind:
 * workflows/analysis-round.ts scheduleNextAnalysis). The planned times are rebuilt here from the
 * recorded sequence of weight changes and analyses; lateness = actual − planned. Because a weight
 * change is recorded when its activity starts, not when the workflow saw it complete, the first
 * analysis of a step includes that round trip too. A second, simpler measure needs no model:
 * the gaps between consecutive analyses of one step minus the interval.
 */

/** One recorded event of a rollout: an analysis (`A`) or a weight change (`W`) at `t` ms. */
export interface TimedEvent {
  a: 'A' | 'W';
  t: number;
}

/** Lateness and gap figures over every analysis of the rollouts given. */
export interface LatenessFigures {
  analyses: number;
  /** actual − planned, ms. */
  lateness: number[];
  /** When each of `lateness` ran (ms), index for index. */
  latenessAt: number[];
  /** gap between consecutive analyses of one step − interval, ms. */
  gapExcess: number[];
}

/** Rebuilds planned analysis times per rollout and collects lateness and gap excess. */
export function analysisLateness(byRollout: Iterable<TimedEvent[]>, intervalMs: number): LatenessFigures {
  const out: LatenessFigures = { analyses: 0, lateness: [], latenessAt: [], gapExcess: [] };
  for (const events of byRollout) {
    const sorted = [...events].sort((x, y) => x.t - y.t);
    let planned: number | null = null;
    let prevAnalysis: number | null = null;
    for (const e of sorted) {
      if (e.a === 'W') {
        planned = e.t + intervalMs;
        prevAnalysis = null;
        continue;
      }
      out.analyses++;
      if (planned !== null) {
        out.lateness.push(e.t - planned);
        out.latenessAt.push(e.t);
      }
      if (prevAnalysis !== null) out.gapExcess.push(e.t - prevAnalysis - intervalMs);
      const next: number = (planned ?? e.t) + intervalMs;
      planned = next > e.t ? next : e.t + intervalMs;
      prevAnalysis = e.t;
    }
  }
  return out;
}

/** The q-quantile (nearest rank) of `values`, or null when empty. */
export function quantile(values: number[], q: number): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number;
}

/**
 * The window in which every rollout was analysing: from the latest first analysis to the earliest
 * last one (all N concurrent, past their start-up). `steady` is false when it is shorter than three
 * intervals; the whole span is returned then.
 */
export function allAnalysingWindow(byRollout: TimedEvent[][], intervalMs: number): { from: number; to: number; steady: boolean } | null {
  const times = byRollout.map((ev) => ev.filter((e) => e.a === 'A').map((e) => e.t)).filter((t) => t.length > 0);
  if (times.length === 0) return null;
  const firsts = times.map((t) => t.reduce((a, b) => (b < a ? b : a)));
  const lasts = times.map((t) => t.reduce((a, b) => (b > a ? b : a)));
  const from = firsts.reduce((a, b) => (b > a ? b : a));
  const to = lasts.reduce((a, b) => (b < a ? b : a));
  if (to - from >= 3 * intervalMs) return { from, to, steady: true };
  return { from: firsts.reduce((a, b) => (b < a ? b : a)), to: lasts.reduce((a, b) => (b > a ? b : a)), steady: false };
}

/**
 * Analyses per second over the window in which every rollout of the sample was analysing (from the
 * latest first analysis to the earliest last one), scaled from the sample to `total` rollouts.
 * Falls back to the whole span when that window is shorter than three intervals (rollouts that
 * started or ended far apart, e.g. when the worker falls behind).
 */
export function analysesPerSecond(
  byRollout: TimedEvent[][],
  intervalMs: number,
  total: number,
): { perSecond: number | null; windowMs: number; steady: boolean } {
  const window = allAnalysingWindow(byRollout, intervalMs);
  if (!window) return { perSecond: null, windowMs: 0, steady: false };
  const { from, to, steady } = window;
  if (to <= from) return { perSecond: null, windowMs: 0, steady };
  const count = byRollout.reduce((a, ev) => a + ev.filter((e) => e.a === 'A' && e.t >= from && e.t <= to).length, 0);
  const scale = total / byRollout.length;
  return { perSecond: (count / ((to - from) / 1000)) * scale, windowMs: to - from, steady };
}
