/** Activity implementations for the rollout workflow. Workflows import only `./types`. */
export { createActivities, ROLLBACK_ALERT_NAME } from './create-activities';
export type { ActivityDeps } from './create-activities';
export { appMetrics } from './app-metrics';
export type { AppMetrics } from './app-metrics';
export {
  AlertDeliveryError,
  ConfigError,
  MetricPreflightError,
  MetricsUnavailableError,
  NON_RETRYABLE_ERROR_TYPES,
  PhoenixActivityError,
  PlatformCommandError,
  ProcessControlError,
  TrafficProtocolError,
  TrafficServerDownError,
  TrafficTargetNotFoundError,
  TrafficUnavailableError,
  WebhookRejectedError,
  WebhookUnavailableError,
  WeightMismatchError,
} from './errors';
export { answerInstantQuery, classifyResponse, classifyValue, queryInstant } from './metrics/prometheus-client';
export { formatPreflightProblem, preflightMetricQueries } from './metrics/preflight';
export type { PreflightOptions } from './metrics/preflight';
export { HaproxyRouter, WebhookRouter, TrafficRouterFactory } from './traffic';
export type { SetWeightOptions, TrafficRouter, TrafficWeights } from './traffic';
export { ProcessPlatform, CommandPlatform, WebhookPlatform, PlatformFactory, startInstance, stopInstance } from './platform';
export type { CanaryPlatform } from './platform';
export { AlertmanagerClient, buildAlert } from './alerts';
export { signBody, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './signed-webhook';
