/**
 * Re-validation of a normalized `RolloutSpec` right before it is sent to Temporal. The spec parser
 * (rollout-spec/schema.ts) turns user input into this shape; callers of `RolloutClient.start` may also
 * build one by hand or load it from old JSON, so the invariants the workflow relies on are checked
 * again here, with the same `path: message` issues the parser produces.
 *
 * Also the client side of the metric preflight (`phoenix validate --check-metrics`): the same
 * check the rollout runs before moving traffic, against a Prometheus the user names.
 */
import { z } from 'zod';
import { preflightMetricQueries } from '../activities/metrics/preflight';
import type { PreflightProblem } from '../activities/types';
import { SpecValidationError, type SpecIssue } from '../rollout-spec/errors';
import { formatPath } from '../rollout-spec/parse';
import { SAFE_LABEL_VALUE } from '../rollout-spec/queries';
import { COMPARATORS, METRIC_NAMES, type RolloutSpec } from '../rollout-spec/types';

const fraction = z.number().min(0, 'must be at least 0').max(1, 'must be at most 1');
const ms = z.number().int('must be whole milliseconds').min(0, 'must not be negative');
const positiveMs = ms.min(1, 'must be positive');
const weight = z.number().min(0, 'must be at least 0').max(100, 'must be at most 100');
const argv = z.array(z.string()).min(1, 'must name a command');

const normalizedSpec = z
  .object({
    service: z.string().regex(SAFE_LABEL_VALUE, 'must be a safe label value (letters, digits, . _ -)'),
    stable: z.object({ version: z.string().min(1, 'must not be empty') }),
    canary: z.object({ version: z.string().min(1, 'must not be empty') }),
    traffic: z.discriminatedUnion('kind', [
      z.object({
        kind: z.literal('haproxy'),
        runtimeApi: z.string().min(1),
        backend: z.string().min(1),
        stableServer: z.string().min(1).optional(),
        canaryServer: z.string().min(1).optional(),
        stableServers: z.union([z.array(z.string().min(1)).min(1), z.object({ prefix: z.string().min(1) })]).optional(),
        canaryServers: z.union([z.array(z.string().min(1)).min(1), z.object({ prefix: z.string().min(1) })]).optional(),
      }),
      z.object({ kind: z.literal('webhook'), url: z.url(), secretEnv: z.string().min(1) }),
      z.object({
        kind: z.literal('gateway-api'),
        namespace: z.string().min(1),
        httpRoute: z.string().min(1),
        rule: z.number().int().min(0),
        stableBackend: z.string().min(1),
        canaryBackend: z.string().min(1),
      }),
    ]),
    platform: z.discriminatedUnion('kind', [
      z.object({
        kind: z.literal('process'),
        command: argv,
        stablePort: z.number().int().min(1).max(65535),
        canaryPort: z.number().int().min(1).max(65535),
        replicas: z.object({ stable: z.number().int().min(1), canary: z.number().int().min(1) }).optional(),
        healthPath: z.string().startsWith('/'),
        stateDir: z.string().min(1),
      }),
      z.object({
        kind: z.literal('command'),
        deploy: argv,
        healthCheck: argv,
        promote: argv,
        terminate: argv,
        timeoutMs: positiveMs,
      }),
      z.object({ kind: z.literal('webhook'), url: z.url(), secretEnv: z.string().min(1) }),
      z.object({
        kind: z.literal('kubernetes'),
        namespace: z.string().min(1),
        stableDeployment: z.string().min(1),
        canaryDeployment: z.string().min(1),
        container: z.string().min(1),
        image: z.string().includes('{{version}}'),
        replicas: z.number().int().min(1),
        readyTimeoutMs: positiveMs,
      }),
    ]),
    metrics: z.object({
      prometheusUrl: z.url(),
      versionLabel: z.string().min(1),
      queries: z.record(z.enum(METRIC_NAMES), z.string().nullable()),
      defaultWindowMs: positiveMs,
      queryTimeoutMs: positiveMs,
      optional: z.array(z.enum(METRIC_NAMES)).optional(),
    }),
    warmup: z.object({ durationMs: ms }),
    phases: z.array(
      z.object({
        name: z.string().min(1),
        weight: weight.min(1, 'a traffic phase must send some traffic'),
        durationMs: ms,
        errorThreshold: fraction,
        latencyThresholdMs: z.number().positive(),
      }),
    ),
    fullRollout: z.object({
      name: z.string().min(1),
      incrementSize: weight.min(1, 'must be at least 1'),
      intervalMs: ms,
      maxErrorRate: fraction,
      latencyThresholdMs: z.number().positive(),
    }),
    analysisIntervalMs: positiveMs,
    failureLimit: z.number().int().min(1),
    rollbackTriggers: z.array(
      z.object({
        metric: z.enum(METRIC_NAMES),
        op: z.enum(COMPARATORS),
        threshold: z.number(),
        windowMs: positiveMs,
        action: z.enum(['immediate_rollback', 'gradual_rollback']),
        condition: z.string(),
      }),
    ),
    gradualRollback: z.object({ stepSize: weight.min(1), intervalMs: ms }),
    noData: z.object({ action: z.enum(['rollback', 'pause', 'hold']), consecutiveLimit: z.number().int().min(1) }),
  })
  .loose()
  .superRefine((spec, ctx) => {
    if (spec.stable.version === spec.canary.version) {
      ctx.addIssue({ code: 'custom', path: ['canary', 'version'], message: 'must differ from stable.version' });
    }
    spec.phases.forEach((phase, i) => {
      const previous = spec.phases[i - 1];
      if (previous && phase.weight <= previous.weight) {
        ctx.addIssue({ code: 'custom', path: ['phases', i, 'weight'], message: 'weights must increase from phase to phase' });
      }
    });
  });

/**
 * Returns the spec unchanged when it satisfies the workflow's invariants; otherwise throws
 * `SpecValidationError` listing every problem.
 */
export function validateRolloutSpec(spec: RolloutSpec): RolloutSpec {
  const result = normalizedSpec.safeParse(spec);
  if (result.success) return spec;
  const issues: SpecIssue[] = result.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
  throw new SpecValidationError(issues, '(normalized)');
}

/** What {@link checkSpecMetrics} found. */
export interface MetricsCheck {
  /** How many enabled metric queries were run. */
  checked: number;
  /** Every query that found no series or failed, optional metrics included. */
  problems: PreflightProblem[];
  /** The problems of metrics that are not optional: any of them fails the check. */
  failing: PreflightProblem[];
}

/**
 * Runs every enabled metric query of `spec` once for the stable version against `prometheusUrl`
 * (instead of `spec.metrics.prometheusUrl`): the rollout's own preflight.
 * @throws MetricsUnavailableError when that Prometheus does not answer; ConfigError for a non-http URL.
 */
export async function checkSpecMetrics(
  spec: RolloutSpec,
  prometheusUrl: string,
  opts: { fetch?: typeof fetch; signal?: AbortSignal } = {},
): Promise<MetricsCheck> {
  const problems = await preflightMetricQueries(spec, { ...opts, prometheusUrl });
  return {
    checked: Object.values(spec.metrics.queries).filter((q) => q !== null).length,
    problems,
    failing: problems.filter((p) => !p.optional),
  };
}
