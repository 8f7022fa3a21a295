/**
 * Compile-time guard: the types inferred from the schema (rollout-spec/types.ts) must stay exactly the
 * hand-written contract the project started from, so code written against it keeps compiling.
 * Checked by `tsc` (the project typecheck and test/unit/spec-types.test.ts); it has no run-time part.
 */
import type * as Inferred from '../../rollout-spec/types';
import type { Comparator, MetricName } from '../../rollout-spec/types';

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Assert<T extends true> = T;

// ---- The original hand-written contract (commit cf01525), verbatim, plus later additions marked "Added:". ----
type RollbackAction = 'immediate_rollback' | 'gradual_rollback';

/** A §6.1 rollback trigger: `metric op threshold` evaluated over `windowMs`. */
interface RollbackTrigger {
  metric: MetricName;
  op: Comparator;
  threshold: number;
  windowMs: number;
  action: RollbackAction;
  /** The condition as the user wrote it, for messages. */
  condition: string;
}

/** One traffic step held for a duration (seed §3.2 phases 1 and 2). */
interface TrafficPhase {
  name: string;
  weight: number;
  durationMs: number;
  /** Phase gate: canary error rate must stay at or below this (fraction). */
  errorThreshold: number;
  /** Phase gate: canary p95 latency must stay at or below this (ms). */
  latencyThresholdMs: number;
}

/** Seed §3.2 `full_rollout`: step from the last phase's weight to 100 in increments. */
interface FullRollout {
  name: string;
  incrementSize: number;
  intervalMs: number;
  /** Phase gate for every step of the full rollout (fraction). */
  maxErrorRate: number;
  /** Phase gate on p95 latency (ms); defaults to the p95 validation threshold. */
  latencyThresholdMs: number;
}

/** Seed §4.2 validation thresholds. */
interface ValidationThresholds {
  errorRate: { warning: number; critical: number };
  latency: { p95ThresholdMs: number; p99ThresholdMs: number };
  resourceUsage: { cpuThreshold: number; memoryThreshold: number };
  businessMetrics: { minTaskSuccessRate: number; minCacheHitRate: number; minAgentHealth: number };
}

/** Seed §5.2 canary-vs-baseline comparison. */
interface BaselineComparison {
  enabled: boolean;
  /** Alert when canary error rate exceeds the baseline's by more than this (fraction, 0.001 = 0.1 pp). */
  maxErrorRateIncrease: number;
  /** Alert when canary p95/p99 latency exceeds the baseline's by more than this ratio (0.2 = 20%). */
  maxLatencyIncrease: number;
}

/**
 * What a check with no data (empty result, NaN, Prometheus down) does. It never counts as a pass:
 * the phase cannot advance while a check is inconclusive. After `consecutiveLimit` inconclusive
 * analyses in a row the action is taken.
 */
interface NoDataPolicy {
  action: 'rollback' | 'pause' | 'hold';
  consecutiveLimit: number;
}

type TrafficTarget =
  | {
      kind: 'haproxy';
      /** Runtime API address: `host:port` or an absolute unix socket path. */
      runtimeApi: string;
      backend: string;
      /** Changed: one server, or a pool in `stableServers` (exactly one of the two). */
      stableServer?: string;
      /** Changed: one server, or a pool in `canaryServers` (exactly one of the two). */
      canaryServer?: string;
      /** Added: the stable pool, by names or name prefix. */
      stableServers?: string[] | { prefix: string };
      /** Added: the canary pool, by names or name prefix. */
      canaryServers?: string[] | { prefix: string };
      /** Added: the fresh baseline's server (judge.freshBaseline). */
      baselineServer?: string;
    }
  | {
      kind: 'webhook';
      url: string;
      /** Name of the worker environment variable holding the HMAC secret (never the secret itself). */
      secretEnv: string;
    }
  | {
      /** Added: weights of a Gateway API HTTPRoute rule's backendRefs (rollout-spec/kubernetes-targets.ts). */
      kind: 'gateway-api';
      namespace: string;
      httpRoute: string;
      rule: number;
      stableBackend: string;
      canaryBackend: string;
      kubeconfig?: string;
      context?: string;
    };

