/** How the page writes numbers, times and durations. */
import { DISPLAY_UNITS } from '../../workflows/check-wording';

/** `1h 02m`, `3m 05s`, `12s`. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}

/** Local time of day, with the date when it is not today. */
export function time(iso: string | null | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

/** A value in its metric's display unit (workflows/check-wording.ts): fractions as percentages, latencies in ms. */
export function metricValue(metric: string, value: number | null | undefined): string {
  if (value === null || value === undefined) return 'no data';
  if (!Number.isFinite(value)) return value > 0 ? '+Inf' : '-Inf';
  const unit = (DISPLAY_UNITS as Readonly<Record<string, string | undefined>>)[metric];
  if (unit === 'percent') return `${round(value * 100)}%`;
  if (unit === 'ms') return `${round(value)} ms`;
  if (unit === 'per_second') return `${round(value)}/s`;
  return String(round(value));
}

function round(n: number): string {
  const abs = Math.abs(n);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return String(Number(n.toFixed(digits)));
}

/** `rolling_back` → `rolling back`. */
export function words(identifier: string | null | undefined): string {
  return identifier ? identifier.replace(/_/g, ' ') : '–';
}
