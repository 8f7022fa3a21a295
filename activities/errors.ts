/**
 * Errors the activities raise. Each class names one failure mode and says whether retrying can
 * fix it; `toApplicationFailure` turns them into the `ApplicationFailure` the workflow sees, with
 * the class name as the failure `type` (so workflows can list them in `nonRetryableErrorTypes`).
 *
 * `name` is set explicitly because `instanceof` is unreliable across the workflow sandbox.
 */
import { ApplicationFailure } from '@temporalio/common';
import { NON_RETRYABLE_ERROR_TYPES } from '../workflows/contract';
import type { PreflightProblem } from './types';

/**
 * Failure `type` strings retrying cannot fix; the workflow lists them in `nonRetryableErrorTypes`
 * (the classes mark it per instance anyway). Defined once, in the contract module.
 */
export { NON_RETRYABLE_ERROR_TYPES };

/** Base class: every Phoenix activity error knows whether a retry could help. */
export abstract class PhoenixActivityError extends Error {
  /** True when retrying cannot fix the problem (bad config, unknown target, rejected request). */
  abstract readonly nonRetryable: boolean;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Thrown when the rollout spec or the worker environment is unusable (bad field, unknown kind, missing secret). */
export class ConfigError extends PhoenixActivityError {
  override readonly name = 'ConfigError';
  readonly nonRetryable = true;
  constructor(
    message: string,
    /** Dotted path of the offending field or the environment variable name. */
    readonly field: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Thrown when the load balancer does not know the configured backend or server. */
export class TrafficTargetNotFoundError extends PhoenixActivityError {
  override readonly name = 'TrafficTargetNotFoundError';
  readonly nonRetryable = true;
  constructor(
    message: string,
    readonly target: string,
    readonly answer: string,
  ) {
    super(message);
  }
}

/** Thrown when the traffic router cannot be reached or times out (connection refused, reset, timeout). */
export class TrafficUnavailableError extends PhoenixActivityError {
  override readonly name = 'TrafficUnavailableError';
  readonly nonRetryable = false;
  constructor(
    message: string,
    readonly address: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Thrown when the server that would take all the traffic is not operational in the load balancer
 * (health check failing, maintenance, drain) within the wait bound. Nothing was changed, so the
 * healthy server keeps the traffic; a retry may find the server up once its health check passes.
 */
export class TrafficServerDownError extends PhoenixActivityError {
  override readonly name = 'TrafficServerDownError';
  readonly nonRetryable = false;
  constructor(
    message: string,
    /** `backend/server`. */
    readonly target: string,
    /** The last state the load balancer reported, e.g. "DOWN" or "UP, DRAIN (admin_state 8)". */
    readonly state: string,
  ) {
    super(message);
  }
}

/** Thrown when the load balancer answers something we cannot parse or accept. */
export class TrafficProtocolError extends PhoenixActivityError {
  override readonly name = 'TrafficProtocolError';
  constructor(
    message: string,
    readonly command: string,
    readonly answer: string,
    /** Permission errors and rejected arguments will not fix themselves; garbled answers might. */
    readonly nonRetryable: boolean,
  ) {
    super(message);
  }
}

/** Thrown when the weight read back after a change differs from the one we set. */
export class WeightMismatchError extends PhoenixActivityError {
  override readonly name = 'WeightMismatchError';
  readonly nonRetryable = false;
  constructor(
    message: string,
    readonly expected: { stable: number; canary: number },
    readonly actual: { stable: number; canary: number },
  ) {
    super(message);
  }
}

/** Thrown when a webhook answers 4xx: the request itself is wrong, so retrying will not help. */
export class WebhookRejectedError extends PhoenixActivityError {
  override readonly name = 'WebhookRejectedError';
  readonly nonRetryable = true;
  constructor(
    message: string,
    readonly url: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** Thrown when a webhook is unreachable, times out, answers 5xx or answers with an unexpected body. */
export class WebhookUnavailableError extends PhoenixActivityError {
  override readonly name = 'WebhookUnavailableError';
  readonly nonRetryable = false;
  constructor(
    message: string,
    readonly url: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Thrown when a platform command exits non-zero or times out; the stderr tail is kept. */
export class PlatformCommandError extends PhoenixActivityError {
  override readonly name = 'PlatformCommandError';
  readonly nonRetryable = false;
  constructor(
    message: string,
    readonly argv: string[],
    readonly exitCode: number | null,
    readonly stderrTail: string,
  ) {
    super(message);
  }
}

/** Thrown when a canary process cannot be started or stopped. */
export class ProcessControlError extends PhoenixActivityError {
  override readonly name = 'ProcessControlError';
  readonly nonRetryable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Thrown when Alertmanager cannot be reached or refuses an alert. */
export class AlertDeliveryError extends PhoenixActivityError {
  override readonly name = 'AlertDeliveryError';
  constructor(
    message: string,
    readonly url: string,
    readonly nonRetryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Thrown when a configured metric query finds no series for the stable version, or fails (bad
 * PromQL): the analysis could never pass, so the rollout must not start on it. Retrying cannot fix it.
 */
export class MetricPreflightError extends PhoenixActivityError {
  override readonly name = 'MetricPreflightError';
  readonly nonRetryable = true;
  constructor(
    message: string,
    /** The non-optional problems, one per metric. */
    readonly problems: readonly PreflightProblem[],
  ) {
    super(message);
  }
}

/**
 * Thrown when Prometheus cannot be reached, does not answer in time, or answers 5xx where a
 * definite answer is needed (the metric preflight). A retry may find it back.
 */
export class MetricsUnavailableError extends PhoenixActivityError {
  override readonly name = 'MetricsUnavailableError';
  readonly nonRetryable = false;
  constructor(
    message: string,
    /** The Prometheus base URL. */
    readonly url: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Thrown when a rollout request does not resolve against the catalog (unknown service, limits, bad policy). */
export class RolloutRequestRejectedError extends PhoenixActivityError {
  override readonly name = 'RolloutRequestRejectedError';
  readonly nonRetryable = true;
  readonly issues: readonly { path: string; message: string }[];
  constructor(issues: readonly { path: string; message: string }[] | string) {
    const list = typeof issues === 'string' ? [{ path: '(request)', message: issues }] : issues;
    super(`rollout request rejected: ${list.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
    this.issues = list;
  }
}

/** Thrown when a rollout names its own targets but the worker only runs catalog services. */
export class InlineTargetsNotAllowedError extends PhoenixActivityError {
  override readonly name = 'InlineTargetsNotAllowedError';
  readonly nonRetryable = true;
  constructor() {
    super(
      'this worker runs only catalog services: the rollout names its own traffic and platform targets (an inline spec); ' +
        'start it by service name, or start the worker with PHOENIX_ALLOW_INLINE_TARGETS=true (development only)',
    );
  }
}

/** Thrown when the worker's catalog directory does not load. */
export class CatalogUnavailableError extends PhoenixActivityError {
  override readonly name = 'CatalogUnavailableError';
  readonly nonRetryable = true;
}

/**
 * Converts a Phoenix error to the `ApplicationFailure` Temporal reports to the workflow; other
 * errors (cancellation, already-converted failures, bugs) are returned unchanged.
 */
export function toApplicationFailure(err: unknown): unknown {
  if (err instanceof PhoenixActivityError) {
    return ApplicationFailure.create({
      type: err.name,
      message: err.message,
      nonRetryable: err.nonRetryable,
      cause: err.cause instanceof Error ? err.cause : undefined,
    });
  }
  return err;
}

/** The failure type used in metrics for any thrown value. */
export function failureType(err: unknown): string {
  if (err instanceof ApplicationFailure && err.type) return err.type;
  if (err instanceof Error) return err.name;
  return 'unknown';
}
