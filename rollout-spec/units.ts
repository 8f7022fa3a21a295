/**
 * Unit parsing for rollout specs: percentages and traffic weights, fractions, durations, latencies,
 * request rates and counts, and PromQL windows. Pure and sandbox-safe. Every parser throws {@link UnitParseError} whose message
 * says what was expected and what was given, so the schema can report it under the field's path.
 */
import { UnitParseError } from './errors';

/** A value as it comes out of YAML/JSON for a unit-bearing field. */
export type UnitInput = number | string;

const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

function show(raw: unknown): string {
  return typeof raw === 'string' ? JSON.stringify(raw) : String(raw);
}

/**
 * Moves the decimal point of a decimal literal: `shiftDecimal("0.1", -2)` is the double nearest to
 * 0.001, which `0.1 / 100` is not guaranteed to be. Keeps "0.1%" === 0.001 exactly.
 */
function shiftDecimal(literal: string, exponent: number): number {
  if (/e/i.test(literal)) return Number(literal) * 10 ** exponent;
  return Number(`${literal}e${exponent}`);
}

function decimalOf(raw: UnitInput, what: string): string {
  if (typeof raw === 'number') {
    if (!Number.isFinite(raw)) throw new UnitParseError(`${what} must be a finite number, got ${show(raw)}`, raw);
    // String(1e-7) is "1e-7", which DECIMAL rejects; such tiny values are still exact as numbers.
    return String(raw);
  }
  return raw.trim();
}

function isDecimal(text: string): boolean {
  return DECIMAL.test(text) || /^[+-]?\d+(?:\.\d+)?e[+-]?\d+$/i.test(text);
}

/**
 * Parses a percentage written as `"5%"` or a bare number of percent (`5`) into percent (0-100).
 * Throws when it does not parse or lies outside 0-100. Traffic weights use {@link parseWeight}.
 */
export function parsePercent(raw: UnitInput): number {
  const text = decimalOf(raw, 'percentage');
  const body = text.endsWith('%') ? text.slice(0, -1).trim() : text;
  if (!isDecimal(body)) {
    throw new UnitParseError(`expected a percentage like 20 or "20%", got ${show(raw)}`, raw);
  }
  const value = Number(body);
  if (value < 0 || value > 100) throw new UnitParseError(`percentage must be between 0 and 100, got ${show(raw)}`, raw);
  return value;
}

/**
 * Parses a traffic weight: a percentage ({@link parsePercent}) that must be a whole number of
 * percent, because it becomes an HAProxy server weight and those are integers. `5`, `"20%"` parse;
 * `2.5` and `"7.5%"` throw.
 */
export function parseWeight(raw: UnitInput): number {
  const value = parsePercent(raw);
  if (!Number.isInteger(value)) {
    throw new UnitParseError(
      `must be a whole number of percent (traffic weights are integers, as HAProxy weights are), got ${show(raw)}`,
      raw,
    );
  }
  return value;
}

/** Options for {@link parseFraction}. */
export interface FractionOptions {
  /** Largest value accepted (as a fraction); 1 unless the quantity may exceed 100%, like CPU cores. */
  max?: number;
}

/**
 * Parses a rate or ratio: `"0.1%"` → 0.001, `"98%"` → 0.98, a bare number is already a fraction
 * (`0.98`). Throws when it does not parse or lies outside 0..max (default 1).
 */
export function parseFraction(raw: UnitInput, options: FractionOptions = {}): number {
  const max = options.max ?? 1;
  const text = decimalOf(raw, 'fraction');
  let value: number;
  if (text.endsWith('%')) {
    const body = text.slice(0, -1).trim();
    if (!isDecimal(body)) throw new UnitParseError(`expected a percentage like "0.5%", got ${show(raw)}`, raw);
    value = shiftDecimal(body, -2);
  } else {
    if (!isDecimal(text)) {
      throw new UnitParseError(`expected a percentage like "0.5%" or a fraction like 0.005, got ${show(raw)}`, raw);
    }
    value = Number(text);
  }
  if (!(value >= 0 && value <= max)) {
    const range = max === 1 ? 'between 0 and 1 (0%-100%)' : `between 0 and ${max} (0%-${max * 100}%)`;
    const hint = !text.endsWith('%') && value > max ? `; write "${text}%" if you meant percent` : '';
    throw new UnitParseError(`must be a fraction ${range}, got ${show(raw)}${hint}`, raw);
  }
  return value;
}

