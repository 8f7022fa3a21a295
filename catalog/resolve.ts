/**
 * Resolving a rollout request against the catalog: the service's targets, its policy defaults
 * and the request's overrides become one rollout spec, validated by the spec's own schema and
 * then held to the catalog's limits. The worker does this once per rollout, at its start; the
 * API and CLI do it before starting, so that a bad request is refused before a workflow exists.
 */
import { createHash } from 'node:crypto';
import type { SpecIssue } from '../rollout-spec/errors';
import { parseRolloutSpec } from '../rollout-spec/parse';
import type { RolloutSpec } from '../rollout-spec/types';
import { formatDuration } from '../rollout-spec/units';
import type { Catalog } from './catalog';
import type { OverrideLimits, ServiceEntry } from './schema';
import { POLICY_FIELDS, type PolicyField, type RolloutRequest, type TargetSource } from './types';

export type ResolveResult =
  | { ok: true; spec: RolloutSpec; source: Extract<TargetSource, { kind: 'catalog' }> }
  | { ok: false; issues: SpecIssue[] };

type Plain = Record<string, unknown>;

function isPlain(value: unknown): value is Plain {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Objects merge key by key; anything else (lists included) is replaced by the override. */
export function deepMerge(base: unknown, override: unknown): unknown {
  if (override === undefined) return base;
  if (!isPlain(base) || !isPlain(override)) return override;
  const out: Plain = { ...base };
  for (const [key, value] of Object.entries(override)) out[key] = deepMerge(base[key], value);
  return out;
}

const TRIGGER_ALIASES: readonly PolicyField[] = ['rollback_triggers', 'rollbackTriggers'];

function allowedFields(service: ServiceEntry): Set<PolicyField> {
  const allow = new Set<PolicyField>(service.overrides.allow ?? POLICY_FIELDS);
  // The two spellings of the triggers are one field.
  if (TRIGGER_ALIASES.some((f) => allow.has(f))) for (const f of TRIGGER_ALIASES) allow.add(f);
  return allow;
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (!isPlain(value)) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, canonical(value[k])]),
  );
}

/** The raw spec (before validation) the request and the catalog make together. */
function assemble(catalog: Catalog, name: string, service: ServiceEntry, request: RolloutRequest, stable: { version: string }): Plain {
  const defaults: Plain = { ...service.defaults };
  const overrides: Plain = { ...request.overrides };
  if (TRIGGER_ALIASES.some((f) => overrides[f] !== undefined)) for (const f of TRIGGER_ALIASES) delete defaults[f];
  const policy = deepMerge(defaults, overrides) as Plain;
  const { metrics: policyMetrics, alerts: policyAlerts, ...rest } = policy;
  const receiver = service.alerts ? catalog.alertReceivers.get(service.alerts)?.value : undefined;
  return {
    ...rest,
    service: name,
    stable,
    canary: request.canary,
    traffic: catalog.routers.get(service.router)?.value,
    platform: catalog.platforms.get(service.platform)?.value,
    metrics: deepMerge(catalog.metricSources.get(service.metrics)?.value ?? {}, policyMetrics ?? {}),
    alerts: deepMerge(receiver ?? {}, policyAlerts ?? {}),
  };
}

/** Resolves `request` against `catalog` into the spec a workflow runs, or every problem found. */
export function resolveRequest(catalog: Catalog, request: RolloutRequest): ResolveResult {
  const entry = catalog.services.get(request.service);
  if (!entry) {
    return { ok: false, issues: [{ path: 'service', message: `no service "${request.service}" in the catalog` }] };
  }
  const service = entry.value;
  const issues: SpecIssue[] = [];
  const allow = allowedFields(service);
  for (const field of Object.keys(request.overrides) as PolicyField[]) {
    if (!allow.has(field)) {
      issues.push({
        path: field,
        message: `the catalog does not let requests override ${field} for service ${request.service} (allowed: ${[...allow].join(', ') || 'none'})`,
      });
    }
  }
  const stable = request.stable ?? service.stable;
  if (!stable) issues.push({ path: 'stable', message: `is required: the catalog names no stable version for service ${request.service}` });
  if (issues.length > 0 || !stable) return { ok: false, issues };

  const raw = assemble(catalog, request.service, service, request, stable);
  const parsed = parseRolloutSpec(raw);
  if (!parsed.success) return { ok: false, issues: parsed.issues };
  const beyond = limitProblems(parsed.spec, service.overrides.limits, request.service);
  if (beyond.length > 0) return { ok: false, issues: beyond };

  const used = {
    service,
    router: catalog.routers.get(service.router)?.value,
    platform: catalog.platforms.get(service.platform)?.value,
    metricSource: catalog.metricSources.get(service.metrics)?.value,
    alertReceiver: service.alerts ? catalog.alertReceivers.get(service.alerts)?.value : null,
  };
  const revision = createHash('sha256').update(JSON.stringify(canonical(used))).digest('hex').slice(0, 16);
  return {
    ok: true,
    spec: parsed.spec,
    source: {
      kind: 'catalog',
      service: request.service,
      revision,
      router: service.router,
      platform: service.platform,
      metricSource: service.metrics,
      alertReceiver: service.alerts ?? null,
    },
  };
}

