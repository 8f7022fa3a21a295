/**
 * The rollout-spec area, by name. Sandbox-safe: file loading (Node fs) lives in ./load and is not
 * re-exported here.
 */
export { QueryRenderError, SpecValidationError, UnitParseError, formatIssues, type SpecIssue } from './errors';
export {
  DEFAULT_MIN_REQUESTS,
  REQUEST_DERIVED_METRICS,
  disabledTriggers,
  isRequestDerived,
  minRequestsFor,
  minRequestsIn,
  type MinimumEvidence,
  type RequestDerivedMetric,
} from './evidence';
export {
  FAST_GUARD_DEFAULT_MAX_ERROR_RATE,
  FAST_GUARD_INTERVAL_MS,
  FAST_GUARD_WINDOW_MS,
  enabledFastGuard,
  immediateErrorRateLevel,
  type FastGuard,
} from './fast-guard';
export {
  assertRolloutSpec,
  assertRolloutSpecText,
  formatPath,
  parseRolloutSpec,
  parseRolloutSpecText,
  toSpecIssues,
  type ParseResult,
} from './parse';
export {
  DEFAULT_QUERIES,
  LABEL_NAME,
  QUERY_PLACEHOLDERS,
  SAFE_LABEL_VALUE,
  renderQuery,
  templateProblems,
  type QueryContext,
} from './queries';
export { ROLLBACK_ACTIONS, rolloutSpecSchema, specSchemas } from './schema';
export {
  METRIC_UNITS,
  compare,
  isMetricName,
  parseMetricThreshold,
  parseTriggerCondition,
  type TriggerCondition,
} from './triggers';
export {
  COMPARATORS,
  METRIC_NAMES,
  type AlertSettings,
  type BaselineComparison,
  type Comparator,
  type FullRollout,
  type MetricName,
  type MetricsSource,
  type NoDataPolicy,
  type PlatformTarget,
  type RollbackAction,
  type RollbackTrigger,
  type RolloutSpec,
  type RolloutSpecInput,
  type TrafficPhase,
  type TrafficTarget,
  type ValidationThresholds,
} from './types';
export {
  formatDuration,
  parseDuration,
  parseFraction,
  parseLatencyMs,
  parsePercent,
  parseRequestCount,
  parseRequestRate,
  parseWeight,
  renderPromDuration,
} from './units';