const DURATION_UNITS_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** Options for {@link parseDuration}. */
export interface DurationOptions {
  /** Unit of a bare number: seconds for phase durations (seed `duration: 600`), ms for latencies. */
  bareUnit?: 's' | 'ms';
  /** Accept 0 (otherwise a duration must be positive). */
  allowZero?: boolean;
}

/**
 * Parses a duration into whole milliseconds: `"100ms"`, `"30s"`, `"5m"`, `"1h"`, `"1h30m"`,
 * `"1.5s"`; a bare number is in `bareUnit` (default seconds). Throws when it does not parse, is
 * not a whole number of milliseconds, or is not positive.
 */
export function parseDuration(raw: UnitInput, options: DurationOptions = {}): number {
  const bareUnit = options.bareUnit ?? 's';
  const text = decimalOf(raw, 'duration');
  let ms: number;
  if (isDecimal(text)) {
    ms = shiftDecimal(text, bareUnit === 's' ? 3 : 0);
  } else {
    const parts = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/.test(text) ? text.match(/\d+(?:\.\d+)?(?:ms|s|m|h|d)/g) : null;
    if (!parts) {
      if (/^-\s*\d/.test(text)) throw new UnitParseError(`duration must be greater than 0, got ${show(raw)}`, raw);
      throw new UnitParseError(
        `expected a duration like "30s", "5m", "1h" or "100ms" (a bare number is ${bareUnit === 's' ? 'seconds' : 'milliseconds'}), got ${show(raw)}`,
        raw,
      );
    }
    ms = 0;
    for (const part of parts) {
      const [, amount = '', unit = ''] = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(part) ?? [];
      ms += unit === 's' ? shiftDecimal(amount, 3) : Number(amount) * (DURATION_UNITS_MS[unit] ?? NaN);
    }
  }
  if (!Number.isFinite(ms)) throw new UnitParseError(`duration is not a finite number: ${show(raw)}`, raw);
  const rounded = Math.round(ms);
  if (Math.abs(ms - rounded) > 1e-6) {
    throw new UnitParseError(`duration must be a whole number of milliseconds, got ${show(raw)}`, raw);
  }
  if (rounded < 0 || (rounded === 0 && !options.allowZero)) {
    throw new UnitParseError(`duration must be greater than 0, got ${show(raw)}`, raw);
  }
  return rounded;
}

/** Parses a latency into milliseconds: `"100ms"` → 100, `"0.5s"` → 500, a bare number is ms. */
export function parseLatencyMs(raw: UnitInput): number {
  return parseDuration(raw, { bareUnit: 'ms' });
}

/** Parses a request rate in requests per second: `50`, `"50/s"`, `"50rps"`, `"50 req/s"`. */
export function parseRequestRate(raw: UnitInput): number {
  const text = decimalOf(raw, 'request rate');
  const m = /^(.*?)\s*(?:\/s|rps|req\/s)?$/.exec(text);
  const body = m?.[1] ?? '';
  if (!isDecimal(body)) throw new UnitParseError(`expected a request rate like 50 or "50/s", got ${show(raw)}`, raw);
  const value = Number(body);
  if (value < 0) throw new UnitParseError(`request rate must not be negative, got ${show(raw)}`, raw);
  return value;
}

/** Parses a number of requests (e.g. a `request_count` threshold): `100`, `"100"`; not negative. */
export function parseRequestCount(raw: UnitInput): number {
  const text = decimalOf(raw, 'request count');
  if (!isDecimal(text)) throw new UnitParseError(`expected a number of requests like 100, got ${show(raw)}`, raw);
  const value = Number(text);
  if (value < 0) throw new UnitParseError(`request count must not be negative, got ${show(raw)}`, raw);
  return value;
}

/**
 * Renders milliseconds as a PromQL range duration using the largest unit that divides it:
 * 300000 → `"5m"`, 30000 → `"30s"`, 1500 → `"1500ms"`, 3600000 → `"1h"`.
 */
export function renderPromDuration(ms: number): string {
  if (!Number.isInteger(ms) || ms <= 0) {
    throw new UnitParseError(`a PromQL window must be a positive whole number of milliseconds, got ${ms}`, ms);
  }
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** Renders milliseconds for people: 600000 → `"10m"`, 90000 → `"1m30s"`, 250 → `"250ms"`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  if (rest > 0) out += `${rest}ms`;
  return out;
}