/** Where the resolved spec leaves the catalog's bounds, one issue per field. */
export function limitProblems(spec: RolloutSpec, limits: OverrideLimits, service: string): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const limit = (name: string, shown: string) => `the catalog's limit for service ${service} is ${name} ${shown}`;
  if (limits.minWarmup !== undefined && spec.warmup.durationMs < limits.minWarmup) {
    issues.push({ path: 'warmup.duration', message: `${formatDuration(spec.warmup.durationMs)} is too short; ${limit('minWarmup', formatDuration(limits.minWarmup))}` });
  }
  spec.phases.forEach((phase, i) => {
    if (limits.minPhaseDuration !== undefined && phase.durationMs < limits.minPhaseDuration) {
      issues.push({
        path: `trafficControl.phases[${i}].duration`,
        message: `${phase.name}: ${formatDuration(phase.durationMs)} is too short; ${limit('minPhaseDuration', formatDuration(limits.minPhaseDuration))}`,
      });
    }
    if (limits.maxErrorRate !== undefined && phase.errorThreshold > limits.maxErrorRate) {
      issues.push({ path: `trafficControl.phases[${i}].errorThreshold`, message: `${phase.name}: ${pct(phase.errorThreshold)} is too loose; ${limit('maxErrorRate', pct(limits.maxErrorRate))}` });
    }
  });
  const first = spec.phases[0];
  if (limits.maxFirstWeight !== undefined && first && first.weight > limits.maxFirstWeight) {
    issues.push({ path: 'trafficControl.phases[0].percentage', message: `${first.weight}% is too much for a first step; ${limit('maxFirstWeight', `${limits.maxFirstWeight}%`)}` });
  }
  if (limits.maxAnalysisInterval !== undefined && spec.analysisIntervalMs > limits.maxAnalysisInterval) {
    issues.push({ path: 'analysisInterval', message: `${formatDuration(spec.analysisIntervalMs)} is too long; ${limit('maxAnalysisInterval', formatDuration(limits.maxAnalysisInterval))}` });
  }
  if (limits.maxErrorRate !== undefined) {
    if (spec.validation.errorRate.critical > limits.maxErrorRate) {
      issues.push({ path: 'validation.error_rate.critical', message: `${pct(spec.validation.errorRate.critical)} is too loose; ${limit('maxErrorRate', pct(limits.maxErrorRate))}` });
    }
    if (spec.fullRollout.maxErrorRate > limits.maxErrorRate) {
      issues.push({ path: 'trafficControl.phases.full_rollout.maxErrorRate', message: `${pct(spec.fullRollout.maxErrorRate)} is too loose; ${limit('maxErrorRate', pct(limits.maxErrorRate))}` });
    }
    spec.rollbackTriggers.forEach((t, i) => {
      const loosens = (t.op === '>' || t.op === '>=') && t.threshold > limits.maxErrorRate!;
      if (t.metric === 'error_rate' && loosens) {
        issues.push({ path: `rollback_triggers[${i}]`, message: `"${t.condition}" is too loose; ${limit('maxErrorRate', pct(limits.maxErrorRate!))}` });
      }
    });
  }
  if (limits.requireTriggers && spec.rollbackTriggers.length === 0) {
    issues.push({ path: 'rollback_triggers', message: `must not be empty; the catalog requires rollback triggers for service ${service}` });
  }
  return issues;
}

function pct(fraction: number): string {
  return `${Number((fraction * 100).toPrecision(6))}%`;
}
