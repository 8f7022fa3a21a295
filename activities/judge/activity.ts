/**
 * The `judgeCanary` activity: maps the spec's `judge` settings onto the judge's config, runs the
 * judge (judge-canary.ts) over the window the workflow asks for, and exports the score. Read-only:
 * range queries and arithmetic, so Temporal may retry or re-run it freely.
 */
import type { Logger } from 'pino';
import type { JudgeSettings } from '../../rollout-spec/types';
import type { AppMetrics } from '../app-metrics';
import { ConfigError } from '../errors';
import type { JudgeCanaryInput } from '../types';
import { judgeCanary } from './judge-canary';
import type { JudgeConfig, JudgeResult } from './types';

/** What the activity needs from the worker. */
export interface JudgeActivityDeps {
  fetch: typeof fetch;
  metrics: AppMetrics;
  now?: () => number;
}

/** The judge's config for one judgement: the spec's settings over `windowMs`. */
export function judgeConfigFor(settings: JudgeSettings, windowMs: number): JudgeConfig {
  return {
    windowMs,
    stepMs: settings.stepMs,
    pointWindowMs: settings.pointWindowMs,
    confidence: settings.confidence,
    nanStrategy: settings.nanStrategy,
    outlierFactor: settings.outlierFactor,
    passThreshold: settings.passThreshold,
    marginalThreshold: settings.marginalThreshold,
    metrics: settings.metrics.map((m) => ({
      metric: m.metric,
      direction: m.direction,
      tolerance: m.tolerance,
      critical: m.critical,
      weight: m.weight,
      group: m.group,
      removeOutliers: m.removeOutliers,
    })),
  };
}

/** Runs one judgement for `input`; `call` is the activity's logger and cancellation signal. */
export async function runJudgeActivity(
  deps: JudgeActivityDeps,
  input: JudgeCanaryInput,
  call: { logger: Logger; signal: AbortSignal },
): Promise<JudgeResult> {
  const settings = input.spec.judge;
  if (!settings) throw new ConfigError('judgeCanary: the spec has no judge section', 'judge');
  if (!(Number.isFinite(input.windowMs) && input.windowMs > 0)) {
    throw new ConfigError(`judgeCanary: windowMs must be a positive number of ms, got ${input.windowMs}`, 'windowMs');
  }
  const result = await judgeCanary(input.spec, judgeConfigFor(settings, input.windowMs), {
    fetch: deps.fetch,
    signal: call.signal,
    // Inside the activity's timeout (workflows/activity-options.ts `judge`): an unanswered query
    // is a metric without data, not a timed-out activity.
    timeoutMs: 2 * input.spec.metrics.queryTimeoutMs,
    logger: call.logger,
    ...(deps.now ? { now: deps.now } : {}),
  });
  const { status } = result;
  const labels = { service: input.spec.service, rollout_id: input.rolloutId };
  deps.metrics.judgeScore.set(labels, status.score);
  deps.metrics.judgeDuration.observe({ service: input.spec.service, verdict: status.verdict }, result.durationMs / 1000);
  call.logger.info(
    {
      score: status.score,
      verdict: status.verdict,
      window: result.window,
      reason: result.reason,
      durationMs: result.durationMs,
      metrics: status.metrics.map((m) => ({
        metric: m.metric,
        classification: m.classification,
        pValue: m.pValue,
        effectSize: m.effectSize,
        canarySamples: m.canarySamples,
        baselineSamples: m.baselineSamples,
      })),
    },
    'canary judged',
  );
  return result;
}
