/**
 * `fastGuard`: the optional load-balancer guard (issue 9 §3). While the canary carries traffic an
 * activity samples HAProxy's own response counters of the canary server(s) every `interval` and
 * rolls back at once when the 5xx ratio over `window` reaches `maxErrorRate` with at least
 * `minRequests` responses behind it. It runs beside the Prometheus analysis, never instead of it.
 * Policy only: it changes how fast a bad canary is seen, not what the worker runs. Sandbox-safe:
 * zod only.
 */
import { z } from 'zod';
import { minRequestsIn, type MinimumEvidence } from './evidence';
import { durationField, fractionField, strict } from './fields';
import type { FastGuard } from './fast-guard-settings';

export { enabledFastGuard, type FastGuard } from './fast-guard-settings';

/** Sampling interval bounds (ms): faster loads the runtime API for nothing, slower loses the point. */
export const FAST_GUARD_INTERVAL_MS = { min: 100, max: 250, default: 200 } as const;

/** Window bounds (ms): at least two samples, at most a minute (longer is Prometheus's job). */
export const FAST_GUARD_WINDOW_MS = { default: 2_000, max: 60_000 } as const;

/** Fallback error ratio when the spec has no immediate error-rate level (there always is one today: validation's critical). */
export const FAST_GUARD_DEFAULT_MAX_ERROR_RATE = 0.05;

/** `fastGuard` as written: every field optional; the defaults depend on the rest of the spec. */
export const fastGuardSchema = strict({
  enabled: z.boolean().default(false).describe('Run the guard. Needs `traffic.kind: haproxy`.'),
  interval: durationField('How often HAProxy\'s counters are sampled (100ms to 250ms; bare number = ms).', {
    bareUnit: 'ms',
  })
    .optional()
    .meta({ default: `${FAST_GUARD_INTERVAL_MS.default}ms` }),
  window: durationField('The sliding window the error ratio is computed over (bare number = seconds).')
    .optional()
    .meta({ default: `${FAST_GUARD_WINDOW_MS.default / 1000}s` }),
  maxErrorRate: fractionField(
    'Roll back at once when 5xx responses / all responses of the canary over the window reach this. ' +
      "Default: the spec's immediate error-rate level (the lowest of validation.error_rate.critical and " +
      `any immediate_rollback trigger on error_rate), else ${FAST_GUARD_DEFAULT_MAX_ERROR_RATE * 100}%.`,
  ).optional(),
  minRequests: z
    .number({ error: 'must be a number of requests' })
    .int('must be a whole number of requests')
    .min(1, 'must be at least 1')
    .optional()
    .describe(
      'Fewest canary responses in the window for the guard to fire; fewer never fires. ' +
        'Default: the minimum evidence of error_rate (metrics.minRequestsByMetric.error_rate, else metrics.minRequests), at least 1.',
    ),
})
  .superRefine((g, ctx) => {
    if (g.interval !== undefined && (g.interval < FAST_GUARD_INTERVAL_MS.min || g.interval > FAST_GUARD_INTERVAL_MS.max)) {
      ctx.addIssue({
        code: 'custom',
        path: ['interval'],
        message: `must be from ${FAST_GUARD_INTERVAL_MS.min}ms to ${FAST_GUARD_INTERVAL_MS.max}ms, got ${g.interval}ms`,
      });
    }
    const interval = g.interval ?? FAST_GUARD_INTERVAL_MS.default;
    if (g.window !== undefined && (g.window < 2 * interval || g.window > FAST_GUARD_WINDOW_MS.max)) {
      ctx.addIssue({
        code: 'custom',
        path: ['window'],
        message: `must be from two intervals (${2 * interval}ms) to ${FAST_GUARD_WINDOW_MS.max / 1000}s, got ${g.window}ms`,
      });
    }
    if (g.maxErrorRate !== undefined && g.maxErrorRate <= 0) {
      ctx.addIssue({ code: 'custom', path: ['maxErrorRate'], message: 'must be above 0 (0 would fire on the first error)' });
    }
  })
  .describe(
    'Optional HAProxy fast guard: samples the canary servers\' response counters (`show stat`) every interval and rolls back at once on a high 5xx ratio. Beside the Prometheus analysis, never instead of it.',
  );

/** `fastGuard` as written, parsed. */
export type FastGuardInput = z.output<typeof fastGuardSchema>;

/** What the guard's defaults are taken from. */
export interface FastGuardDefaults {
  metrics: MinimumEvidence;
  validation: { errorRate: { critical: number } };
  rollbackTriggers: readonly { metric: string; op: string; threshold: number; action: string }[];
}

/**
 * The level the rest of the spec already treats as "roll back now" for the error rate: the
 * §4.2 critical level, or an immediate §6.1 trigger on error_rate set lower.
 */
export function immediateErrorRateLevel(spec: FastGuardDefaults): number | null {
  const levels = spec.rollbackTriggers
    .filter((t) => t.metric === 'error_rate' && t.action === 'immediate_rollback' && (t.op === '>' || t.op === '>='))
    .map((t) => t.threshold);
  const critical = spec.validation.errorRate.critical;
  if (Number.isFinite(critical) && critical > 0) levels.push(critical);
  const positive = levels.filter((l) => l > 0);
  return positive.length ? Math.min(...positive) : null;
}

/** Resolves a parsed `fastGuard` against the rest of the spec. */
export function normalizeFastGuard(input: FastGuardInput, spec: FastGuardDefaults): FastGuard {
  return {
    enabled: input.enabled,
    intervalMs: input.interval ?? FAST_GUARD_INTERVAL_MS.default,
    windowMs: input.window ?? FAST_GUARD_WINDOW_MS.default,
    maxErrorRate: input.maxErrorRate ?? immediateErrorRateLevel(spec) ?? FAST_GUARD_DEFAULT_MAX_ERROR_RATE,
    minRequests: input.minRequests ?? Math.max(1, minRequestsIn(spec.metrics, 'error_rate')),
  };
}

