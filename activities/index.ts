/** Activity implementations for the rollout workflow. Workflows import only `./types`. */
export { createActivities, ROLLBACK_ALERT_NAME } from './create-activities';
export type { ActivityDeps } from './create-activities';
export { appMetrics } from './app-metrics';
export type { AppMetrics } from './app-metrics';
export {
  AlertDeliveryError,
  ConfigError,
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
export { queryInstant, classifyResponse } from './metrics/prometheus-client';
export { HaproxyRouter, WebhookRouter, TrafficRouterFactory } from './traffic';
export type { TrafficRouter } from './traffic';
export { ProcessPlatform, CommandPlatform, WebhookPlatform, PlatformFactory, startInstance, stopInstance } from './platform';
export type { CanaryPlatform } from './platform';
export { AlertmanagerClient, buildAlert } from './alerts';
export { signBody, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './signed-webhook';
