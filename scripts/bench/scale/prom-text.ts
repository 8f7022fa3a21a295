/**
 * Reading a Prometheus text exposition (the worker's SDK exporter): sums of counters and
 * quantiles of histograms over all label sets, interpolated within buckets as PromQL's
 * histogram_quantile does.
 */

/** One parsed sample line. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the sample lines of an exposition; comments and malformed lines are skipped. */
export function parsePromText(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = l[2] as string;
    const value = m[4] === '+Inf' ? Infinity : Number(m[4]);
    if (!Number.isNaN(value)) out.push({ name: m[1] as string, labels, value });
  }
  return out;
}

/** Sum of every sample named `name` whose labels include `match`. */
export function sumOf(samples: PromSample[], name: string, match: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

/** A histogram summed over label sets: cumulative counts by upper bound, ascending. */
export interface Histogram {
  buckets: { le: number; count: number }[];
  count: number;
}

/** The histogram `name` (its `_bucket` series) summed over every label set matching `match`. */
export function histogramOf(samples: PromSample[], name: string, match: Record<string, string> = {}): Histogram {
  const byLe = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket` || !Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  const buckets = [...byLe.entries()].sort((a, b) => a[0] - b[0]).map(([le, count]) => ({ le, count }));
  return { buckets, count: buckets.at(-1)?.count ?? 0 };
}

/**
 * The q-quantile of a histogram, linear within the bucket it falls in; a quantile in the +Inf
 * bucket is reported as the highest finite bound (a lower bound of the truth). Null when empty.
 */
export function histogramQuantile(h: Histogram, q: number): { value: number; inTopBucket: boolean } | null {
  if (h.count === 0) return null;
  const rank = q * h.count;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of h.buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return { value: prevLe, inTopBucket: true };
      const inBucket = b.count - prevCount;
      const value = inBucket > 0 ? prevLe + ((b.le - prevLe) * (rank - prevCount)) / inBucket : b.le;
      return { value, inTopBucket: false };
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return { value: prevLe, inTopBucket: true };
}