type PlatformTarget =
  | {
      kind: 'process';
      /** Command line that starts one instance; `{{version}}`, `{{port}}` are substituted. */
      command: string[];
      cwd?: string;
      env?: Record<string, string>;
      /** Added: worker environment variables the instances get (platform default PATH, HOME, LANG, TZ). */
      passEnv?: string[];
      stablePort: number;
      canaryPort: number;
      /** Added: the fresh baseline's port (judge.freshBaseline). */
      baselinePort?: number;
      /** Added: instances per version; instance i listens on stablePort + i / canaryPort + i. */
      replicas: { stable: number; canary: number };
      /** Added: `weight` grows the canary pool with its traffic share, `full` deploys it whole. */
      canaryScale: 'full' | 'weight';
      /** Path polled for health on the canary, e.g. `/healthz`. */
      healthPath: string;
      /** File where process ids are kept so a restarted worker finds them. */
      stateDir: string;
    }
  | {
      kind: 'command';
      deploy: string[];
      healthCheck: string[];
      promote: string[];
      terminate: string[];
      timeoutMs: number;
      /** Added: explicit environment of the commands. */
      env?: Record<string, string>;
      /** Added: worker environment variables the commands get (platform default PATH, HOME, LANG, TZ). */
      passEnv?: string[];
    }
  | {
      kind: 'webhook';
      url: string;
      secretEnv: string;
    }
  | {
      /** Added: stable and canary as two Deployments (rollout-spec/kubernetes-targets.ts). */
      kind: 'kubernetes';
      namespace: string;
      stableDeployment: string;
      canaryDeployment: string;
      container: string;
      image: string;
      mode: 'two-deployments' | 'clone-from-stable';
      replicas: number;
      terminate: 'scale-to-zero' | 'delete';
      readyTimeoutMs: number;
      kubeconfig?: string;
      context?: string;
    };

interface MetricsSource {
  prometheusUrl: string;
  /** The label that tells canary from baseline series, e.g. `version` or `track`. */
  versionLabel: string;
  /**
   * PromQL templates per metric; `null` disables a metric. Placeholders: `{{service}}`,
   * `{{version}}`, `{{versionLabel}}`, `{{window}}` (a PromQL duration such as `5m`).
   */
  queries: Record<MetricName, string | null>;
  /** Window used by validation checks that have no trigger of their own (ms). */
  defaultWindowMs: number;
  queryTimeoutMs: number;
  /** Added: fewest canary requests in a check's window for a request-derived check to pass (0 = off). */
  minRequests: number;
  /** Added: per-metric overrides of minRequests. */
  minRequestsByMetric: Partial<Record<MetricName, number>>;
  /** Added: metrics whose queries may find no series at pre-flight (reported, not fatal). */
  optional: MetricName[];
}

interface AlertSettings {
  /** Alertmanager base URL; alerts are logged only when absent. */
  alertmanagerUrl?: string;
  /** Extra labels on every alert. */
  labels: Record<string, string>;
}

interface RolloutSpec {
  service: string;
  stable: { version: string };
  canary: { version: string };
  traffic: TrafficTarget;
  platform: PlatformTarget;
  metrics: MetricsSource;
  warmup: { durationMs: number };
  phases: TrafficPhase[];
  fullRollout: FullRollout;
  /** How often the analysis runs while traffic is on the canary (ms). */
  analysisIntervalMs: number;
  /** How many consecutive gate/validation failures of one check lead to a gradual rollback. */
  failureLimit: number;
  validation: ValidationThresholds;
  rollbackTriggers: RollbackTrigger[];
  gradualRollback: { stepSize: number; intervalMs: number };
  baseline: BaselineComparison;
  noData: NoDataPolicy;
  alerts: AlertSettings;
  /** Added: the optional HAProxy fast guard (rollout-spec/fast-guard.ts); absent when the spec does not write it. */
  fastGuard?: { enabled: boolean; intervalMs: number; windowMs: number; maxErrorRate: number; minRequests: number };
  /** Added: the optional statistical judge (rollout-spec/judge.ts); absent when the spec does not write it. */
  judge?: {
    metrics: {
      metric: MetricName;
      direction: 'increase' | 'decrease' | 'either';
      tolerance: number;
      critical: boolean;
      weight: number;
      group: string | null;
      removeOutliers: boolean;
    }[];
    windowMs: number;
    stepMs: number | null;
    pointWindowMs: number | null;
    confidence: number;
    passThreshold: number;
    marginalThreshold: number;
    onFail: RollbackAction;
    intervalMs: number;
    nanStrategy: 'remove' | 'replace';
    outlierFactor: number;
    freshBaseline: boolean;
  };
}

// ---- Each inferred type equals its original. ----
export type Checks = [
  Assert<Equals<Inferred.RollbackAction, RollbackAction>>,
  Assert<Equals<Inferred.RollbackTrigger, RollbackTrigger>>,
  Assert<Equals<Inferred.TrafficPhase, TrafficPhase>>,
  Assert<Equals<Inferred.FullRollout, FullRollout>>,
  Assert<Equals<Inferred.ValidationThresholds, ValidationThresholds>>,
  Assert<Equals<Inferred.BaselineComparison, BaselineComparison>>,
  Assert<Equals<Inferred.NoDataPolicy, NoDataPolicy>>,
  Assert<Equals<Inferred.TrafficTarget, TrafficTarget>>,
  Assert<Equals<Inferred.PlatformTarget, PlatformTarget>>,
  Assert<Equals<Inferred.MetricsSource, MetricsSource>>,
  Assert<Equals<Inferred.AlertSettings, AlertSettings>>,
  Assert<Equals<Inferred.RolloutSpec, RolloutSpec>>,
];
